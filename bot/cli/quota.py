"""`sto quota`: balances per region, and adjustments by the team."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bot.cli.context import ctx_of
from bot.cli.output import pick_format, table, to_csv, to_json
from models import ledger
from models.db import transaction
from models.periods import resolve_period
from models.quantity import from_units, to_units
from models.quota import QuotaLine, overview
from models.regions import get_region
from models.types import AllowanceKind

LOW_UNITS = {AllowanceKind.support_days: 3, AllowanceKind.cf_visits: 1}
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


def is_low(line: QuotaLine) -> bool:
    """Low: at most 1,5 day (or 1 visit) left, or less than a fifth of what was granted."""
    b = line.balance
    floor = LOW_UNITS[b.kind]
    return b.granted > 0 and (b.available <= floor or b.available * 5 < b.granted)


@app.command("show")
def show(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Argument(help="Regiocode, bijv. ZEELAND")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Periode, bijv. 2027")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON voor scripts")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV voor spreadsheets")] = False,
) -> None:
    """Saldo per regio: toegekend, gereserveerd, gebruikt, beschikbaar."""
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
    t = table([cli.t(f"cli.quota_header_{f}") for f in JSON_FIELDS], right=(4, 5, 6, 7))
    for line, row in zip(lines, rows, strict=True):
        low = is_low(line)
        cells = [
            row["region"],
            row["name"],
            row["period"],
            cli.t("labels.allowance", value=row["kind"]),
            *(
                cli.renderer.render("cli.number", cli.language, value=row[f])
                for f in ("granted", "reserved", "used", "available")
            ),
        ]
        t.add_row(*cells, style="bold red" if low else None)
    cli.out.print(t)
    cli.out.print(cli.t("cli.quota_legend", count=len(lines), low=sum(map(is_low, lines))))


@app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(help="Regiocode")],
    amount: Annotated[str, typer.Argument(help="Dagen erbij (2) of eraf (-1,5)")],
    reason: Annotated[str, typer.Option("--reason", help="Waarom (verplicht)")],
    period: Annotated[str | None, typer.Option("--period")] = None,
    visits: Annotated[bool, typer.Option("--visits", help="Bezoeken i.p.v. dagen")] = False,
) -> None:
    """Ken dagen toe of neem ze terug, nooit onder wat gereserveerd en gebruikt is."""
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
