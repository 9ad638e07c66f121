"""The support-request lifecycle: one function per thing a person does.

    submitted (days reserved) -> approved -> scheduled -> completed (consumed)
    submitted | approved | scheduled -> cancelled (released)
    submitted -> rejected (released)

Every transition locks the request row, re-checks the state it starts from,
changes it and appends to the history, inside the caller's transaction: so
two people approving or cancelling at once cannot both win.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from models import homes, ledger, outbox
from models.actor import Actor
from models.audit import record
from models.errors import IllegalTransition, InvalidRequest, UnknownRequest
from models.periods import period_on
from models.quantity import from_units
from models.regions import get_region, get_supporter
from models.request_proposal_state import withdraw_open
from models.tables import (
    Allowance,
    Contact,
    Period,
    RefCounter,
    Region,
    RequestDay,
    RequestEvent,
    Supporter,
    SupportRequest,
)
from models.types import AllowanceKind, RequestStatus, SupportKind

S = RequestStatus
ALLOWED: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.submitted: frozenset({S.approved, S.rejected, S.cancelled}),
    S.approved: frozenset({S.scheduled, S.cancelled}),
    S.scheduled: frozenset({S.scheduled, S.completed, S.cancelled}),
    S.completed: frozenset(),
    S.rejected: frozenset(),
    S.cancelled: frozenset(),
}
OPEN = frozenset({S.submitted, S.approved, S.scheduled})
MAX_TEXT = 4000


@dataclass(frozen=True)
class NewRequest:
    region: str
    kind: str
    half_days: int
    theme: str = ""
    description: str = ""
    preferred_period: str = ""
    preferred_from: date | None = None
    preferred_to: date | None = None
    requester_contact_id: int | None = None


def region_today(region: Region, now: datetime) -> date:
    return now.astimezone(zoneinfo.ZoneInfo(region.timezone)).date()


def _validate(new: NewRequest, today: date) -> SupportKind:
    try:
        kind = SupportKind(new.kind)
    except ValueError:
        raise InvalidRequest("kind", "unknown", new.kind) from None
    if new.half_days <= 0:
        raise InvalidRequest("days", "not_positive", str(new.half_days))
    if new.preferred_from and new.preferred_to and new.preferred_to < new.preferred_from:
        raise InvalidRequest("preferred_period", "reversed", new.preferred_period)
    if (new.preferred_to or new.preferred_from or today) < today:
        raise InvalidRequest("preferred_period", "in_past", new.preferred_period)
    if len(new.description) > MAX_TEXT:
        raise InvalidRequest("description", "too_long", str(MAX_TEXT))
    if len(new.theme) > 200:
        raise InvalidRequest("theme", "too_long", "200")
    return kind


def _next_ref(session: Session, year: int) -> str:
    """Hand out the next number of the year; the UPDATE itself serialises callers."""
    connection = session.connection()
    connection.execute(_NEW_YEAR[connection.dialect.name], {"year": year, "last": 0})
    number = connection.execute(_NEXT_NUMBER, {"of_year": year}).scalar_one()
    return f"STO-{year}-{number:04d}"


# Built once (a submission is on the hot path of every channel).
_NEW_YEAR = {
    dialect: insert(RefCounter).on_conflict_do_nothing(index_elements=["year"])
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_NEXT_NUMBER = (
    update(RefCounter)
    .where(col(RefCounter.year) == bindparam("of_year"))
    .values(last=col(RefCounter.last) + 1)
    .returning(col(RefCounter.last))
)


def submit(
    session: Session,
    new: NewRequest,
    by: Actor,
    now: datetime,
    *,
    reply: Mapping[str, Any] | None = None,
) -> SupportRequest:
    """Record a request and reserve its days, or refuse with what is left.

    `reply`: the mail this answers (its thread headers), when it came by mail.
    """
    region = get_region(session, new.region)
    today = region_today(region, now)
    kind = _validate(new, today)
    # A window that began earlier books where it can still happen: from today on.
    period = period_on(session, max(new.preferred_from or today, today))
    allowance = ledger.find_allowance(
        session, region, period, AllowanceKind.support_days, lock=True
    )
    # Refuse before a number is spent; `reserve` checks again under the same lock.
    ledger.require_available(session, allowance, new.half_days)
    assert region.id is not None and period.id is not None and allowance.id is not None
    request = SupportRequest(
        ref=_next_ref(session, today.year),
        region_id=region.id,
        period_id=period.id,
        requester_contact_id=new.requester_contact_id,
        requested_by=by.name,
        kind=kind.value,
        half_days=new.half_days,
        theme=new.theme.strip(),
        preferred_period=new.preferred_period.strip(),
        preferred_from=new.preferred_from,
        preferred_to=new.preferred_to,
        description=new.description.strip(),
        channel=by.channel.value,
        status=S.submitted.value,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    assert request.id is not None
    ledger.reserve(session, allowance.id, new.half_days, request.id, by, now)
    event = _event(session, request, None, S.submitted, by, now)
    _announce(session, request, "submitted", f"request:{request.ref}:{event.id}", now, reply)
    return request


def get_request(session: Session, ref: str, *, lock: bool = False) -> SupportRequest:
    query = select(SupportRequest).where(SupportRequest.ref == ref.strip().upper())
    if lock:
        # populate_existing: a row cached earlier in this session would hide a change.
        query = query.with_for_update().execution_options(populate_existing=True)
    request = session.exec(query).first()
    if request is None:
        raise UnknownRequest(ref)
    return request


def _event(
    session: Session,
    request: SupportRequest,
    source: RequestStatus | None,
    target: RequestStatus,
    by: Actor,
    now: datetime,
    reason: str = "",
) -> RequestEvent:
    assert request.id is not None
    event = RequestEvent(
        request_id=request.id,
        from_status=source.value if source else None,
        to_status=target.value,
        actor=by.name,
        channel=by.channel.value,
        reason=reason,
        at=now,
    )
    session.add(event)
    session.flush()
    return event


def _announce(
    session: Session,
    request: SupportRequest,
    what: str,
    key: str,
    now: datetime,
    reply: Mapping[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Tell the requester (Slack DM or mail), refresh the team's card and the App Homes
    that show the region, in this transaction."""
    assert request.id is not None
    region = session.get(Region, request.region_id)
    assert region is not None
    context: dict[str, Any] = {
        "ref": request.ref,
        "region": region.code,
        "region_name": region.name,
        "days": str(from_units(request.half_days, AllowanceKind.support_days)),
        "kind": request.kind,
        "status": request.status,
        "theme": request.theme,
        # The days, so a mail can carry (or cancel) its calendar invitation.
        "dates": [d.isoformat() for d in days_of(session, request)],
        **extra,
    }
    subject = ("request", request.id)
    if request.requester_contact_id is not None:
        contact = session.get(Contact, request.requester_contact_id)
        if contact is not None:
            outbox.to_contact(
                session,
                contact,
                key=f"{key}:requester",
                template=f"request_{what}",
                now=now,
                context=context,
                subject=subject,
                reply=reply,
            )
    outbox.enqueue(
        session,
        key=f"{key}:team",
        template="team_request",
        channel=outbox.OutboxChannel.team,
        recipient="",
        now=now,
        context=context,
        subject=subject,
    )
    homes.region_changed(session, request.region_id, now)


def _begin(
    session: Session, ref: str, target: RequestStatus
) -> tuple[SupportRequest, RequestStatus]:
    request = get_request(session, ref, lock=True)
    current = RequestStatus(request.status)
    if target not in ALLOWED[current]:
        raise IllegalTransition(request.ref, current.value, target.value)
    return request, current


def _finish(
    session: Session,
    request: SupportRequest,
    current: RequestStatus,
    target: RequestStatus,
    by: Actor,
    now: datetime,
    reason: str = "",
    reply: Mapping[str, Any] | None = None,
) -> SupportRequest:
    request.status = target.value
    request.updated_at = now
    session.add(request)
    event = _event(session, request, current, target, by, now, reason)
    if target is not S.approved:  # dates are proposed and chosen only while approved
        withdraw_open(session, request, by, now)
    key = f"request:{request.ref}:{event.id}"
    _announce(session, request, target.value, key, now, reply, reason=reason)
    return request


def _allowance_id(session: Session, request: SupportRequest) -> int:
    allowance = session.exec(
        select(Allowance).where(
            Allowance.region_id == request.region_id,
            Allowance.period_id == request.period_id,
            Allowance.kind == AllowanceKind.support_days.value,
        )
    ).one()
    assert allowance.id is not None
    return allowance.id


def approve(session: Session, ref: str, by: Actor, now: datetime) -> SupportRequest:
    request, current = _begin(session, ref, S.approved)
    return _finish(session, request, current, S.approved, by, now)


def reject(session: Session, ref: str, by: Actor, now: datetime, *, reason: str) -> SupportRequest:
    if not reason.strip():
        raise InvalidRequest("reason", "required")
    request, current = _begin(session, ref, S.rejected)
    assert request.id is not None
    ledger.release(session, _allowance_id(session, request), request.id, by, now, reason=reason)
    return _finish(session, request, current, S.rejected, by, now, reason.strip())


def cancel(
    session: Session,
    ref: str,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
    reply: Mapping[str, Any] | None = None,
) -> SupportRequest:
    request, current = _begin(session, ref, S.cancelled)
    assert request.id is not None
    ledger.release(session, _allowance_id(session, request), request.id, by, now, reason=reason)
    return _finish(session, request, current, S.cancelled, by, now, reason.strip(), reply)


def schedule(
    session: Session, ref: str, by: Actor, now: datetime, *, days: list[date]
) -> SupportRequest:
    """Fix the calendar dates; a scheduled request may be moved to new dates."""
    request, current = _begin(session, ref, S.scheduled)
    region = session.get(Region, request.region_id)
    period = session.get(Period, request.period_id)
    assert region is not None and period is not None and request.id is not None
    unique = sorted(set(days))
    needed = math.ceil(request.half_days / 2)
    if len(unique) != needed:
        raise InvalidRequest("dates", "count", str(needed))
    today = region_today(region, now)
    for day in unique:
        if day < today:
            raise InvalidRequest("dates", "in_past", day.isoformat())
        if not period.starts_on <= day <= period.ends_on:
            raise InvalidRequest("dates", "outside_period", day.isoformat())
    for old in session.exec(select(RequestDay).where(RequestDay.request_id == request.id)).all():
        session.delete(old)
    session.flush()
    for day in unique:
        session.add(RequestDay(request_id=request.id, day=day))
    reason = ", ".join(d.isoformat() for d in unique)
    return _finish(session, request, current, S.scheduled, by, now, reason)


def complete(
    session: Session, ref: str, by: Actor, now: datetime, *, used_half_days: int | None = None
) -> SupportRequest:
    """Consume what was used (all by default) and release the rest."""
    request, current = _begin(session, ref, S.completed)
    assert request.id is not None
    allowance_id = _allowance_id(session, request)
    held = ledger.reserved_for(session, allowance_id, request.id)
    used = held if used_half_days is None else used_half_days
    if used < 0:
        raise InvalidRequest("used", "negative", str(used))
    ledger.consume(session, allowance_id, request.id, used, by, now, ref=request.ref)
    ledger.release(session, allowance_id, request.id, by, now, reason="not used")
    reason = str(from_units(used, AllowanceKind.support_days))
    return _finish(session, request, current, S.completed, by, now, reason)


def assign(
    session: Session, ref: str, by: Actor, now: datetime, *, supporter_email: str
) -> SupportRequest:
    """Put a supporter on an open request (recorded in the audit log)."""
    request = get_request(session, ref, lock=True)
    if RequestStatus(request.status) not in OPEN:
        raise IllegalTransition(request.ref, request.status, "assigned")
    supporter = get_supporter(session, supporter_email)
    request.assigned_supporter_id = supporter.id
    request.updated_at = now
    session.add(request)
    entry = record(session, by, now, "request.assign", request.ref, {"supporter": supporter.email})
    _announce(
        session,
        request,
        "assigned",
        f"request:{request.ref}:assign:{entry.id}",
        now,
        supporter=supporter.name,
    )
    _tell_assigned(session, request, supporter, f"request:{request.ref}:assign:{entry.id}", now)
    return request


def _tell_assigned(
    session: Session, request: SupportRequest, supporter: Supporter, key: str, now: datetime
) -> None:
    """The supporter hears that the request is theirs (in Slack with a button to propose
    dates, else by mail), in the assignment's transaction."""
    assert request.id is not None
    region = session.get(Region, request.region_id)
    assert region is not None
    outbox.to_supporter(
        session,
        supporter,
        key=f"{key}:supporter",
        template="request_assigned_supporter",
        now=now,
        context={
            "ref": request.ref,
            "region": region.code,
            "region_name": region.name,
            "days": str(from_units(request.half_days, AllowanceKind.support_days)),
            "kind": request.kind,
            "theme": request.theme,
            "status": request.status,
        },
        subject=("request", request.id),
    )


def days_of(session: Session, request: SupportRequest) -> list[date]:
    rows = session.exec(
        select(RequestDay).where(RequestDay.request_id == request.id).order_by(col(RequestDay.day))
    ).all()
    return [row.day for row in rows]


def events_of(session: Session, request: SupportRequest) -> list[RequestEvent]:
    return list(
        session.exec(
            select(RequestEvent)
            .where(RequestEvent.request_id == request.id)
            .order_by(col(RequestEvent.id))
        ).all()
    )


def describe(session: Session, request: SupportRequest) -> dict[str, Any]:
    """A request as plain data, for every channel that shows one."""
    region = session.get(Region, request.region_id)
    supporter = (
        session.get(Supporter, request.assigned_supporter_id)
        if request.assigned_supporter_id
        else None
    )
    requester = (
        session.get(Contact, request.requester_contact_id) if request.requester_contact_id else None
    )
    assert region is not None
    return {
        "ref": request.ref,
        "region": region.code,
        "region_name": region.name,
        "status": request.status,
        "kind": request.kind,
        "days": from_units(request.half_days, AllowanceKind.support_days),
        "channel": request.channel,
        "theme": request.theme,
        "preferred_period": request.preferred_period,
        "preferred_from": request.preferred_from,
        "preferred_to": request.preferred_to,
        "description": request.description,
        "requested_by": request.requested_by,
        "assigned_supporter": supporter.email if supporter else None,
        "assigned_supporter_name": supporter.name if supporter else None,
        "requester_name": requester.name if requester else request.requested_by,
        "dates": days_of(session, request),
        "created_at": request.created_at,
        "updated_at": request.updated_at,
    }


def open_requests(
    session: Session,
    *,
    region_codes: tuple[str, ...] | None = None,
    supporter_id: int | None = None,
    statuses: frozenset[RequestStatus] = OPEN,
) -> list[SupportRequest]:
    """Open requests of some regions, or assigned to a supporter, oldest first."""
    query = select(SupportRequest).where(
        col(SupportRequest.status).in_(sorted(s.value for s in statuses))
    )
    if region_codes is not None:
        query = query.join(Region, col(Region.id) == col(SupportRequest.region_id)).where(
            col(Region.code).in_(region_codes)
        )
    if supporter_id is not None:
        query = query.where(SupportRequest.assigned_supporter_id == supporter_id)
    return list(session.exec(query.order_by(col(SupportRequest.id))).all())
