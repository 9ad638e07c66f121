"""`sto meetings`: create, change, announce and cancel theme meetings; people and attendance."""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, time
from typing import Annotated, Any

import typer
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.cli.context import CliContext, ctx_of
from bot.cli.output import pick_format, table, to_csv, to_json
from bot.render import default_renderer
from models import announcements, meeting_report
from models import meetings as mt
from models.db import reading, transaction
from models.periods import get_period
from models.tables import Contact, Region, RegionContact, Registration, ThemeMeeting
from models.types import Channel

ATTENDEE_FIELDS = ("code", "name", "email", "region", "status", "channel", "registered_at")
ATTENDEE_FIELDS_FULL = (*ATTENDEE_FIELDS, "attended")
MEETING_FIELDS = (
    "code",
    "title",
    "theme",
    "starts_at",
    "ends_at",
    "timezone",
    "location",
    "online_url",
    "capacity",
    "registered",
    "seats_left",
    "waitlisted",
    "registration_deadline",
    "max_per_region",
    "status",
    "sequence",
)
REGION_FIELDS = ("region", "name", "meetings", "registrations", "waitlisted", "attended")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d-%m-%Y %H:%M")


def mh(key: str) -> str:
    """A help text from templates/<lang>/meetings.j2 (STO_LANGUAGE, as `h` does)."""
    return default_renderer().render(f"meetings.help_{key}", os.environ.get("STO_LANGUAGE", "nl"))


app = typer.Typer(no_args_is_help=True, help=mh("meetings"))
Code = Annotated[str, typer.Argument(help=mh("code"))]


def parse_when(cli: CliContext, text: str, tz: str, *, end_of_day: bool = False) -> datetime:
    """ "2027-03-02 10:00" in the meeting's zone; a bare date means the end of that day."""
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        cli.fail("meetings.invalid_meeting", code=2, field="timezone", problem="unknown", value=tz)
    value = text.strip()
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    if end_of_day:
        for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
            try:
                day = datetime.strptime(value, fmt).date()  # noqa: DTZ007 (a calendar date)
            except ValueError:
                continue
            return datetime.combine(day, time(23, 59), tzinfo=zone)
    cli.fail("meetings.invalid_datetime", code=2, value=text)


def describe(session: Session, m: ThemeMeeting) -> dict[str, Any]:
    registered = len(mt.attendees(session, m.code))
    waiting = len(mt.waitlist(session, m.code))
    return {
        "code": m.code,
        "title": m.title,
        "theme": m.theme,
        "description": m.description,
        "starts_at": m.starts_at,
        "ends_at": m.ends_at,
        "timezone": m.timezone,
        "location": m.location,
        "online_url": m.online_url,
        "capacity": m.capacity,
        "registered": registered,
        "seats_left": max(0, m.capacity - registered),
        "waitlisted": waiting,
        "registration_deadline": m.registration_deadline,
        "max_per_region": m.max_per_region,
        "new_regions_first": m.new_regions_first,
        "status": m.status,
        "sequence": m.sequence,
    }


def describe_registration(session: Session, code: str, r: Registration) -> dict[str, Any]:
    region = session.get(Region, r.region_id) if r.region_id is not None else None
    return {
        "code": code,
        "name": r.name,
        "email": r.email,
        "region": region.code if region else "",
        "status": r.status,
        "channel": r.channel,
        "registered_at": r.created_at,
        "attended": r.attended,
    }


@app.command("create", help=mh("create"))
def create(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title")],
    start: Annotated[str, typer.Option("--start", help=mh("start"))],
    end: Annotated[str, typer.Option("--end", help=mh("end"))],
    deadline: Annotated[str, typer.Option("--deadline", help=mh("deadline"))],
    capacity: Annotated[int, typer.Option("--capacity", help=mh("capacity"))],
    location: Annotated[str, typer.Option("--location")] = "",
    online_url: Annotated[str, typer.Option("--online-url")] = "",
    theme: Annotated[str, typer.Option("--theme")] = "",
    description: Annotated[str, typer.Option("--description")] = "",
    timezone: Annotated[str | None, typer.Option("--timezone", help=mh("timezone"))] = None,
    max_per_region: Annotated[
        int | None, typer.Option("--max-per-region", help=mh("max_per_region"))
    ] = None,
    new_regions_first: Annotated[
        bool, typer.Option("--new-regions-first/--fifo", help=mh("new_regions_first"))
    ] = False,
) -> None:
    cli = ctx_of(ctx)
    tz = timezone or cli.settings.timezone
    with transaction(cli.engine) as session:
        meeting = mt.create_meeting(
            session,
            title=title,
            theme=theme,
            description=description,
            starts_at=parse_when(cli, start, tz),
            ends_at=parse_when(cli, end, tz),
            timezone=tz,
            location=location,
            online_url=online_url,
            capacity=capacity,
            registration_deadline=parse_when(cli, deadline, tz, end_of_day=True),
            max_per_region=max_per_region,
            new_regions_first=new_regions_first,
            by=cli.actor,
            now=cli.clock.now(),
        )
        data = describe(session, meeting)
    cli.out.print(cli.t("meetings.created", m=data), markup=False)


@app.command("edit", help=mh("edit"))
def edit(
    ctx: typer.Context,
    code: Code,
    title: Annotated[str | None, typer.Option("--title")] = None,
    start: Annotated[str | None, typer.Option("--start", help=mh("start"))] = None,
    end: Annotated[str | None, typer.Option("--end", help=mh("end"))] = None,
    deadline: Annotated[str | None, typer.Option("--deadline", help=mh("deadline"))] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", help=mh("capacity"))] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    online_url: Annotated[str | None, typer.Option("--online-url")] = None,
    theme: Annotated[str | None, typer.Option("--theme")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help=mh("timezone"))] = None,
    max_per_region: Annotated[
        int | None, typer.Option("--max-per-region", help=mh("max_per_region"))
    ] = None,
    new_regions_first: Annotated[
        bool | None, typer.Option("--new-regions-first/--fifo", help=mh("new_regions_first"))
    ] = None,
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        tz = timezone or mt.get_meeting(session, code).timezone
        changes: dict[str, Any] = {
            "title": title,
            "theme": theme,
            "description": description,
            "location": location,
            "online_url": online_url,
            "capacity": capacity,
            "max_per_region": max_per_region,
            "new_regions_first": new_regions_first,
            "timezone": timezone,
            "starts_at": parse_when(cli, start, tz) if start else None,
            "ends_at": parse_when(cli, end, tz) if end else None,
            "registration_deadline": (
                parse_when(cli, deadline, tz, end_of_day=True) if deadline else None
            ),
        }
        before = describe(session, mt.get_meeting(session, code))
        meeting = mt.edit_meeting(
            session,
            code,
            by=cli.actor,
            now=cli.clock.now(),
            **{k: v for k, v in changes.items() if v is not None},
        )
        data = describe(session, meeting)
    if data["sequence"] != before["sequence"]:
        key = "meetings.changed"
    elif data != before:
        key = "meetings.changed_quietly"  # only the team's own options
    else:
        key = "meetings.unchanged"
    cli.out.print(cli.t(key, m=data), markup=False)


@app.command("cancel", help=mh("cancel"))
def cancel(ctx: typer.Context, code: Code) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        meeting = mt.cancel_meeting(session, code, by=cli.actor, now=cli.clock.now())
        data = describe(session, meeting)
    cli.out.print(cli.t("meetings.cancelled", m=data), markup=False)


@app.command("list", help=mh("list"))
def list_meetings(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help=mh("all"))] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    with reading(cli.engine) as session:
        found = mt.list_meetings(
            session, now=None if show_all else cli.clock.now(), include_cancelled=show_all
        )
        rows = [describe(session, m) for m in found]
    if fmt == "json":
        cli.write(to_json(rows))
    elif fmt == "csv":
        cli.write(to_csv(rows, MEETING_FIELDS))
    else:
        heads = ("code", "title", "starts", "seats", "waiting", "status")
        t = table([cli.t(f"meetings.header_{k}") for k in heads], right=(3, 4))
        for r in rows:
            t.add_row(
                r["code"],
                r["title"],
                cli.t("meetings.when", at=r["starts_at"], tz=r["timezone"]),
                str(r["seats_left"]),
                str(r["waitlisted"]),
                cli.t("meetings.status", value=r["status"]),
            )
        cli.out.print(t)
        cli.out.print(cli.t("meetings.meeting_count", count=len(rows)), markup=False)


@app.command("show", help=mh("show"))
def show(
    ctx: typer.Context, code: Code, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        meeting = mt.get_meeting(session, code)
        data = describe(session, meeting)
        people = [
            describe_registration(session, meeting.code, r)
            for r in [*mt.attendees(session, code), *mt.waitlist(session, code)]
        ]
        regions = [c.__dict__ for c in meeting_report.counts(session, meeting=meeting)]
    if as_json:
        cli.write(to_json({**data, "registrations": people, "regions": regions}))
        return
    cli.out.print(
        cli.t(
            "meetings.detail",
            m=data,
            registered=data["registered"],
            waiting=data["waitlisted"],
            seats_left=data["seats_left"],
        ),
        markup=False,
    )
    _people_table(cli, people)
    if regions:
        _regions_table(cli, regions)


def _regions_table(cli: CliContext, regions: list[dict[str, Any]]) -> None:
    heads = ("region", "region_name", "meetings", "registered", "waiting", "attended_count")
    t = table([cli.t(f"meetings.header_{k}") for k in heads], right=(2, 3, 4, 5))
    for r in regions:
        t.add_row(
            r["region"] or cli.t("meetings.no_region"),
            r["name"],
            str(r["meetings"]),
            str(r["registrations"]),
            str(r["waitlisted"]),
            str(r["attended"]),
        )
    cli.out.print(t)


def _people_table(cli: CliContext, people: list[dict[str, Any]]) -> None:
    heads = ("name", "email", "region", "status", "attended")
    t = table([cli.t(f"meetings.header_{k}") for k in heads])
    for p in people:
        t.add_row(
            p["name"],
            p["email"],
            p["region"],
            cli.t("meetings.status", value=p["status"]),
            cli.t("meetings.attended", value=p["attended"]),
        )
    cli.out.print(t)


@app.command("attendees", help=mh("attendees"))
def attendees(
    ctx: typer.Context,
    code: Code,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    with reading(cli.engine) as session:
        meeting = mt.get_meeting(session, code)
        people = [
            describe_registration(session, meeting.code, r) for r in mt.attendees(session, code)
        ]
    if fmt == "json":
        cli.write(to_json(people))
    elif fmt == "csv":
        cli.write(to_csv(people, ATTENDEE_FIELDS_FULL))
    else:
        _people_table(cli, people)
        cli.out.print(cli.t("meetings.attendee_count", count=len(people)), markup=False)


@app.command("attend", help=mh("attend"))
def attend(
    ctx: typer.Context,
    code: Code,
    email: Annotated[str, typer.Argument(help=mh("email"))],
    absent: Annotated[bool, typer.Option("--absent", help=mh("absent"))] = False,
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        reg = mt.mark_attended(
            session, code, email, attended=not absent, by=cli.actor, now=cli.clock.now()
        )
        meeting_code = mt.get_meeting(session, code).code
    cli.out.print(
        cli.t("meetings.marked", code=meeting_code, email=reg.email, attended=not absent),
        markup=False,
    )


@app.command("promote", help=mh("promote"))
def promote(ctx: typer.Context, code: Code) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        promoted = mt.promote_next(session, code, by=cli.actor, now=cli.clock.now())
        meeting_code = mt.get_meeting(session, code).code
    cli.out.print(cli.t("meetings.promoted", code=meeting_code, count=len(promoted)), markup=False)


@app.command("regions", help=mh("regions"))
def regions(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help=mh("period"))] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Per region: registrations and attendance over all meetings (or those of a period)."""
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    with reading(cli.engine) as session:
        per = get_period(session, period) if period else None
        rows = [
            c.__dict__
            for c in meeting_report.counts(
                session, period=per, timezone=cli.settings.timezone, every_region=True
            )
        ]
    if fmt == "json":
        cli.write(to_json(rows))
    elif fmt == "csv":
        cli.write(to_csv(rows, REGION_FIELDS))
    else:
        _regions_table(cli, rows)


def _contact(session: Session, email: str) -> Contact | None:
    return session.exec(
        select(Contact).where(func.lower(Contact.email) == mt.normalise_email(email))
    ).first()


def _only_region(session: Session, contact: Contact | None) -> str | None:
    """The region of a contact who has exactly one; otherwise the team names it."""
    if contact is None:
        return None
    codes = session.exec(
        select(Region.code)
        .join(RegionContact, col(RegionContact.region_id) == Region.id)
        .where(RegionContact.contact_id == contact.id)
    ).all()
    return codes[0] if len(codes) == 1 else None


@app.command("register", help=mh("register"))
def register(
    ctx: typer.Context,
    code: Code,
    name: Annotated[str, typer.Option("--name", help=mh("name"))],
    email: Annotated[str, typer.Option("--email", help=mh("email"))],
    region: Annotated[str | None, typer.Option("--region", help=mh("region"))] = None,
) -> None:
    """Register someone who phoned or wrote to the team (or put them on the waitlist)."""
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        contact = _contact(session, email)
        reg = mt.register(
            session,
            code,
            name=name,
            email=email,
            region_code=region or _only_region(session, contact),
            contact_id=contact.id if contact else None,
            channel=Channel.cli.value,
            by=cli.actor,
            now=cli.clock.now(),
        )
        meeting = mt.get_meeting(session, code)
        place = mt.waitlist_position(session, meeting.code, reg.email)
        left = mt.seats_left(session, meeting)
        status, address, meeting_code = reg.status, reg.email, meeting.code
    cli.out.print(
        cli.t(
            "meetings.registered_by_team",
            code=meeting_code,
            email=address,
            status=status,
            place=place,
            seats_left=left,
        ),
        markup=False,
    )


@app.command("unregister", help=mh("unregister"))
def unregister(
    ctx: typer.Context,
    code: Code,
    email: Annotated[str, typer.Option("--email", help=mh("email"))],
) -> None:
    """Cancel someone's registration; a freed seat goes to the first in line."""
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        before = {r.id for r in mt.attendees(session, code)}
        reg = mt.cancel_registration(session, (code, email), by=cli.actor, now=cli.clock.now())
        meeting_code = mt.get_meeting(session, code).code
        promoted = [r.name for r in mt.attendees(session, code) if r.id not in before]
        address = reg.email
    cli.out.print(
        cli.t("meetings.unregistered", code=meeting_code, email=address, promoted=promoted),
        markup=False,
    )


@app.command("announce", help=mh("announce"))
def announce(
    ctx: typer.Context,
    code: Code,
    regions: Annotated[str | None, typer.Option("--regions", help=mh("regions_option"))] = None,
    everyone: Annotated[bool, typer.Option("--all", help=mh("announce_all"))] = False,
) -> None:
    """Email every contact of the chosen regions, and a Slack DM to those with a Slack id."""
    cli = ctx_of(ctx)
    codes = [c.strip() for c in (regions or "").split(",") if c.strip()]
    if everyone == bool(codes):
        cli.fail("meetings.announce_choose", code=2)
    settings = cli.settings
    with transaction(cli.engine) as session:
        done = announcements.announce(
            session,
            code,
            regions=None if everyone else codes,
            mail_per_minute=settings.announce_mail_per_minute,
            slack_per_minute=settings.announce_slack_per_minute,
            by=cli.actor,
            now=cli.clock.now(),
        )
    cli.out.print(
        cli.t(
            "meetings.announced",
            code=done.code,
            contacts=done.contacts,
            already=done.already,
            mails=done.email.count,
            mail_last=done.email.last_due,
            mail_rate=settings.announce_mail_per_minute,
            slacks=done.slack.count,
            slack_last=done.slack.last_due,
            slack_rate=settings.announce_slack_per_minute,
            tz=settings.timezone,
        ),
        markup=False,
    )
