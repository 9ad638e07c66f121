"""`sto visits`: plan a year of critical-friend visits, send the proposals, follow them."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any

import typer
from sqlmodel import Session, select

from bot.cli.context import CliContext, ctx_of
from bot.cli.output import pick_format, table, to_csv, to_json
from bot.render import default_renderer
from models import visits as vs
from models.db import reading, transaction
from models.errors import UnknownRegion
from models.periods import resolve_period
from models.tables import Period, Region, Supporter
from scheduling import planner

PLAN_FIELDS = (
    "status",
    "region",
    "region_name",
    "supporter",
    "supporter_email",
    "number",
    "day",
    "target",
    "window_from",
    "window_to",
    "option_2",
    "option_3",
    "reason",
)
LIST_FIELDS = (
    "id",
    "region",
    "region_name",
    "supporter",
    "supporter_email",
    "period",
    "number",
    "status",
    "day",
    "starts_at",
    "ends_at",
    "timezone",
    "window_from",
    "window_to",
    "proposal",
    "slots",
)


def vh(key: str) -> str:
    """A help text from templates/<lang>/visits.j2 (STO_LANGUAGE, as `h` does)."""
    return default_renderer().render(f"visits.help_{key}", os.environ.get("STO_LANGUAGE", "nl"))


app = typer.Typer(no_args_is_help=True, help=vh("visits"))
PeriodOpt = Annotated[str | None, typer.Option("--period", help=vh("period"))]
JsonOpt = Annotated[bool, typer.Option("--json")]
CsvOpt = Annotated[bool, typer.Option("--csv")]


def _names(session: Session) -> tuple[dict[int, Region], dict[int, Supporter]]:
    regions = {r.id: r for r in session.exec(select(Region)).all() if r.id is not None}
    supporters = {s.id: s for s in session.exec(select(Supporter)).all() if s.id is not None}
    return regions, supporters


def _plan_rows(
    result: planner.Plan, regions: dict[int, Region], supporters: dict[int, Supporter]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for v in result.visits:
        s = supporters[v.supporter_id]
        options = [*v.options[1:], None, None]
        rows.append(
            {
                "status": "planned",
                "region": v.region,
                "region_name": regions[v.region_id].name,
                "supporter": s.name,
                "supporter_email": s.email,
                "number": v.number,
                "day": v.day,
                "target": v.target,
                "window_from": v.window_from,
                "window_to": v.window_to,
                "option_2": options[0],
                "option_3": options[1],
                "reason": "",
            }
        )
    for u in result.unplaced:
        region = regions[u.region_id]
        s_id = region.critical_friend_id
        s2 = supporters.get(s_id) if s_id is not None else None
        rows.append(
            {
                "status": "unplaced",
                "region": u.region,
                "region_name": region.name,
                "supporter": s2.name if s2 else "",
                "supporter_email": s2.email if s2 else "",
                "number": u.number,
                "day": None,
                "target": u.target,
                "window_from": u.window_from,
                "window_to": u.window_to,
                "option_2": None,
                "option_3": None,
                "reason": u.reason,
            }
        )
    return rows


def _summary(cli: CliContext, period: str, result: planner.Plan) -> str:
    e = result.evenness
    return cli.t(
        "visits.plan_summary",
        period=period,
        visits=len(result.visits),
        unplaced=len(result.unplaced),
        regions=len({v.region for v in result.visits}),
        mean_offset=e.mean_offset,
        max_offset=e.max_offset,
        ideal_gap=e.ideal_gap,
        mean_gap_deviation=e.mean_gap_deviation,
        max_gap_deviation=e.max_gap_deviation,
    )


def _print_plan(
    cli: CliContext, period: str, result: planner.Plan, rows: list[dict[str, Any]]
) -> None:
    by_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] == "planned":
            by_region[row["region"]].append(row)
    t = table([cli.t("visits.col", name=n) for n in ("region", "name", "supporter", "dates")])
    for code in sorted(by_region):
        planned = by_region[code]
        dates = ", ".join(cli.t("visits.short_date", day=r["day"]) for r in planned)
        t.add_row(code, planned[0]["region_name"], planned[0]["supporter"], dates)
    cli.out.print(t)
    for u in result.unplaced:
        cli.out.print(
            cli.t(
                "visits.unplaced_line",
                region=u.region,
                number=u.number,
                window_from=u.window_from,
                window_to=u.window_to,
                reason=u.reason,
            ),
            markup=False,
        )
    cli.out.print(_summary(cli, period, result), markup=False)


@app.command("plan", help=vh("plan"))
def plan_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    region: Annotated[list[str] | None, typer.Option("--region", help=vh("region"))] = None,
    apply: Annotated[bool, typer.Option("--apply", help=vh("apply"))] = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    codes = {c.strip().upper() for c in region} if region else None
    opener = transaction if apply else reading
    with opener(cli.engine) as session:
        found = resolve_period(session, period, cli.today)
        if codes:
            known = set(session.exec(select(Region.code)).all())
            for code in sorted(codes - known):
                raise UnknownRegion(code)
        tomorrow = cli.today + timedelta(days=1)
        inputs = planner.load_plan_input(session, found, codes, earliest=tomorrow)
        result = planner.plan(inputs)
        regions, supporters = _names(session)
        rows = _plan_rows(result, regions, supporters)
        proposals = []
        unreachable: list[str] = []
        if apply:
            proposals = vs.apply_plan(
                session, found, _new_visits(result), cli.actor, cli.clock.now()
            )
            unreachable = sorted(
                {v.region for v in result.visits if not vs.region_contacts(session, v.region_id)}
            )
        code = found.code
    if fmt == "json":
        e = result.evenness
        cli.write(
            to_json(
                {
                    "period": code,
                    "visits": [r for r in rows if r["status"] == "planned"],
                    "unplaced": [r for r in rows if r["status"] == "unplaced"],
                    "evenness": {
                        "visits": e.visits,
                        "mean_offset": round(e.mean_offset, 2),
                        "max_offset": e.max_offset,
                        "ideal_gap": round(e.ideal_gap, 2),
                        "mean_gap_deviation": round(e.mean_gap_deviation, 2),
                        "max_gap_deviation": round(e.max_gap_deviation, 2),
                    },
                    "proposals_sent": len(proposals),
                    "regions_without_contact": unreachable,
                }
            )
        )
        return
    if fmt == "csv":
        cli.write(to_csv(rows, PLAN_FIELDS))
        return
    if not rows:
        cli.out.print(cli.t("visits.nothing_to_plan", period=code), markup=False)
        return
    _print_plan(cli, code, result, rows)
    if apply:
        cli.out.print(cli.t("visits.applied", count=len(proposals)), markup=False)
        if unreachable:
            cli.err.print(cli.t("visits.no_contacts", regions=unreachable), markup=False)


def _new_visits(result: planner.Plan) -> list[vs.NewVisit]:
    return [
        vs.NewVisit(
            region_id=v.region_id,
            supporter_id=v.supporter_id,
            number=v.number,
            window_from=v.window_from,
            window_to=v.window_to,
            options=v.options,
        )
        for v in result.visits
    ]


def _region_id(session: Session, code: str) -> int:
    found = session.exec(select(Region).where(Region.code == code.strip().upper())).first()
    if found is None or found.id is None:
        raise UnknownRegion(code)
    return found.id


@app.command("list", help=vh("list"))
def list_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    region: Annotated[str | None, typer.Option("--region", help=vh("region"))] = None,
    status: Annotated[str | None, typer.Option("--status", help=vh("status"))] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    if status is not None and status not in {s.value for s in vs.VisitStatus}:
        cli.fail("visits.help_status", code=2)
    with reading(cli.engine) as session:
        period_id = None
        if period is not None:
            found: Period = resolve_period(session, period, cli.today)
            period_id = found.id
        rows = [
            vs.describe(session, v)
            for v in vs.list_visits(
                session,
                period_id=period_id,
                region_id=_region_id(session, region) if region else None,
                status=status,
            )
        ]
    if fmt == "json":
        cli.write(to_json(rows))
        return
    if fmt == "csv":
        cli.write(
            to_csv(
                [{**r, "slots": ";".join(str(d) for d in r["slots"])} for r in rows], LIST_FIELDS
            )
        )
        return
    if not rows:
        cli.out.print(cli.t("visits.no_visits"), markup=False)
        return
    headers = ("id", "region", "supporter", "number", "status", "day", "proposal", "slots")
    t = table([cli.t("visits.col", name=n) for n in headers], right=(0, 3))
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["region"],
            r["supporter"],
            str(r["number"]),
            cli.t("visits.status", value=r["status"]),
            cli.t("visits.short_date", day=r["day"]),
            str(r["proposal"] or ""),
            ", ".join(
                f"{n}. {cli.t('visits.short_date', day=d)}" for n, d in enumerate(r["slots"], 1)
            ),
        )
    cli.out.print(t)


ProposalArg = Annotated[int, typer.Argument(help=vh("proposal"))]
VisitArg = Annotated[int, typer.Argument(help=vh("visit"))]


@app.command("choose", help=vh("choose"))
def choose_cmd(
    ctx: typer.Context,
    proposal: ProposalArg,
    option: Annotated[int, typer.Argument(help=vh("option"))],
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        visit = vs.choose_slot(session, proposal, option, cli.actor, cli.clock.now())
        data = vs.describe(session, visit)
    cli.out.print(
        cli.t("visits.chosen", id=data["id"], region=data["region"], day=data["day"]), markup=False
    )


@app.command("decline", help=vh("decline"))
def decline_cmd(ctx: typer.Context, proposal: ProposalArg) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        visit_id = vs.get_proposal(session, proposal).visit_id
        new = vs.decline(session, proposal, cli.actor, cli.clock.now(), planner.find_slots)
        new_id = new.id if new else None
    cli.out.print(cli.t("visits.declined", id=visit_id, proposal=new_id), markup=False)


@app.command("cancel", help=vh("cancel"))
def cancel_cmd(
    ctx: typer.Context,
    visit: VisitArg,
    reason: Annotated[str, typer.Option("--reason", help=vh("reason"))] = "",
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        done = vs.cancel_visit(session, visit, cli.actor, cli.clock.now(), reason=reason)
        data = vs.describe(session, done)
    cli.out.print(cli.t("visits.cancelled", id=data["id"], region=data["region"]), markup=False)


@app.command("confirm", help=vh("confirm"))
def confirm_cmd(
    ctx: typer.Context,
    visit: VisitArg,
    not_held: Annotated[bool, typer.Option("--not-held", help=vh("not_held"))] = False,
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        done = vs.confirm_visit(session, visit, cli.actor, cli.clock.now(), took_place=not not_held)
        data = vs.describe(session, done)
    cli.out.print(
        cli.t("visits.confirmed", id=data["id"], region=data["region"], status=data["status"]),
        markup=False,
    )
