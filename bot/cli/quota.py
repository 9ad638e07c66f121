"""`sto quota`: balances per region, and adjustments by the team."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bot.cli.context import ctx_of, h
from bot.cli.output import pick_format, table, to_csv, to_json
from models import ledger
from models.db import transaction
from models.periods import resolve_period
from models.quantity import from_units, to_units
from models.quota import QuotaLine, is_low, overview
from models.regions import get_region
from models.types import AllowanceKind

JSON_FIELDS = ("region", "name", "period", "kind", "granted", "reserved", "used", "available")


class DefaultShow(TyperGroup):
    """`sto quota [REGION]` shows; `sto quota adjust …` adjusts."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=DefaultShow, no_args_is_help=False)


def _row(line: QuotaLine) -> dict[str, Any]:
    b = line.balance
    return {
        "region": line.region.code,
        "name": line.region.name,
        "period": line.period.code,
        "kind": b.kind.value,
        "granted": b.amount("granted"),
        "reserved": b.amount("reserved"),
        "used": b.amount("used"),
        "available": b.amount("available"),
    }


@app.command("show", help=h("quota_show"))
def show(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Argument(help=h("region_code"))] = None,
    period: Annotated[str | None, typer.Option("--period", help=h("period"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=h("json"))] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help=h("csv"))] = False,
) -> None:
    """Balance per region: granted, reserved, used, available."""
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    with transaction(cli.engine) as session:
        per = resolve_period(session, period, cli.today)
        reg = get_region(session, region) if region else None
        lines = overview(session, per, reg)
    rows = [_row(line) for line in lines]
    if fmt == "json":
        cli.write(to_json(rows))
        return
    if fmt == "csv":
        cli.write(to_csv(rows, JSON_FIELDS))
        return
    columns = ("region", "name", "kind", "granted", "reserved", "used", "available")
    t = table([cli.t(f"cli.quota_header_{f}") for f in columns], right=(3, 4, 5, 6))
    t.title = cli.t("cli.quota_title", period=per.code)
    t.columns[0].no_wrap = True
    t.columns[1].overflow = "ellipsis"
    t.columns[1].no_wrap = True
    t.columns[1].max_width = 26
    t.columns[2].min_width = 8
    for line, row in zip(lines, rows, strict=True):
        t.add_row(
            row["region"],
            row["name"],
            cli.t("labels.allowance_short", value=row["kind"]),
            *(cli.t("cli.number", value=row[f]) for f in columns[3:]),
            style="bold red" if is_low(line) else None,
        )
    cli.out.print(t)
    cli.out.print(cli.t("cli.quota_legend", count=len(lines), low=sum(map(is_low, lines))))


@app.command("adjust", context_settings={"ignore_unknown_options": True}, help=h("quota_adjust"))
def adjust(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(help=h("region_code"))],
    amount: Annotated[str, typer.Argument(help=h("adjust_amount"))],
    reason: Annotated[str, typer.Option("--reason", help=h("reason_required"))],
    period: Annotated[str | None, typer.Option("--period")] = None,
    visits: Annotated[bool, typer.Option("--visits", help=h("visits"))] = False,
) -> None:
    """Grant days or take them back, never below what is reserved and used."""
    cli = ctx_of(ctx)
    kind = AllowanceKind.cf_visits if visits else AllowanceKind.support_days
    if not reason.strip():
        cli.fail("errors.invalid_request", field="reason", problem="required", value="")
    units = to_units(amount, kind, allow_negative=True)
    now = cli.clock.now()
    with transaction(cli.engine) as session:
        per = resolve_period(session, period, cli.today)
        reg = get_region(session, region)
        allowance = ledger.find_allowance(session, reg, per, kind, lock=True)
        assert allowance.id is not None
        ledger.adjust(session, allowance.id, units, cli.actor, now, reason=reason.strip())
        balance = ledger.balance_of(session, allowance)
    cli.out.print(
        cli.t(
            "cli.adjusted",
            region=reg.code,
            period=per.code,
            kind=kind.value,
            change=from_units(units, kind),
            available=balance.amount("available"),
        ),
        markup=False,
    )
