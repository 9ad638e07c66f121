"""Running `sto` in-process, as a person would type it, with a clock the test controls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.cli import main
from models.clock import FixedClock


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Sto:
    def __init__(
        self,
        engine: Engine,
        capsys: pytest.CaptureFixture[str],
        mp: pytest.MonkeyPatch,
        now: datetime,
    ) -> None:
        self.capsys = capsys
        self.clock = FixedClock(now)
        mp.setenv("STO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        mp.setenv("COLUMNS", "200")  # rich wraps tables to the terminal width

    def __call__(self, *argv: str) -> Result:
        self.capsys.readouterr()
        try:
            main(list(argv), clock=self.clock)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)
