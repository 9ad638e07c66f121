"""Critical-friend visits: proposals of three slots, choosing, declining, cancelling, confirming.

Lifecycle of a visit: `proposed` (an open proposal of up to three days went to
the region's contacts) -> `scheduled` (a slot was chosen: one visit reserved in
the region's cf_visits allowance, invitations and reminders written to the
outbox) -> `completed` (the supporter confirmed it took place: consumed), or
`cancelled` (released, pending reminders cancelled, the invitation withdrawn).

Every verb takes the session (the caller owns the transaction), the actor and
`now`, locks the rows it changes, checks, then writes. Reminders are outbox
rows written here, in the same transaction: 7 days and 1 day before the
visit at 09:00 in the region's time zone, to the contacts and the supporter,
and after the visit a question to the supporter, due the next working day at
09:00. New slots (a declined proposal, a supporter's absence) come from a
`SlotFinder` the caller hands in: the planner lives in `scheduling/`, which
the domain may not import.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

import holidays
from sqlmodel import Session, col, select

from models import homes, ledger, outbox
from models.actor import Actor
from models.audit import record
from models.errors import (
    InvalidSlot,
    ProposalClosed,
    UnknownProposal,
    UnknownVisit,
    VisitState,
)
from models.outbox import OutboxChannel
from models.tables import (
    Contact,
    Period,
    Region,
    RegionContact,
    Supporter,
    SupporterAbsence,
    Visit,
    VisitProposal,
)
from models.types import AllowanceKind

SUBJECT = "visit"
REMINDER_DAYS = (7, 1)
REMINDER_TIME = time(9, 0)
BES_TIMEZONE = "America/Kralendijk"
WORKING_WEEKDAYS = {"ma": 0, "di": 1, "wo": 2, "do": 3, "vr": 4, "za": 5, "zo": 6}
# Templates of rows that a later change makes moot (invitations stay: a cancellation follows).
REMINDERS = {"visit_reminder", "visit_confirm_question"}


class VisitStatus(StrEnum):
    proposed = "proposed"
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"


class ProposalStatus(StrEnum):
    open = "open"
    chosen = "chosen"
    declined = "declined"
    expired = "expired"


class SlotFinder(Protocol):
    """New days for one visit, nearest its window first, none of `exclude` (the planner)."""

    def __call__(
        self, session: Session, visit: Visit, exclude: Collection[date], now: datetime
    ) -> list[date]: ...


@dataclass(frozen=True)
class NewVisit:
    """One visit the planner placed: its day first among `options`."""

    region_id: int
    supporter_id: int
    number: int
    window_from: date
    window_to: date
    options: tuple[date, ...]


# --- small helpers -----------------------------------------------------------------------


def local_today(region: Region, now: datetime) -> date:
    return now.astimezone(zoneinfo.ZoneInfo(region.timezone)).date()


def at_local(day: date, at: time, tz: str) -> datetime:
    """09:00 on `day` in zone `tz` (as an aware datetime; DST is the zone's business)."""
    return datetime.combine(day, at, tzinfo=zoneinfo.ZoneInfo(tz))


@cache
def _public_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def next_working_day(after: date, supporter: Supporter, region: Region) -> date:
    """The first day after `after` that is one of the supporter's working days and no
    public holiday (of the Caribbean Netherlands for the BES region)."""
    country = "BQ" if region.timezone == BES_TIMEZONE else "NL"
    weekdays = {
        WORKING_WEEKDAYS[t.strip()]
        for t in supporter.working_days.split(";")
        if t.strip() in WORKING_WEEKDAYS
    } or {0, 1, 2, 3, 4}
    day = after + timedelta(days=1)
    while day.weekday() not in weekdays or day in _public_holidays(country, day.year):
        day += timedelta(days=1)
    return day


def proposal_key(proposal_id: int, contact_id: int) -> str:
    """The outbox key of a proposal to one contact (a mail answer finds its proposal by it)."""
    return f"visit_proposal:{proposal_id}:contact:{contact_id}"


def slots_of(proposal: VisitProposal) -> list[date]:
    return [d for d in (proposal.slot_1, proposal.slot_2, proposal.slot_3) if d is not None]


def region_contacts(session: Session, region_id: int) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .join(RegionContact, col(RegionContact.contact_id) == col(Contact.id))
            .where(RegionContact.region_id == region_id)
            .order_by(col(Contact.id))
        ).all()
    )


def get_visit(session: Session, visit_id: int, *, lock: bool = False) -> Visit:
    query = select(Visit).where(Visit.id == visit_id)
    if lock:
        query = query.with_for_update()
    visit = session.exec(query).first()
    if visit is None:
        raise UnknownVisit(str(visit_id))
    if lock:
        session.refresh(visit)
    return visit


def get_proposal(session: Session, proposal_id: int, *, lock: bool = False) -> VisitProposal:
    query = select(VisitProposal).where(VisitProposal.id == proposal_id)
    if lock:
        query = query.with_for_update()
    proposal = session.exec(query).first()
    if proposal is None:
        raise UnknownProposal(str(proposal_id))
    if lock:
        session.refresh(proposal)
    return proposal


def open_proposal(session: Session, visit_id: int) -> VisitProposal | None:
    return session.exec(
        select(VisitProposal)
        .where(
            VisitProposal.visit_id == visit_id,
            VisitProposal.status == ProposalStatus.open.value,
        )
        .order_by(col(VisitProposal.id).desc())
    ).first()


def _parts(session: Session, visit: Visit) -> tuple[Region, Supporter, Period]:
    region = session.get(Region, visit.region_id)
    supporter = session.get(Supporter, visit.supporter_id)
    period = session.get(Period, visit.period_id)
    assert region is not None and supporter is not None and period is not None
    return region, supporter, period


def _context(session: Session, visit: Visit) -> dict[str, Any]:
    """What every notification about a visit says (JSON: dates as ISO text)."""
    region, supporter, period = _parts(session, visit)
    return {
        "visit_id": visit.id,
        "region": region.code,
        "region_name": region.name,
        "supporter": supporter.name,
        "supporter_email": supporter.email,
        "number": visit.number,
        "period": period.code,
        "day": visit.day.isoformat(),
        "dates": [visit.day.isoformat()],
        "starts_at": visit.starts_at.isoformat() if visit.starts_at else "",
        "ends_at": visit.ends_at.isoformat() if visit.ends_at else "",
        "timezone": region.timezone,
        "sequence": visit.sequence,
    }


def _to_contact_by_mail(
    session: Session,
    contact: Contact,
    *,
    key: str,
    template: str,
    now: datetime,
    context: dict[str, Any],
    subject: tuple[str, int],
) -> None:
    """Invitations go by mail, whatever channel the contact prefers: a calendar needs them."""
    outbox.enqueue(
        session,
        key=key,
        template=template,
        channel=OutboxChannel.email,
        recipient=contact.email,
        now=now,
        language=contact.language,
        context={**context, "name": contact.name, "fallback_email": contact.email},
        subject=subject,
    )


def _allowance_id(session: Session, visit: Visit, *, lock: bool = False) -> int:
    region, _, period = _parts(session, visit)
    allowance = ledger.find_allowance(session, region, period, AllowanceKind.cf_visits, lock=lock)
    assert allowance.id is not None
    return allowance.id


def _touch(session: Session, visit: Visit, now: datetime) -> None:
    """Every change of a visit's day or status passes here: the homes that show it follow."""
    visit.updated_at = now
    session.add(visit)
    session.flush()
    homes.region_changed(session, visit.region_id, now)


# --- proposing ---------------------------------------------------------------------------


def propose(
    session: Session,
    visit: Visit,
    slots: Sequence[date],
    by: Actor,
    now: datetime,
    *,
    reason: str = "planned",
) -> VisitProposal:
    """Offer up to three days for a visit to every contact of its region."""
    assert visit.id is not None and slots
    for older in session.exec(
        select(VisitProposal).where(
            VisitProposal.visit_id == visit.id,
            VisitProposal.status == ProposalStatus.open.value,
        )
    ).all():
        older.status = ProposalStatus.expired.value
        older.decided_at = now
        session.add(older)
    padded = [*slots[:3], None, None]
    proposal = VisitProposal(
        visit_id=visit.id,
        slot_1=slots[0],
        slot_2=padded[1],
        slot_3=padded[2],
        status=ProposalStatus.open.value,
        reason=reason,
        created_at=now,
    )
    session.add(proposal)
    session.flush()
    assert proposal.id is not None
    context = {
        **_context(session, visit),
        "proposal_id": proposal.id,
        "slots": [d.isoformat() for d in slots_of(proposal)],
        "reason": reason,
    }
    for contact in region_contacts(session, visit.region_id):
        assert contact.id is not None
        outbox.to_contact(
            session,
            contact,
            key=proposal_key(proposal.id, contact.id),
            template="visit_proposal",
            now=now,
            context=context,
            subject=(SUBJECT, visit.id),
        )
    record(
        session,
        by,
        now,
        "visit_proposed",
        f"visit:{visit.id}",
        {"proposal": proposal.id, "slots": context["slots"], "reason": reason},
    )
    return proposal


def apply_plan(
    session: Session, period: Period, planned: Sequence[NewVisit], by: Actor, now: datetime
) -> list[VisitProposal]:
    """Create the planned visits (status proposed) and send each region a proposal."""
    proposals = []
    for item in planned:
        taken = session.exec(
            select(Visit.id).where(
                Visit.region_id == item.region_id,
                Visit.period_id == period.id,
                Visit.number == item.number,
                col(Visit.status) != VisitStatus.cancelled.value,
            )
        ).first()
        if taken is not None:  # planned twice (two runs at once): the first one stands
            continue
        assert period.id is not None
        visit = Visit(
            region_id=item.region_id,
            supporter_id=item.supporter_id,
            period_id=period.id,
            number=item.number,
            status=VisitStatus.proposed.value,
            day=item.options[0],
            window_from=item.window_from,
            window_to=item.window_to,
            created_at=now,
            updated_at=now,
        )
        session.add(visit)
        session.flush()
        proposals.append(propose(session, visit, item.options, by, now))
    return proposals


# --- choosing ----------------------------------------------------------------------------


def _require_room(session: Session, visit: Visit, day: date, proposal: str, option: str) -> None:
    """The supporter is not away that day and still has room that day, that week and that
    month (their row locked first, so two choices for one supporter are checked in turn)."""
    supporter = session.exec(
        select(Supporter).where(Supporter.id == visit.supporter_id).with_for_update()
    ).one()
    session.refresh(supporter)
    monday = day - timedelta(days=day.weekday())
    lo = min(monday, day.replace(day=1))
    hi = max(monday + timedelta(days=6), (day.replace(day=28) + timedelta(days=4)))
    booked = list(
        session.exec(
            select(col(Visit.day)).where(
                Visit.supporter_id == supporter.id,
                Visit.id != visit.id,
                Visit.status == VisitStatus.scheduled.value,
                Visit.day >= lo,
                Visit.day <= hi,
            )
        ).all()
    )
    same_day = sum(1 for d in booked if d == day)
    same_week = sum(1 for d in booked if monday <= d <= monday + timedelta(days=6))
    month_days = {d for d in booked if (d.year, d.month) == (day.year, day.month)}
    absent = session.exec(
        select(SupporterAbsence.id).where(
            SupporterAbsence.supporter_id == supporter.id,
            SupporterAbsence.starts_on <= day,
            SupporterAbsence.ends_on >= day,
        )
    ).first()
    if (
        absent is not None
        or same_day >= supporter.max_visits_per_day
        or same_week >= supporter.max_visits_per_week
        or (day not in month_days and len(month_days) >= supporter.max_days_per_month)
    ):
        raise InvalidSlot(proposal, option, "taken")


def choose_slot(session: Session, proposal_id: int, option: int, by: Actor, now: datetime) -> Visit:
    """The contact picks option 1, 2 or 3: the visit is scheduled on that day."""
    proposal = get_proposal(session, proposal_id, lock=True)
    if proposal.status != ProposalStatus.open.value:
        raise ProposalClosed(str(proposal_id), proposal.status)
    slots = slots_of(proposal)
    if not 1 <= option <= len(slots):
        raise InvalidSlot(str(proposal_id), str(option), "no_such_option")
    day = slots[option - 1]
    visit = get_visit(session, proposal.visit_id, lock=True)
    if visit.status != VisitStatus.proposed.value:
        raise VisitState(str(visit.id), visit.status, "choose")
    region, supporter, _ = _parts(session, visit)
    if day <= local_today(region, now):
        raise InvalidSlot(str(proposal_id), str(option), "past")
    _require_room(session, visit, day, str(proposal_id), str(option))
    assert visit.id is not None
    ledger.reserve_visit(session, _allowance_id(session, visit), visit.id, by, now)
    visit.day = day
    visit.status = VisitStatus.scheduled.value
    visit.sequence += 1
    _touch(session, visit, now)
    proposal.status = ProposalStatus.chosen.value
    proposal.chosen = option
    proposal.decided_by = by.name
    proposal.decided_at = now
    session.add(proposal)
    _announce_scheduled(session, visit, region, supporter, now)
    record(session, by, now, "visit_scheduled", f"visit:{visit.id}", {"day": day.isoformat()})
    return visit


def _announce_scheduled(
    session: Session, visit: Visit, region: Region, supporter: Supporter, now: datetime
) -> None:
    """Invitations now; reminders and the after-visit question as rows due later."""
    assert visit.id is not None
    subject = (SUBJECT, visit.id)
    context = _context(session, visit)
    base = f"visit:{visit.id}:s{visit.sequence}"
    contacts = region_contacts(session, visit.region_id)
    for contact in contacts:
        _to_contact_by_mail(
            session,
            contact,
            key=f"{base}:invite:contact:{contact.id}",
            template="visit_scheduled",
            now=now,
            context=context,
            subject=subject,
        )
    outbox.to_supporter(
        session,
        supporter,
        key=f"{base}:invite:supporter",
        template="visit_scheduled",
        now=now,
        context=context,
        subject=subject,
        email=True,
    )
    for days_before in REMINDER_DAYS:
        due = at_local(visit.day - timedelta(days=days_before), REMINDER_TIME, region.timezone)
        if due <= now:
            continue  # chosen late: a reminder after its moment is no reminder
        reminder = {**context, "days_before": days_before}
        for contact in contacts:
            outbox.to_contact(
                session,
                contact,
                key=f"{base}:reminder{days_before}:contact:{contact.id}",
                template="visit_reminder",
                now=now,
                due_at=due,
                context=reminder,
                subject=subject,
            )
        outbox.to_supporter(
            session,
            supporter,
            key=f"{base}:reminder{days_before}:supporter",
            template="visit_reminder",
            now=now,
            due_at=due,
            context=reminder,
            subject=subject,
        )
    asked = next_working_day(visit.day, supporter, region)
    outbox.to_supporter(
        session,
        supporter,
        key=f"{base}:confirm_question",
        template="visit_confirm_question",
        now=now,
        due_at=at_local(asked, REMINDER_TIME, region.timezone),
        context=context,
        subject=subject,
    )


# --- declining, rescheduling -------------------------------------------------------------


def _offered(session: Session, visit_id: int) -> set[date]:
    found: set[date] = set()
    for p in session.exec(select(VisitProposal).where(VisitProposal.visit_id == visit_id)).all():
        found.update(slots_of(p))
    return found


def _replan(
    session: Session,
    visit: Visit,
    by: Actor,
    now: datetime,
    find_slots: SlotFinder,
    exclude: Collection[date],
    reason: str,
) -> VisitProposal | None:
    slots = find_slots(session, visit, exclude, now)
    if not slots:
        assert visit.id is not None
        for contact in region_contacts(session, visit.region_id):
            outbox.to_contact(
                session,
                contact,
                key=f"visit:{visit.id}:no_slots:{now.isoformat()}:contact:{contact.id}",
                template="visit_no_slots",
                now=now,
                context=_context(session, visit),
                subject=(SUBJECT, visit.id),
            )
        record(session, by, now, "visit_no_slots", f"visit:{visit.id}", {"reason": reason})
        return None
    return propose(session, visit, slots, by, now, reason=reason)


def decline(
    session: Session, proposal_id: int, by: Actor, now: datetime, find_slots: SlotFinder
) -> VisitProposal | None:
    """None of the three suits: plan again, with days not offered before.

    Returns the new proposal, or None when no day is left (the contacts are told
    the team will get in touch; the visit stays proposed).
    """
    proposal = get_proposal(session, proposal_id, lock=True)
    if proposal.status != ProposalStatus.open.value:
        raise ProposalClosed(str(proposal_id), proposal.status)
    visit = get_visit(session, proposal.visit_id, lock=True)
    if visit.status != VisitStatus.proposed.value:
        raise VisitState(str(visit.id), visit.status, "decline")
    proposal.status = ProposalStatus.declined.value
    proposal.decided_by = by.name
    proposal.decided_at = now
    session.add(proposal)
    session.flush()
    assert visit.id is not None
    return _replan(
        session, visit, by, now, find_slots, _offered(session, visit.id), reason="declined"
    )


def reschedule_for_absence(
    session: Session,
    supporter_id: int,
    starts_on: date,
    ends_on: date,
    by: Actor,
    now: datetime,
    *,
    find_slots: SlotFinder,
) -> list[int]:
    """A new absence of a supporter: each visit of theirs on those days asks for a new slot.

    A scheduled visit goes back to proposed (its visit released, its reminders
    cancelled; the calendar invitation stays until the new day updates it, with
    the same UID and a higher SEQUENCE); an open proposal with a day in the
    absence is replaced. Returns the ids of the visits concerned.
    """
    absent = {starts_on + timedelta(days=n) for n in range((ends_on - starts_on).days + 1)}
    moved: list[int] = []
    candidates = session.exec(
        select(Visit)
        .where(
            Visit.supporter_id == supporter_id,
            col(Visit.status).in_([VisitStatus.scheduled.value, VisitStatus.proposed.value]),
        )
        .order_by(col(Visit.day), col(Visit.id))
        .with_for_update()
    ).all()
    for visit in candidates:
        assert visit.id is not None
        session.refresh(visit)
        if visit.status == VisitStatus.scheduled.value:
            if visit.day not in absent:
                continue
            ledger.release_visit(
                session, _allowance_id(session, visit), visit.id, by, now, reason="absence"
            )
            outbox.cancel_pending(session, (SUBJECT, visit.id), now, REMINDERS)
            visit.status = VisitStatus.proposed.value
            _touch(session, visit, now)
        else:
            current = open_proposal(session, visit.id)
            if current is not None and not absent & set(slots_of(current)):
                continue
        moved.append(visit.id)
        record(
            session,
            by,
            now,
            "visit_absence",
            f"visit:{visit.id}",
            {"from": starts_on.isoformat(), "to": ends_on.isoformat()},
        )
        _replan(session, visit, by, now, find_slots, absent, reason="absence")
    return moved


# --- cancelling, confirming --------------------------------------------------------------


def cancel_visit(
    session: Session, visit_id: int, by: Actor, now: datetime, *, reason: str = ""
) -> Visit:
    """Cancel: release the visit, cancel what is pending, withdraw the invitation."""
    visit = get_visit(session, visit_id, lock=True)
    if visit.status not in (VisitStatus.proposed.value, VisitStatus.scheduled.value):
        raise VisitState(str(visit_id), visit.status, "cancel")
    ledger.release_visit(session, _allowance_id(session, visit), visit_id, by, now, reason=reason)
    outbox.cancel_pending(session, (SUBJECT, visit_id), now)
    for proposal in session.exec(
        select(VisitProposal).where(
            VisitProposal.visit_id == visit_id,
            VisitProposal.status == ProposalStatus.open.value,
        )
    ).all():
        proposal.status = ProposalStatus.expired.value
        proposal.decided_at = now
        session.add(proposal)
    invited = visit.sequence > 0
    visit.status = VisitStatus.cancelled.value
    visit.sequence += 1
    _touch(session, visit, now)
    if invited:  # a calendar holds it: withdraw it (same UID, higher SEQUENCE)
        _, supporter, _ = _parts(session, visit)
        context = {**_context(session, visit), "reason": reason}
        base = f"visit:{visit_id}:s{visit.sequence}:cancel"
        for contact in region_contacts(session, visit.region_id):
            _to_contact_by_mail(
                session,
                contact,
                key=f"{base}:contact:{contact.id}",
                template="visit_cancelled",
                now=now,
                context=context,
                subject=(SUBJECT, visit_id),
            )
        outbox.to_supporter(
            session,
            supporter,
            key=f"{base}:supporter",
            template="visit_cancelled",
            now=now,
            context=context,
            subject=(SUBJECT, visit_id),
            email=True,
        )
    record(session, by, now, "visit_cancelled", f"visit:{visit_id}", {"reason": reason})
    return visit


def confirm_visit(
    session: Session, visit_id: int, by: Actor, now: datetime, *, took_place: bool = True
) -> Visit:
    """The supporter says the visit took place (consumed) or did not (released, cancelled)."""
    visit = get_visit(session, visit_id, lock=True)
    if visit.status != VisitStatus.scheduled.value:
        raise VisitState(str(visit_id), visit.status, "confirm")
    region, _, _ = _parts(session, visit)
    if took_place and visit.day > local_today(region, now):
        raise VisitState(str(visit_id), visit.status, "confirm_early")
    allowance_id = _allowance_id(session, visit)
    if took_place:
        ledger.consume_visit(session, allowance_id, visit_id, by, now, reason="visit took place")
        visit.status = VisitStatus.completed.value
    else:
        ledger.release_visit(session, allowance_id, visit_id, by, now, reason="did not take place")
        visit.status = VisitStatus.cancelled.value
    outbox.cancel_pending(session, (SUBJECT, visit_id), now, REMINDERS)
    _touch(session, visit, now)
    record(session, by, now, "visit_confirmed", f"visit:{visit_id}", {"took_place": took_place})
    return visit


# --- reading -----------------------------------------------------------------------------


def list_visits(
    session: Session,
    *,
    period_id: int | None = None,
    region_id: int | None = None,
    status: str | None = None,
) -> list[Visit]:
    query = select(Visit)
    if period_id is not None:
        query = query.where(Visit.period_id == period_id)
    if region_id is not None:
        query = query.where(Visit.region_id == region_id)
    if status is not None:
        query = query.where(Visit.status == status)
    return list(session.exec(query.order_by(col(Visit.day), col(Visit.id))).all())


def describe(session: Session, visit: Visit) -> dict[str, Any]:
    region, supporter, period = _parts(session, visit)
    assert visit.id is not None
    proposal = open_proposal(session, visit.id)
    return {
        "id": visit.id,
        "region": region.code,
        "region_name": region.name,
        "supporter": supporter.name,
        "supporter_email": supporter.email,
        "period": period.code,
        "number": visit.number,
        "status": visit.status,
        "day": visit.day,
        "starts_at": visit.starts_at,
        "ends_at": visit.ends_at,
        "timezone": region.timezone,
        "window_from": visit.window_from,
        "window_to": visit.window_to,
        "proposal": proposal.id if proposal else None,
        "slots": slots_of(proposal) if proposal else [],
    }
