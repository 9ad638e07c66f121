"""The periodic reminder rules: what each job writes into the outbox.

Each rule reads fresh state and writes outbox rows under dedupe keys that
name the occurrence, so a rule that runs again writes nothing twice. What a
message says is decided here as data (the context); how it reads is in the
templates (`notify.<template>` for Slack, `mail/<template>` for mail).

Rules that follow from a single change (a visit's reminders, a meeting's
48-hour reminder, a request's invitation) are written by the domain in the
transaction of that change; the rules here are the ones that follow from
the calendar: the team's digest, nudges for requests nobody handled, the
supporters' week agenda, the unused-days reminders, the period roll-over and
the early refresh of every App Home. (The home refresh writes no dedupe key per
occurrence: its once-only is the occurrence's `JobRun`, and a waiting refresh
absorbs it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from models import homes, ledger, outbox, quota
from models.actor import Actor
from models.errors import NoAllowance, NoCurrentPeriod
from models.imports import grant_yearly_allowances
from models.periods import next_period, period_on
from models.quantity import from_units, json_number
from models.tables import (
    Contact,
    Period,
    Region,
    RegionContact,
    RequestDay,
    Supporter,
    SupportRequest,
    Visit,
)
from models.types import AllowanceKind, RequestStatus, SupporterRole
from scheduling.calendar import WorkingCalendar
from scheduling.jobs import DaysOfYear, Job, JobContext, WeekStart, WorkingDays

NINE = time(9, 0)
HOME_REFRESH = time(6, 0)  # before the working day starts: "this week" is this week
NUDGE_AFTER = (1, 3, 5)  # working days a submitted request waits before the team is nudged
LONG_WAIT = 2  # working days after which the digest lists a request first
CONFIRM_ESCALATION = 5  # working days after a visit without confirmation: the team is told
ROLLOVER_CAP = "rollover_cap_half_days"


def working_days_between(calendar: WorkingCalendar, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += calendar.is_working_day(day)
        day += timedelta(days=1)
    return count


def _team(session: Session) -> list[Supporter]:
    return list(
        session.exec(
            select(Supporter)
            .where(Supporter.active, Supporter.role == SupporterRole.coordinator.value)
            .order_by(col(Supporter.id))
        ).all()
    )


def _region_codes(session: Session) -> dict[int, Region]:
    return {r.id: r for r in session.exec(select(Region)).all() if r.id is not None}


@dataclass(frozen=True)
class Waiting:
    request: SupportRequest
    region: Region
    waited: int  # working days


def _waiting(session: Session, ctx: JobContext) -> list[Waiting]:
    regions = _region_codes(session)
    today = ctx.occurrence.day
    rows = session.exec(
        select(SupportRequest)
        .where(col(SupportRequest.status) == RequestStatus.submitted.value)
        .order_by(col(SupportRequest.created_at), col(SupportRequest.id))
    ).all()
    return [
        Waiting(
            r,
            regions[r.region_id],
            working_days_between(ctx.calendar, r.created_at.astimezone(ctx.tz).date(), today),
        )
        for r in rows
    ]


def _request_line(w: Waiting) -> dict[str, Any]:
    r = w.request
    return {
        "ref": r.ref,
        "region": w.region.code,
        "region_name": w.region.name,
        "days": str(from_units(r.half_days, AllowanceKind.support_days)),
        "kind": r.kind,
        "theme": r.theme,
        "status": r.status,
        "waited": w.waited,
        "submitted_on": r.created_at.isoformat(),
    }


def at_risk(session: Session, day: date) -> list[dict[str, Any]]:
    """Regions on course to leave support days unused at the period's end.

    The projection is linear: what a region has committed so far (reserved
    and used) grows at the pace it had until today. A region that will not
    reach its allowance at that pace, with days still available, is at risk;
    the amount is what it would lose.
    """
    try:
        period = period_on(session, day)
    except NoCurrentPeriod:  # no period today: nothing to project
        return []
    total = (period.ends_on - period.starts_on).days + 1
    elapsed = max(1, (day - period.starts_on).days + 1)
    found: list[tuple[int, dict[str, Any]]] = []
    for line in quota.overview(session, period):
        b = line.balance
        if b.kind is not AllowanceKind.support_days or b.available <= 0:
            continue
        committed = b.reserved + b.used
        projected = committed * total / elapsed
        loss = min(b.available, int(b.granted - projected))
        if loss < 2:  # less than a day: not worth a line
            continue
        found.append(
            (
                loss,
                {
                    "region": line.region.code,
                    "region_name": line.region.name,
                    "available": json_number(b.amount("available")),
                    "loss": json_number(from_units(loss, AllowanceKind.support_days)),
                },
            )
        )
    found.sort(key=lambda item: (-item[0], item[1]["region"]))
    return [item for _, item in found]


def team_digest(session: Session, ctx: JobContext) -> int:
    """Each working day at 09:00: what waits for the team, longest waiting first."""
    waiting = _waiting(session, ctx)
    long_first = sorted(waiting, key=lambda w: (w.waited <= LONG_WAIT, -w.waited))
    approved = session.exec(
        select(SupportRequest)
        .where(
            col(SupportRequest.status) == RequestStatus.approved.value,
            col(SupportRequest.assigned_supporter_id).is_(None),
        )
        .order_by(col(SupportRequest.created_at))
    ).all()
    regions = _region_codes(session)
    risk = at_risk(session, ctx.occurrence.day)
    context: dict[str, Any] = {
        "day": ctx.occurrence.day.isoformat(),
        "waiting": [_request_line(w) for w in long_first],
        "long_wait": LONG_WAIT,
        "unassigned": [_request_line(Waiting(r, regions[r.region_id], 0)) for r in approved],
        "visits_today": visits_on(session, ctx.occurrence.day),
        "at_risk": risk[:10],
        "at_risk_more": max(0, len(risk) - 10),
    }
    written = 0
    for member in _team(session):
        assert member.id is not None
        outbox.to_supporter(
            session,
            member,
            key=f"digest:{ctx.occurrence.key}:{member.id}",
            template="team_digest",
            now=ctx.now,
            context=context,
        )
        written += 1
    return written


def visits_on(session: Session, day: date) -> list[dict[str, Any]]:
    """What is scheduled on `day`: critical-friend visits, then planned request days."""
    regions = _region_codes(session)
    supporters = {s.id: s.name for s in session.exec(select(Supporter)).all()}
    found: list[dict[str, Any]] = [
        {
            "kind": "visit",
            "ref": "",
            "number": v.number,
            "region": regions[v.region_id].code,
            "region_name": regions[v.region_id].name,
            "supporter": supporters.get(v.supporter_id, ""),
        }
        for v in session.exec(
            select(Visit)
            .where(Visit.day == day, Visit.status == "scheduled")
            .order_by(col(Visit.region_id), col(Visit.id))
        ).all()
    ]
    rows = session.exec(
        select(RequestDay, SupportRequest)
        .join(SupportRequest, col(SupportRequest.id) == col(RequestDay.request_id))
        .where(
            RequestDay.day == day,
            col(SupportRequest.status) == RequestStatus.scheduled.value,
        )
        .order_by(col(SupportRequest.ref))
    ).all()
    found.extend(
        {
            "kind": "request",
            "ref": r.ref,
            "number": None,
            "region": regions[r.region_id].code,
            "region_name": regions[r.region_id].name,
            "supporter": supporters.get(r.assigned_supporter_id, "")
            if r.assigned_supporter_id
            else "",
        }
        for _, r in rows
    )
    return found


def nudges(session: Session, ctx: JobContext) -> int:
    """A submitted request nobody handled: the team hears of it after 1, 3 and 5 working days.

    After a gap (the process was down) only the step reached is sent, once.
    """
    written = 0
    team = _team(session)
    for w in _waiting(session, ctx):
        reached = [n for n in NUDGE_AFTER if w.waited >= n]
        if not reached:
            continue
        step = reached[-1]
        assert w.request.id is not None
        for member in team:
            # The key names the step: the same step on a later day is the row already there.
            row = outbox.to_supporter(
                session,
                member,
                key=f"request:{w.request.ref}:nudge:{step}:{member.id}",
                template="request_nudge",
                now=ctx.now,
                context={**_request_line(w), "step": step},
                subject=("request", w.request.id),
            )
            written += row.created_at == ctx.now
    return written


def supporter_agendas(session: Session, ctx: JobContext) -> int:
    """The week's first working day: each supporter's scheduled days for the week."""
    start = ctx.occurrence.day - timedelta(days=ctx.occurrence.day.weekday())
    end = start + timedelta(days=6)
    rows = session.exec(
        select(RequestDay, SupportRequest)
        .join(SupportRequest, col(SupportRequest.id) == col(RequestDay.request_id))
        .where(
            col(RequestDay.day) >= start,
            col(RequestDay.day) <= end,
            col(SupportRequest.status) == RequestStatus.scheduled.value,
            col(SupportRequest.assigned_supporter_id).is_not(None),
        )
        .order_by(col(RequestDay.day), col(SupportRequest.ref))
    ).all()
    regions = _region_codes(session)
    per: dict[int, list[dict[str, Any]]] = {}
    for day, request in rows:
        assert request.assigned_supporter_id is not None
        per.setdefault(request.assigned_supporter_id, []).append(
            {
                "day": day.day.isoformat(),
                "ref": request.ref,
                "region": regions[request.region_id].code,
                "region_name": regions[request.region_id].name,
                "kind": request.kind,
                "theme": request.theme,
            }
        )
    visits = session.exec(
        select(Visit).where(
            col(Visit.day) >= start, col(Visit.day) <= end, Visit.status == "scheduled"
        )
    ).all()
    for visit in visits:
        per.setdefault(visit.supporter_id, []).append(
            {
                "day": visit.day.isoformat(),
                "ref": "",
                "region": regions[visit.region_id].code,
                "region_name": regions[visit.region_id].name,
                "kind": "visit",
                "theme": "",
            }
        )
    for items in per.values():
        items.sort(key=lambda item: (item["day"], item["region"], item["ref"]))
    written = 0
    for supporter_id, items in sorted(per.items()):
        supporter = session.get(Supporter, supporter_id)
        if supporter is None or not supporter.active:
            continue
        outbox.to_supporter(
            session,
            supporter,
            key=f"agenda:{ctx.occurrence.key}:{supporter_id}",
            template="supporter_agenda",
            now=ctx.now,
            context={"week_start": start.isoformat(), "items": items},
        )
        written += 1
    return written


def unconfirmed_visits(session: Session, ctx: JobContext) -> int:
    """A visit nobody confirmed five working days after its day: the team hears of it, once."""
    written = 0
    team = _team(session)
    regions = _region_codes(session)
    supporters = {s.id: s for s in session.exec(select(Supporter)).all()}
    past = session.exec(
        select(Visit)
        .where(Visit.status == "scheduled", col(Visit.day) < ctx.occurrence.day)
        .order_by(col(Visit.day), col(Visit.id))
    ).all()
    for visit in past:
        waited = working_days_between(ctx.calendar, visit.day, ctx.occurrence.day)
        if waited < CONFIRM_ESCALATION:
            continue
        assert visit.id is not None
        supporter = supporters.get(visit.supporter_id)
        context = {
            "region": regions[visit.region_id].code,
            "region_name": regions[visit.region_id].name,
            "day": visit.day.isoformat(),
            "number": visit.number,
            "supporter": supporter.name if supporter else "",
            "waited": waited,
            "visit": visit.id,
        }
        for member in team:
            row = outbox.to_supporter(
                session,
                member,
                key=f"visit:{visit.id}:unconfirmed:{member.id}",
                template="visit_unconfirmed",
                now=ctx.now,
                context=context,
                subject=("visit", visit.id),
            )
            written += row.created_at == ctx.now
    return written


def _contacts(session: Session, region: Region) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .join(RegionContact, col(RegionContact.contact_id) == col(Contact.id))
            .where(RegionContact.region_id == region.id)
            .order_by(col(Contact.id))
        ).all()
    )


def unused_days(session: Session, ctx: JobContext) -> int:
    """1 October and 1 December: regions with support days still available hear how many."""
    try:
        period = period_on(session, ctx.occurrence.day)
    except NoCurrentPeriod:
        return 0
    written = 0
    for line in quota.overview(session, period):
        b = line.balance
        if b.kind is not AllowanceKind.support_days or b.available <= 0:
            continue
        region = line.region
        assert region.id is not None
        for contact in _contacts(session, region):
            outbox.to_contact(
                session,
                contact,
                key=f"unused:{ctx.occurrence.key}:{region.code}:{contact.id}",
                template="unused_days",
                now=ctx.now,
                context={
                    "region": region.code,
                    "region_name": region.name,
                    "period": period.code,
                    "available": json_number(b.amount("available")),
                    "ends_on": period.ends_on.isoformat(),
                },
            )
            written += 1
    return written


def _period_after(session: Session, previous: Period) -> Period:
    """The next period, created as the calendar year after when the data has none yet."""
    found = next_period(session, previous)
    if found is not None:
        return found
    year = previous.ends_on.year + 1
    period = Period(code=str(year), starts_on=date(year, 1, 1), ends_on=date(year, 12, 31))
    session.add(period)
    session.flush()
    return period


def roll_over(session: Session, ctx: JobContext) -> int:
    """The first day of a period: what was left of the last one expires (up to the
    roll-over cap carries over), the new allowances are granted, and contacts hear both."""
    day = ctx.occurrence.day
    previous = session.exec(select(Period).where(Period.ends_on == day - timedelta(days=1))).first()
    if previous is None:
        return 0
    current = _period_after(session, previous)
    by = Actor.system()
    regions = list(session.exec(select(Region).order_by(col(Region.code))).all())
    grant_yearly_allowances(session, regions, by, ctx.now)
    cap = int(ctx.options.get(ROLLOVER_CAP, 0))
    written = 0
    for region in regions:
        expired: dict[str, Decimal] = {}
        carried: dict[str, Decimal] = {}
        for kind in AllowanceKind:
            try:
                old = ledger.find_allowance(session, region, previous, kind)
            except NoAllowance:
                continue
            assert old.id is not None
            new = ledger.ensure_allowance(session, region, current, kind)
            lost, kept = ledger.expire(
                session,
                old.id,
                by,
                ctx.now,
                rollover_to=new.id,
                rollover_cap=cap if kind is AllowanceKind.support_days else 0,
                reason=f"end of period {previous.code}",
            )
            expired[kind.value] = from_units(lost, kind)
            carried[kind.value] = from_units(kept, kind)
        lines = {
            line.balance.kind.value: json_number(line.balance.amount("available"))
            for line in quota.overview(session, current, region)
        }
        for contact in _contacts(session, region):
            outbox.to_contact(
                session,
                contact,
                key=f"rollover:{current.code}:{region.code}:{contact.id}",
                template="period_rollover",
                now=ctx.now,
                context={
                    "region": region.code,
                    "region_name": region.name,
                    "previous": previous.code,
                    "period": current.code,
                    "expired_days": json_number(
                        expired.get(AllowanceKind.support_days.value, Decimal(0))
                    ),
                    "carried_days": json_number(
                        carried.get(AllowanceKind.support_days.value, Decimal(0))
                    ),
                    "available_days": lines.get(AllowanceKind.support_days.value, 0),
                    "available_visits": lines.get(AllowanceKind.cf_visits.value, 0),
                },
            )
            written += 1
    return written


def refresh_homes(session: Session, ctx: JobContext) -> int:
    """Early each working day: every App Home is published again, because what it shows
    moves with the calendar too (the team's "this week", upcoming visits and meetings),
    not only with the data. Coalesced like every refresh (models/homes.py); without
    Slack `sto run` settles these rows as not applicable."""
    return homes.everyone_changed(session, ctx.now)


JOBS: tuple[Job, ...] = (
    Job("home_refresh", WorkingDays(HOME_REFRESH, timedelta(hours=12)), refresh_homes),
    Job("team_digest", WorkingDays(NINE, timedelta(hours=8)), team_digest),
    Job("nudges", WorkingDays(NINE, timedelta(hours=8)), nudges),
    Job("unconfirmed_visits", WorkingDays(NINE, timedelta(hours=8)), unconfirmed_visits),
    Job("supporter_agenda", WeekStart(time(8, 0), timedelta(hours=10)), supporter_agendas),
    Job("unused_days", DaysOfYear(((10, 1), (12, 1)), NINE, timedelta(days=3)), unused_days),
    Job("roll_over", DaysOfYear(((1, 1),), time(0, 30), timedelta(days=31)), roll_over),
)
