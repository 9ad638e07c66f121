"""Output for people (rich tables) and for scripts (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.table import Table

from bot.cli.context import CliContext
from models.quantity import json_number


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), ensure_ascii=False, indent=2) + "\n"


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in _plain(row).items()})
    return buffer.getvalue()


def pick_format(cli: CliContext, as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        cli.fail("errors.choose_one_format", code=2)
    return "json" if as_json else "csv" if as_csv else "table"


def table(headers: Sequence[str], right: Sequence[int] = ()) -> Table:
    t = Table(show_edge=False, header_style="bold", pad_edge=False)
    for index, header in enumerate(headers):
        # Headers never shrink to "Beschik…": numbers are narrow, names give way.
        t.add_column(header, justify="right" if index in right else "left", min_width=len(header))
    return t
