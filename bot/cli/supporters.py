"""`sto supporters`: the team's people, their absences with a stand-in, and who fits a request."""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from bot.cli.context import ctx_of
from bot.cli.output import table, to_json
from bot.cli.requests import parse_date
from bot.render import default_renderer
from models import requests as rq
from models import supporters as sp
from models.db import reading, transaction
from models.tables import Supporter
from scheduling import ranking
from scheduling.calendar import WorkingCalendar, load_calendar
from scheduling.supporters import capacity, register_absence

LOOK_AHEAD = timedelta(weeks=4)  # "free days" in the list: the next four weeks


def sh(key: str) -> str:
    """A help text from templates/<lang>/supporters.j2 (STO_LANGUAGE, as `h` does)."""
    return default_renderer().render(f"supporters.help_{key}", os.environ.get("STO_LANGUAGE", "nl"))


app = typer.Typer(no_args_is_help=True, help=sh("supporters"))
Email = Annotated[str, typer.Argument(help=sh("email"))]
Json = Annotated[bool, typer.Option("--json", help=sh("json"))]


def describe(
    session: Session, s: Supporter, today: date, calendar: WorkingCalendar
) -> dict[str, Any]:
    assert s.id is not None
    free = capacity(session, s, today, today + LOOK_AHEAD - timedelta(days=1), calendar=calendar)
    coming = sp.absences(session, supporter_id=s.id, since=today)
    return {
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "role": s.role,
        "active": s.active,
        "themes": sp.themes_of(s),
        "working_days": [d for d in s.working_days.split(";") if d],
        "max_days_per_month": s.max_days_per_month,
        "max_visits_per_day": s.max_visits_per_day,
        "max_visits_per_week": s.max_visits_per_week,
        "slack_user_id": s.slack_user_id,
        "language": s.language,
        "critical_friend_of": sp.critical_friend_regions(session, s.id),
        "free_days": free.free_days,
        "open_requests": sp.open_assignments(session, [s.id]).get(s.id, 0),
        "absences": [sp.describe_absence(session, a) for a in coming],
    }


@app.command("list", help=sh("list"))
def list_supporters(ctx: typer.Context, as_json: Json = False) -> None:
    cli = ctx_of(ctx)
    today = cli.today
    with reading(cli.engine) as session:
        cal = load_calendar(session)
        everyone = session.exec(select(Supporter).order_by(col(Supporter.name))).all()
        rows = [describe(session, s, today, cal) for s in everyone]
    if as_json:
        cli.write(to_json(rows))
        return
    t = table(
        [
            cli.t(f"supporters.header_{k}")
            for k in ("name", "email", "role", "days", "free", "open", "absent")
        ],
        right=(4, 5),
    )
    for row in rows:
        away = row["absences"][0] if row["absences"] else None
        t.add_row(
            row["name"],
            row["email"],
            cli.t("supporters.role", value=row["role"]),
            ";".join(row["working_days"]),
            str(row["free_days"]),
            str(row["open_requests"]),
            cli.t("supporters.absent_from", starts_on=away["starts_on"], ends_on=away["ends_on"])
            if away
            else "",
        )
    cli.out.print(t)
    cli.out.print(cli.t("supporters.supporter_count", count=len(rows)))


@app.command("show", help=sh("show"))
def show(ctx: typer.Context, email: Email, as_json: Json = False) -> None:
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        s = sp.find_supporter(session, email)
        data = describe(session, s, cli.today, load_calendar(session))
        data["requests"] = [
            {k: d[k] for k in ("ref", "region", "status", "dates")}
            for d in (rq.describe(session, r) for r in rq.open_requests(session, supporter_id=s.id))
        ]
    if as_json:
        cli.write(to_json(data))
        return
    cli.out.print(cli.t("supporters.detail", s=data), markup=False)


@app.command("absent", help=sh("absent"))
def absent(
    ctx: typer.Context,
    email: Email,
    start: Annotated[str, typer.Option("--from", help=sh("from"))],
    end: Annotated[str, typer.Option("--to", help=sh("to"))],
    stand_in: Annotated[str | None, typer.Option("--stand-in", help=sh("stand_in"))] = None,
    reason: Annotated[str, typer.Option("--reason", help=sh("reason"))] = "",
) -> None:
    cli = ctx_of(ctx)
    first, last = parse_date(cli, start), parse_date(cli, end)
    with transaction(cli.engine) as session:
        result = register_absence(
            session, email, first, last, stand_in, reason, cli.actor, cli.clock.now()
        )
        data = sp.describe_absence(session, result.absence)
    cli.out.print(
        cli.t(
            "supporters.absent_done",
            a=data,
            handed_over=result.handed_over,
            uncovered=result.uncovered,
            visits=result.visits,
        ),
        markup=False,
    )


@app.command("absences", help=sh("absences"))
def list_absences(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option("--all", help=sh("all"))] = False,
    as_json: Json = False,
) -> None:
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        found = sp.absences(session, since=None if everything else cli.today)
        rows = [sp.describe_absence(session, a) for a in found]
    if as_json:
        cli.write(to_json(rows))
        return
    t = table(
        [
            cli.t(f"supporters.header_{k}")
            for k in ("nr", "name", "from", "to", "stand_in", "reason")
        ],
        right=(0,),
    )
    for row in rows:
        t.add_row(
            str(row["id"]),
            row["supporter_name"],
            row["starts_on"].isoformat(),
            row["ends_on"].isoformat(),
            row["stand_in_name"] or "",
            row["reason"],
        )
    cli.out.print(t)
    cli.out.print(cli.t("supporters.absence_count", count=len(rows)))


@app.command("present", help=sh("present"))
def present(
    ctx: typer.Context, absence: Annotated[str, typer.Argument(help=sh("absence_id"))]
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        # Described before it goes: afterwards the row is gone.
        data = sp.describe_absence(session, sp.get_absence(session, absence))
        sp.remove_absence(session, absence, cli.actor, cli.clock.now())
    cli.out.print(cli.t("supporters.present_done", a=data), markup=False)


@app.command("rank", help=sh("rank"))
def rank(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help=sh("ref"))],
    as_json: Json = False,
) -> None:
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        request = rq.get_request(session, ref)
        start, end = ranking.window(session, request, cli.today)
        found = ranking.rank(session, request, cli.today)
        data = rq.describe(session, request)
    needed = found[0].needed_days if found else 0
    if as_json:
        cli.write(
            to_json(
                {
                    "ref": data["ref"],
                    "region": data["region"],
                    "theme": data["theme"],
                    "start": start,
                    "end": end,
                    "needed_days": needed,
                    "candidates": [c.as_dict() for c in found],
                }
            )
        )
        return
    if not found:
        cli.fail("supporters.no_candidates")
    cli.out.print(
        cli.t(
            "supporters.rank_header",
            ref=data["ref"],
            region_name=data["region_name"],
            theme=data["theme"],
            start=start,
            end=end,
            needed=needed,
        ),
        markup=False,
    )
    t = table([cli.t(f"supporters.header_{k}") for k in ("nr", "name", "email", "why")], right=(0,))
    for place, c in enumerate(found, start=1):
        t.add_row(
            str(place), c.name, c.email, cli.t("supporters.reasons", items=c.reasons, dated=False)
        )
    cli.out.print(t)
