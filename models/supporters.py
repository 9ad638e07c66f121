"""Supporters' absences, with a stand-in who takes over their open requests.

An absence hands the absent supporter's open requests (scheduled with a day
in the absence, or approved and not yet scheduled) to the named stand-in in
the same transaction, records it in each request's history and tells the
stand-in, the region's contact and the team (outbox rows).

Working days, holidays and free capacity are time, and live in
`scheduling/supporters.py` (`is_available`, `capacity`); this module gives
them the facts: who is absent when, and which days are already planned.

Visits (critical-friend visits, another module) plug in at two named places:
`visit_days` (days a supporter is already out on a visit, counted as planned)
and the `visits` argument of `add_absence` (a `VisitMover`: what an absence
does to scheduled visits; the channels pass `scheduling.supporters.move_visits`
through `scheduling.supporters.register_absence`, since moving a visit needs the
planner, which lives in `scheduling/`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import outbox
from models import requests as rq
from models.actor import Actor
from models.audit import record
from models.errors import AbsenceOverlap, InvalidAbsence, UnknownAbsence, UnknownSupporter
from models.tables import (
    Contact,
    Region,
    RegionContact,
    RequestDay,
    RequestEvent,
    Supporter,
    SupporterAbsence,
    SupportRequest,
    Visit,
)
from models.types import RequestStatus, SupporterRole

# (session, supporter_id, starts_on, ends_on, by, now) -> ids of the visits it moved
VisitMover = Callable[[Session, int, date, date, Actor, datetime], list[int]]
WEEKDAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")
MAX_REASON = 500
# Requests that occupy a supporter's calendar days (completed ones count towards the month cap).
PLANNED = (RequestStatus.scheduled.value, RequestStatus.completed.value)
# Requests a supporter is working on: what a fair spread counts.
ASSIGNED_OPEN = (
    RequestStatus.submitted.value,
    RequestStatus.approved.value,
    RequestStatus.scheduled.value,
)


# ---- looking supporters up -------------------------------------------------------------


def find_supporter(session: Session, key: str | int, *, lock: bool = False) -> Supporter:
    """A supporter by id or email (case-insensitive)."""
    query = select(Supporter)
    if isinstance(key, int) or str(key).strip().isdigit():
        query = query.where(Supporter.id == int(key))
    else:
        query = query.where(func.lower(Supporter.email) == str(key).strip().lower())
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise UnknownSupporter(str(key))
    if lock:
        session.refresh(found)
    return found


def does_the_work(supporter: Supporter) -> bool:
    """Critical friends and specialists carry out requests; coordinators decide."""
    return supporter.active and supporter.role != SupporterRole.coordinator.value


def workers(session: Session) -> list[Supporter]:
    """Active supporters who carry out requests, by name."""
    rows = session.exec(
        select(Supporter)
        .where(Supporter.active, Supporter.role != SupporterRole.coordinator.value)
        .order_by(col(Supporter.name))
    ).all()
    return list(rows)


def weekdays_of(supporter: Supporter) -> frozenset[int]:
    """The supporter's working weekdays as date.weekday() numbers (ma = 0)."""
    words = {w.strip().lower() for w in supporter.working_days.split(";")}
    return frozenset(i for i, w in enumerate(WEEKDAYS) if w in words)


def themes_of(supporter: Supporter) -> list[str]:
    return [t.strip() for t in supporter.themes.split(";") if t.strip()]


# ---- absences --------------------------------------------------------------------------


@dataclass
class AbsenceResult:
    absence: SupporterAbsence
    handed_over: list[str] = field(default_factory=list)  # request refs, now the stand-in's
    uncovered: list[str] = field(default_factory=list)  # refs left without a stand-in
    visits: int = 0  # visits that ask for a new slot (see `VisitMover`)


def _overlapping(
    session: Session, supporter_id: int, start: date, end: date
) -> SupporterAbsence | None:
    return session.exec(
        select(SupporterAbsence)
        .where(
            SupporterAbsence.supporter_id == supporter_id,
            SupporterAbsence.starts_on <= end,
            SupporterAbsence.ends_on >= start,
        )
        .order_by(col(SupporterAbsence.starts_on))
    ).first()


def _lock_in_order(session: Session, ids: Iterable[int]) -> None:
    """Lock supporter rows in id order, so two absences registered at once never deadlock."""
    for supporter_id in sorted(set(ids)):
        find_supporter(session, supporter_id, lock=True)


def add_absence(
    session: Session,
    supporter: str | int,
    starts_on: date,
    ends_on: date,
    stand_in: str | int | None,
    reason: str,
    by: Actor,
    now: datetime,
    *,
    visits: VisitMover | None = None,
) -> AbsenceResult:
    """Record an absence and hand the supporter's open requests to the stand-in.

    `visits` moves the supporter's visits on those days (called after the
    absence row is flushed, in this transaction); see the module docstring.

    Refused (nothing changes) when the end lies before the start, the stand-in
    is the same person, inactive, a coordinator or away themselves, or the
    supporter is already away on any of these days.
    """
    absent = find_supporter(session, supporter)
    substitute = find_supporter(session, stand_in) if stand_in not in (None, "") else None
    assert absent.id is not None
    # Lock the scarce rows (the two supporters), then check, then write.
    _lock_in_order(session, [absent.id] + ([substitute.id] if substitute and substitute.id else []))
    reason = reason.strip()
    if ends_on < starts_on:
        raise InvalidAbsence("ends_on", "reversed", ends_on.isoformat())
    if len(reason) > MAX_REASON:
        raise InvalidAbsence("reason", "too_long", str(MAX_REASON))
    if substitute is not None:
        assert substitute.id is not None
        if substitute.id == absent.id:
            raise InvalidAbsence("stand_in", "same_person", substitute.email)
        if not substitute.active:
            raise InvalidAbsence("stand_in", "inactive", substitute.name)
        if substitute.role == SupporterRole.coordinator.value:
            raise InvalidAbsence("stand_in", "coordinator", substitute.name)
        away = _overlapping(session, substitute.id, starts_on, ends_on)
        if away is not None:
            raise InvalidAbsence(
                "stand_in", "absent", f"{away.starts_on.isoformat()}/{away.ends_on.isoformat()}"
            )
    clash = _overlapping(session, absent.id, starts_on, ends_on)
    if clash is not None:
        assert clash.id is not None
        raise AbsenceOverlap(
            absent.name,
            starts_on.isoformat(),
            ends_on.isoformat(),
            clash.id,
            clash.starts_on.isoformat(),
            clash.ends_on.isoformat(),
        )
    absence = SupporterAbsence(
        supporter_id=absent.id,
        starts_on=starts_on,
        ends_on=ends_on,
        stand_in_id=substitute.id if substitute else None,
        reason=reason,
    )
    session.add(absence)
    session.flush()
    assert absence.id is not None
    result = AbsenceResult(absence)
    for request in affected_requests(session, absent.id, starts_on, ends_on):
        if substitute is None:
            result.uncovered.append(request.ref)
            continue
        _hand_over(session, request, absent, substitute, absence, by, now)
        result.handed_over.append(request.ref)
    if visits is not None:
        result.visits = len(visits(session, absent.id, starts_on, ends_on, by, now))
    record(
        session,
        by,
        now,
        "supporter.absent",
        absent.email,
        {
            "absence": absence.id,
            "from": starts_on.isoformat(),
            "to": ends_on.isoformat(),
            "stand_in": substitute.email if substitute else None,
            "handed_over": result.handed_over,
        },
    )
    _tell(session, absence, absent, substitute, result, now)
    return result


def affected_requests(
    session: Session, supporter_id: int, start: date, end: date
) -> list[SupportRequest]:
    """Open requests an absence takes out of the supporter's hands.

    Scheduled with a day in the absence, or approved and not yet scheduled.
    """
    scheduled_in = (
        select(RequestDay.request_id)
        .where(RequestDay.day >= start, RequestDay.day <= end)
        .scalar_subquery()
    )
    query = (
        select(SupportRequest)
        .where(
            SupportRequest.assigned_supporter_id == supporter_id,
            (col(SupportRequest.status) == RequestStatus.approved.value)
            | (
                (col(SupportRequest.status) == RequestStatus.scheduled.value)
                & col(SupportRequest.id).in_(scheduled_in)
            ),
        )
        .order_by(col(SupportRequest.id))
    )
    return list(session.exec(query).all())


def _hand_over(
    session: Session,
    request: SupportRequest,
    absent: Supporter,
    substitute: Supporter,
    absence: SupporterAbsence,
    by: Actor,
    now: datetime,
) -> None:
    # `assign` locks the request, checks it is open, records it and tells the
    # requester and the team; the history row says why it moved.
    rq.assign(session, request.ref, by, now, supporter_email=substitute.email)
    assert request.id is not None
    if request.requester_contact_id is None:  # nobody asked by name: tell the region's contacts
        data = rq.describe(session, request)
        context = {
            "ref": request.ref,
            "region": data["region"],
            "region_name": data["region_name"],
            "days": str(data["days"]),
            "kind": request.kind,
            "status": request.status,
            "theme": request.theme,
            "dates": [d.isoformat() for d in data["dates"]],
            "supporter": substitute.name,
        }
        for contact in region_contacts(session, request.region_id):
            outbox.to_contact(
                session,
                contact,
                key=f"absence:{absence.id}:request:{request.ref}:contact:{contact.id}",
                template="request_assigned",
                now=now,
                context=context,
                subject=("request", request.id),
            )
    session.add(
        RequestEvent(
            request_id=request.id,
            from_status=request.status,
            to_status=request.status,
            actor=by.name,
            channel=by.channel.value,
            reason=(
                f"{absent.email} -> {substitute.email} "
                f"({absence.starts_on.isoformat()}/{absence.ends_on.isoformat()})"
            ),
            at=now,
        )
    )
    session.flush()


def _request_lines(session: Session, refs: list[str]) -> list[dict[str, Any]]:
    lines = []
    for ref in refs:
        data = rq.describe(session, rq.get_request(session, ref))
        lines.append(
            {
                "ref": data["ref"],
                "region": data["region"],
                "region_name": data["region_name"],
                "status": data["status"],
                "dates": [d.isoformat() for d in data["dates"]],
            }
        )
    return lines


def _tell(
    session: Session,
    absence: SupporterAbsence,
    absent: Supporter,
    substitute: Supporter | None,
    result: AbsenceResult,
    now: datetime,
) -> None:
    """The stand-in and the team hear of the absence (the contacts hear through `assign`)."""
    assert absence.id is not None
    context: dict[str, Any] = {
        "absent": absent.name,
        "stand_in": substitute.name if substitute else "",
        "starts_on": absence.starts_on.isoformat(),
        "ends_on": absence.ends_on.isoformat(),
        "reason": absence.reason,
        "requests": _request_lines(session, result.handed_over or result.uncovered),
        "uncovered": bool(result.uncovered),
    }
    subject = ("absence", absence.id)
    if substitute is not None:
        outbox.to_supporter(
            session,
            substitute,
            key=f"absence:{absence.id}:stand_in",
            template="absence_stand_in",
            now=now,
            context=context,
            subject=subject,
        )
    outbox.enqueue(
        session,
        key=f"absence:{absence.id}:team",
        template="absence_team",
        channel=outbox.OutboxChannel.team,
        recipient="",
        now=now,
        context=context,
        subject=subject,
    )


def get_absence(session: Session, absence_id: int | str, *, lock: bool = False) -> SupporterAbsence:
    """An absence by its number (as `sto supporters absences` shows it)."""
    try:
        number = int(str(absence_id).strip())
    except ValueError:
        raise UnknownAbsence(str(absence_id)) from None
    absence = session.get(SupporterAbsence, number, with_for_update=lock)
    if absence is None:
        raise UnknownAbsence(str(absence_id))
    return absence


def remove_absence(
    session: Session, absence_id: int | str, by: Actor, now: datetime
) -> SupporterAbsence:
    """The supporter is present after all: the absence goes (what was handed over stays)."""
    absence = get_absence(session, absence_id, lock=True)
    number = absence.id
    assert number is not None
    supporter = session.get(Supporter, absence.supporter_id)
    assert supporter is not None
    record(
        session,
        by,
        now,
        "supporter.present",
        supporter.email,
        {
            "absence": absence.id,
            "from": absence.starts_on.isoformat(),
            "to": absence.ends_on.isoformat(),
        },
    )
    outbox.cancel_pending(session, ("absence", number), now)
    session.delete(absence)
    session.flush()
    return absence


def absences(
    session: Session,
    *,
    supporter_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[SupporterAbsence]:
    """Absences, earliest first; `since`/`until` keep those that touch that window."""
    query = select(SupporterAbsence)
    if supporter_id is not None:
        query = query.where(SupporterAbsence.supporter_id == supporter_id)
    if since is not None:
        query = query.where(SupporterAbsence.ends_on >= since)
    if until is not None:
        query = query.where(SupporterAbsence.starts_on <= until)
    order = (col(SupporterAbsence.starts_on), col(SupporterAbsence.id))
    return list(session.exec(query.order_by(*order)).all())


def absent_days(session: Session, supporter_id: int, start: date, end: date) -> set[date]:
    """The days from start to end (inclusive) on which the supporter is away."""
    days: set[date] = set()
    for a in absences(session, supporter_id=supporter_id, since=start, until=end):
        day = max(a.starts_on, start)
        while day <= min(a.ends_on, end):
            days.add(day)
            day = date.fromordinal(day.toordinal() + 1)
    return days


def absent_on(session: Session, supporter_id: int, day: date) -> SupporterAbsence | None:
    found = absences(session, supporter_id=supporter_id, since=day, until=day)
    return found[0] if found else None


def describe_absence(session: Session, absence: SupporterAbsence) -> dict[str, Any]:
    supporter = session.get(Supporter, absence.supporter_id)
    stand_in = session.get(Supporter, absence.stand_in_id) if absence.stand_in_id else None
    assert supporter is not None
    return {
        "id": absence.id,
        "supporter": supporter.email,
        "supporter_name": supporter.name,
        "starts_on": absence.starts_on,
        "ends_on": absence.ends_on,
        "stand_in": stand_in.email if stand_in else None,
        "stand_in_name": stand_in.name if stand_in else None,
        "reason": absence.reason,
    }


# ---- what is already planned -------------------------------------------------------------


def planned_days(
    session: Session,
    supporter_id: int,
    start: date,
    end: date,
    *,
    exclude_request_id: int | None = None,
) -> dict[date, list[str]]:
    """Days from start to end on which the supporter already works: day -> what (refs)."""
    query = (
        select(col(RequestDay.day), col(SupportRequest.ref))
        .join(SupportRequest, col(SupportRequest.id) == col(RequestDay.request_id))
        .where(
            SupportRequest.assigned_supporter_id == supporter_id,
            col(SupportRequest.status).in_(PLANNED),
            RequestDay.day >= start,
            RequestDay.day <= end,
        )
    )
    if exclude_request_id is not None:
        query = query.where(SupportRequest.id != exclude_request_id)
    days: dict[date, list[str]] = defaultdict(list)
    for day, ref in session.exec(query).all():
        days[day].append(ref)
    for day, label in visit_days(session, supporter_id, start, end).items():
        days[day].append(label)
    return dict(days)


def visit_days(session: Session, supporter_id: int, start: date, end: date) -> dict[date, str]:
    """The days the supporter is out on a scheduled critical-friend visit (day -> "visit:ID").

    Capacity and ranking count these days as planned.
    """
    visits = session.exec(
        select(Visit).where(
            Visit.supporter_id == supporter_id,
            Visit.status == "scheduled",
            col(Visit.day) >= start,
            col(Visit.day) <= end,
        )
    ).all()
    return {visit.day: f"visit:{visit.id}" for visit in visits}


def open_assignments(
    session: Session, supporter_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Open requests per supporter (submitted, approved or scheduled): the fair-spread count."""
    query = (
        select(SupportRequest.assigned_supporter_id, func.count())
        .where(
            col(SupportRequest.assigned_supporter_id).is_not(None),
            col(SupportRequest.status).in_(ASSIGNED_OPEN),
        )
        .group_by(col(SupportRequest.assigned_supporter_id))
    )
    if supporter_ids is not None:
        query = query.where(col(SupportRequest.assigned_supporter_id).in_(list(supporter_ids)))
    return {int(k): int(v) for k, v in session.exec(query).all() if k is not None}


def region_contacts(session: Session, region_id: int) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .join(RegionContact, col(RegionContact.contact_id) == col(Contact.id))
            .where(RegionContact.region_id == region_id)
            .order_by(col(Contact.id))
        ).all()
    )


def critical_friend_regions(session: Session, supporter_id: int) -> list[str]:
    return list(
        session.exec(
            select(Region.code)
            .where(Region.critical_friend_id == supporter_id)
            .order_by(col(Region.code))
        ).all()
    )
