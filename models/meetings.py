"""Theme meetings and their registrations: one function per thing a person does.

Capacity is derived, never counted: the seats taken are the registrations with
status `registered`. Every verb that can take or free a seat first locks the
meeting row (`SELECT … FOR UPDATE` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite
already serialises writers), then counts, then writes, inside the caller's
transaction: so never more registered than capacity, whatever the concurrency.

Rules:
- registering after the deadline or after the start is refused (`MeetingClosed`);
- an address with an open (registered or waitlisted) registration is refused
  (`AlreadyRegistered`, with its status and place): a channel answers with that;
- a seat is free when fewer are registered than capacity and the region has not
  reached the per-region maximum; otherwise the person joins the waitlist,
  first come first served (created_at, id);
- a cancellation frees a seat, and only before the deadline and before the start
  is the first in line who fits the per-region maximum promoted at once;
  after the deadline only the team promotes (`promote_next`), never after the start;
- with `new_regions_first`, people from regions that have nobody registered yet
  go first in line (first come first served within each group); the order is
  read afresh after every promotion, as a promoted person's region is no longer new.

Everyone who gets a seat gets a reminder 48 hours before the start (an outbox
row due then, or none when that moment has passed); it goes with their
registration (cancelled with it) and is re-timed when the meeting changes.

Every message is an outbox row written in the same transaction, by email to
the registration's address (registrants may be colleagues without an account).
The team's App Homes list the upcoming meetings: every change asks for them
(`homes.team_changed`).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import homes, outbox
from models.actor import Actor
from models.audit import record
from models.errors import (
    AlreadyRegistered,
    CapacityBelowRegistered,
    InvalidMeeting,
    MeetingClosed,
    UnknownMeeting,
    UnknownRegistration,
)
from models.regions import get_region
from models.tables import Contact, Registration, ThemeMeeting
from models.types import MeetingStatus, RegistrationStatus

R = RegistrationStatus
OPEN = (R.registered.value, R.waitlisted.value)
SUBJECT = "registration"
REMIND_BEFORE = timedelta(hours=48)
# Fields whose change is the team's business only: no new version, nobody is told.
QUIET_FIELDS = frozenset({"new_regions_first"})
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- errors (to move to models/errors.py; their sentences are in meetings.j2) ---


@dataclass(frozen=True)
class MeetingFields:
    title: str
    theme: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str
    online_url: str
    capacity: int
    registration_deadline: datetime
    max_per_region: int | None
    new_regions_first: bool = False


def _validate(f: MeetingFields) -> None:
    if not f.title.strip():
        raise InvalidMeeting("title", "empty")
    if len(f.title) > 300:
        raise InvalidMeeting("title", "too_long", "300")
    for name, value in (
        ("starts_at", f.starts_at),
        ("ends_at", f.ends_at),
        ("registration_deadline", f.registration_deadline),
    ):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidMeeting(name, "naive", value.isoformat())
    if f.ends_at <= f.starts_at:
        raise InvalidMeeting("ends_at", "not_after_start", f.ends_at.isoformat())
    if f.registration_deadline > f.starts_at:
        raise InvalidMeeting(
            "registration_deadline", "after_start", f.registration_deadline.isoformat()
        )
    if f.capacity < 1:
        raise InvalidMeeting("capacity", "not_positive", str(f.capacity))
    if f.max_per_region is not None and f.max_per_region < 1:
        raise InvalidMeeting("max_per_region", "not_positive", str(f.max_per_region))
    try:
        zoneinfo.ZoneInfo(f.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidMeeting("timezone", "unknown", f.timezone) from None
    if not f.location.strip() and not f.online_url.strip():
        raise InvalidMeeting("location", "missing")


def _fields(m: ThemeMeeting) -> MeetingFields:
    return MeetingFields(
        title=m.title,
        theme=m.theme,
        description=m.description,
        starts_at=m.starts_at,
        ends_at=m.ends_at,
        timezone=m.timezone,
        location=m.location,
        online_url=m.online_url,
        capacity=m.capacity,
        registration_deadline=m.registration_deadline,
        max_per_region=m.max_per_region,
        new_regions_first=m.new_regions_first,
    )


def _new_code(session: Session, year: int) -> str:
    """The next "TB-2027-03" of the meeting's year (the unique column catches a race)."""
    prefix = f"TB-{year}-"
    codes = session.exec(
        select(ThemeMeeting.code).where(col(ThemeMeeting.code).startswith(prefix))
    ).all()
    numbers = [int(c[len(prefix) :]) for c in codes if c[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:02d}"


def create_meeting(
    session: Session,
    *,
    title: str,
    theme: str,
    description: str,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    location: str,
    online_url: str,
    capacity: int,
    registration_deadline: datetime,
    max_per_region: int | None = None,
    new_regions_first: bool = False,
    by: Actor,
    now: datetime,
) -> ThemeMeeting:
    """A new meeting with a code people can type in a mail: TB-<year of the start>-NN."""
    fields = MeetingFields(
        title=title.strip(),
        theme=theme.strip(),
        description=description.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=timezone,
        location=location.strip(),
        online_url=online_url.strip(),
        capacity=capacity,
        registration_deadline=registration_deadline,
        max_per_region=max_per_region,
        new_regions_first=new_regions_first,
    )
    _validate(fields)
    if starts_at <= now:
        raise InvalidMeeting("starts_at", "in_past", starts_at.isoformat())
    year = starts_at.astimezone(zoneinfo.ZoneInfo(timezone)).year
    for _attempt in range(20):
        meeting = ThemeMeeting(
            code=_new_code(session, year),
            **fields.__dict__,
            status=MeetingStatus.scheduled.value,
            sequence=0,
            created_at=now,
        )
        try:
            with session.begin_nested():  # another transaction may take the same code
                session.add(meeting)
        except IntegrityError:
            continue
        record(session, by, now, "meeting.create", meeting.code, {"title": meeting.title})
        homes.team_changed(session, now)
        return meeting
    raise InvalidMeeting("code", "taken")


def _lock(session: Session, code: str) -> ThemeMeeting:
    meeting = session.exec(
        select(ThemeMeeting)
        .where(func.upper(ThemeMeeting.code) == code.strip().upper())
        .with_for_update()
    ).first()
    if meeting is None:
        raise UnknownMeeting(code)
    session.refresh(meeting)  # a row cached earlier in this session would hide a change
    return meeting


def get_meeting(session: Session, code: str) -> ThemeMeeting:
    meeting = session.exec(
        select(ThemeMeeting).where(func.upper(ThemeMeeting.code) == code.strip().upper())
    ).first()
    if meeting is None:
        raise UnknownMeeting(code)
    return meeting


def list_meetings(
    session: Session, *, now: datetime | None = None, include_cancelled: bool = False
) -> list[ThemeMeeting]:
    """Meetings by start; with `now`, only those that have not ended."""
    stmt = select(ThemeMeeting).order_by(col(ThemeMeeting.starts_at), col(ThemeMeeting.id))
    if now is not None:
        stmt = stmt.where(ThemeMeeting.ends_at > now)
    if not include_cancelled:
        stmt = stmt.where(ThemeMeeting.status == MeetingStatus.scheduled.value)
    return list(session.exec(stmt).all())


def edit_meeting(
    session: Session,
    code: str,
    *,
    by: Actor,
    now: datetime,
    **changes: Any,
) -> ThemeMeeting:
    """Change fields of a meeting (names as in `create_meeting`); SEQUENCE goes up.

    Capacity may not go below the number registered: nobody is ever un-registered.
    Room that opens up (more capacity, a higher per-region maximum) goes to the
    waitlist in order, under the same rules as a cancellation. Everyone
    registered is told, in the same transaction.
    """
    meeting = _lock(session, code)
    if meeting.status == MeetingStatus.cancelled.value:
        raise MeetingClosed(meeting.code, "cancelled")
    current = _fields(meeting).__dict__
    unknown = set(changes) - set(current)
    if unknown:
        raise InvalidMeeting(sorted(unknown)[0], "unknown")
    changed = {k: v for k, v in changes.items() if current[k] != v}
    if not changed:
        return meeting
    fields = MeetingFields(**{**current, **changed})
    _validate(fields)
    registered = _count(session, meeting)
    if fields.capacity < registered:
        raise CapacityBelowRegistered(meeting.code, fields.capacity, registered)
    for name, value in changed.items():
        setattr(meeting, name, value)
    quiet = set(changed) <= QUIET_FIELDS
    if not quiet:
        meeting.sequence += 1
    session.add(meeting)
    session.flush()
    record(
        session,
        by,
        now,
        "meeting.edit",
        meeting.code,
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changed.items()},
    )
    homes.team_changed(session, now)
    for reg in [] if quiet else _with_status(session, meeting, R.registered):
        _tell(session, meeting, reg, "meeting_changed", now, key=f"changed:{meeting.sequence}")
        _remind(session, meeting, reg, now, retime=True)
    if _may_promote(meeting, now):
        _promote(session, meeting, by, now)
    return meeting


def cancel_meeting(session: Session, code: str, *, by: Actor, now: datetime) -> ThemeMeeting:
    """Cancel the meeting and tell everyone registered or waitlisted (SEQUENCE goes up)."""
    meeting = _lock(session, code)
    if meeting.status == MeetingStatus.cancelled.value:
        return meeting
    meeting.status = MeetingStatus.cancelled.value
    meeting.sequence += 1
    session.add(meeting)
    session.flush()
    record(session, by, now, "meeting.cancel", meeting.code)
    homes.team_changed(session, now)
    assert meeting.id is not None
    outbox.cancel_pending(session, ("meeting", meeting.id), now)  # announcements not yet sent
    for reg in _open(session, meeting):
        assert reg.id is not None
        outbox.cancel_pending(session, (SUBJECT, reg.id), now)
        place = _place(session, meeting, reg)  # the waitlist had no invitation to withdraw
        _tell(session, meeting, reg, "meeting_cancelled", now, key="cancelled", place=place)
    return meeting


# --- registrations ---


def _count(session: Session, meeting: ThemeMeeting, region_id: int | None = None) -> int:
    stmt = select(func.count()).where(
        Registration.meeting_id == meeting.id, Registration.status == R.registered.value
    )
    if region_id is not None:
        stmt = stmt.where(Registration.region_id == region_id)
    return int(session.exec(stmt).one())


def _with_status(
    session: Session, meeting: ThemeMeeting, status: RegistrationStatus
) -> list[Registration]:
    return list(
        session.exec(
            select(Registration)
            .where(Registration.meeting_id == meeting.id, Registration.status == status.value)
            .order_by(col(Registration.created_at), col(Registration.id))
        ).all()
    )


def _open(session: Session, meeting: ThemeMeeting) -> list[Registration]:
    return list(
        session.exec(
            select(Registration)
            .where(Registration.meeting_id == meeting.id, col(Registration.status).in_(OPEN))
            .order_by(col(Registration.created_at), col(Registration.id))
        ).all()
    )


def _fits(session: Session, meeting: ThemeMeeting, region_id: int | None) -> bool:
    if _count(session, meeting) >= meeting.capacity:
        return False
    if meeting.max_per_region is None or region_id is None:
        return True
    return _count(session, meeting, region_id) < meeting.max_per_region


def _line(session: Session, meeting: ThemeMeeting) -> list[Registration]:
    """The waitlist in the order seats are offered: FIFO, or new regions first (each FIFO)."""
    waiting = _with_status(session, meeting, R.waitlisted)
    if not meeting.new_regions_first:
        return waiting
    present = set(
        session.exec(
            select(Registration.region_id).where(
                Registration.meeting_id == meeting.id, Registration.status == R.registered.value
            )
        ).all()
    )
    new = [r for r in waiting if r.region_id is not None and r.region_id not in present]
    rest = [r for r in waiting if r.region_id is None or r.region_id in present]
    return new + rest


def _place(session: Session, meeting: ThemeMeeting, reg: Registration) -> int | None:
    """1-based place in the waitlist, or None when not waitlisted."""
    if reg.status != R.waitlisted.value:
        return None
    ids = [r.id for r in _line(session, meeting)]
    return ids.index(reg.id) + 1


def _closed_reason(meeting: ThemeMeeting, now: datetime) -> str | None:
    if meeting.status == MeetingStatus.cancelled.value:
        return "cancelled"
    if now >= meeting.starts_at:
        return "started"
    if now > meeting.registration_deadline:
        return "deadline_passed"
    return None


def _may_promote(meeting: ThemeMeeting, now: datetime) -> bool:
    return _closed_reason(meeting, now) is None


def _sequence(session: Session, meeting: ThemeMeeting, reg: Registration) -> int:
    """The SEQUENCE of this registrant's invitation: the meeting's, plus one for every
    earlier registration of the same address for this meeting.

    The UID is the meeting's, so someone who cancelled (their METHOD:CANCEL carried the
    number then) and registers again must get a higher number, or their calendar takes
    the new REQUEST for a stale copy. Derived from the registrations, so nobody else's
    number moves and nobody else is mailed.
    """
    earlier = session.exec(
        select(func.count()).where(
            Registration.meeting_id == meeting.id,
            Registration.email == reg.email,
            col(Registration.id) < reg.id,
        )
    ).one()
    return meeting.sequence + int(earlier)


def _context(
    meeting: ThemeMeeting, reg: Registration, sequence: int, place: int | None = None
) -> dict[str, Any]:
    return {
        "code": meeting.code,
        "title": meeting.title,
        "name": reg.name,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "timezone": meeting.timezone,
        "location": meeting.location,
        "online_url": meeting.online_url,
        "description": meeting.description,
        "sequence": sequence,
        "place": place,
    }


def _tell(
    session: Session,
    meeting: ThemeMeeting,
    reg: Registration,
    template: str,
    now: datetime,
    *,
    key: str,
    place: int | None = None,
    reply: Mapping[str, Any] | None = None,
) -> None:
    """A mail to the registration's address; `reply` (the headers of a mail we answer,
    as in `outbox.to_contact`) threads it under that mail."""
    assert reg.id is not None
    language = "nl"
    if reg.contact_id is not None:
        contact = session.get(Contact, reg.contact_id)
        if contact is not None:
            language = contact.language
    outbox.enqueue(
        session,
        key=f"meeting:{meeting.id}:reg:{reg.id}:{key}",
        template=template,
        channel=outbox.OutboxChannel.email,
        recipient=reg.email,
        now=now,
        language=language,
        context={
            **_context(meeting, reg, _sequence(session, meeting, reg), place),
            **(reply or {}),
        },
        subject=(SUBJECT, reg.id),
    )


def _language(session: Session, reg: Registration) -> str:
    contact = session.get(Contact, reg.contact_id) if reg.contact_id is not None else None
    return contact.language if contact is not None else "nl"


def _remind(
    session: Session, meeting: ThemeMeeting, reg: Registration, now: datetime, *, retime: bool
) -> None:
    """The reminder 48 hours before the start, about this registration (cancelled with it).

    `retime`: the meeting changed; the reminder not yet sent is replaced by one at the
    new time with the new details (none when that moment has passed).
    """
    assert reg.id is not None
    if retime:
        outbox.cancel_pending(session, (SUBJECT, reg.id), now, templates={"meeting_reminder"})
    due = meeting.starts_at - REMIND_BEFORE
    if due <= now:
        return
    outbox.enqueue(
        session,
        key=f"meeting:{meeting.id}:reg:{reg.id}:reminder:{meeting.sequence}",
        template="meeting_reminder",
        channel=outbox.OutboxChannel.email,
        recipient=reg.email,
        now=now,
        due_at=due,
        language=_language(session, reg),
        context=_context(meeting, reg, _sequence(session, meeting, reg)),
        subject=(SUBJECT, reg.id),
    )


def _promote(session: Session, meeting: ThemeMeeting, by: Actor, now: datetime) -> list[int]:
    """Give free seats to the first in line who fit; returns the registrations promoted.

    Someone whose region is full is passed over: the next in line may fit. The line
    is read again after each promotion (with new regions first, it changes).
    """
    promoted: list[int] = []
    while _count(session, meeting) < meeting.capacity:
        reg = next(
            (r for r in _line(session, meeting) if _fits(session, meeting, r.region_id)), None
        )
        if reg is None:
            break
        assert reg.id is not None
        reg.status = R.registered.value
        session.add(reg)
        session.flush()
        record(session, by, now, "meeting.promote", meeting.code, {"registration": reg.id})
        homes.team_changed(session, now)
        _tell(session, meeting, reg, "meeting_promoted", now, key="promoted")
        _remind(session, meeting, reg, now, retime=False)
        promoted.append(reg.id)
    return promoted


def normalise_email(email: str) -> str:
    return email.strip().lower()


def register(
    session: Session,
    code: str,
    *,
    name: str,
    email: str,
    region_code: str | None,
    contact_id: int | None,
    channel: str,
    by: Actor,
    now: datetime,
    reply: Mapping[str, Any] | None = None,
) -> Registration:
    """Register someone, or put them on the waitlist (their place: `waitlist_position`).

    `reply`: the mail this answers (its thread headers), when it came by mail.
    """
    meeting = _lock(session, code)
    reason = _closed_reason(meeting, now)
    if reason is not None:
        raise MeetingClosed(meeting.code, reason)
    address = normalise_email(email)
    if not EMAIL_RE.match(address):
        raise InvalidMeeting("email", "invalid", email)
    if not name.strip():
        raise InvalidMeeting("name", "empty")
    existing = session.exec(
        select(Registration).where(
            Registration.meeting_id == meeting.id,
            Registration.email == address,
            col(Registration.status).in_(OPEN),
        )
    ).first()
    if existing is not None:
        raise AlreadyRegistered(
            meeting.code, address, existing.status, _place(session, meeting, existing)
        )
    region_id = get_region(session, region_code).id if region_code else None
    assert meeting.id is not None
    fits = _fits(session, meeting, region_id)
    reg = Registration(
        meeting_id=meeting.id,
        region_id=region_id,
        contact_id=contact_id,
        name=name.strip()[:200],
        email=address,
        status=(R.registered if fits else R.waitlisted).value,
        channel=channel,
        created_at=now,
    )
    session.add(reg)
    session.flush()
    place = _place(session, meeting, reg)
    record(
        session,
        by,
        now,
        "meeting.register",
        meeting.code,
        {"registration": reg.id, "status": reg.status, "place": place},
    )
    homes.team_changed(session, now)
    if fits:
        _tell(session, meeting, reg, "meeting_registered", now, key="registered", reply=reply)
        _remind(session, meeting, reg, now, retime=False)
    else:
        _tell(
            session, meeting, reg, "meeting_waitlisted", now, key="waitlisted", place=place,
            reply=reply,
        )  # fmt: skip
    return reg


def _find(session: Session, meeting: ThemeMeeting, email: str) -> Registration:
    reg = session.exec(
        select(Registration)
        .where(
            Registration.meeting_id == meeting.id,
            Registration.email == normalise_email(email),
            col(Registration.status).in_(OPEN),
        )
        .order_by(col(Registration.id).desc())
    ).first()
    if reg is None:
        raise UnknownRegistration(meeting.code, email)
    return reg


def cancel_registration(
    session: Session,
    registration: int | tuple[str, str],
    *,
    by: Actor,
    now: datetime,
    reply: Mapping[str, Any] | None = None,
) -> Registration:
    """Cancel by id or by (code, email); a freed seat goes to the first in line who fits.

    Only before the deadline and before the start: after that the team promotes.
    `reply`: the mail that asked to cancel (its thread headers); the registrant's
    confirmation (`meeting_unregistered`) is then threaded under it.
    """
    if isinstance(registration, int):
        found = session.get(Registration, registration)
        if found is None:
            raise UnknownRegistration("", str(registration))
        meeting_row = session.get(ThemeMeeting, found.meeting_id)
        assert meeting_row is not None
        meeting = _lock(session, meeting_row.code)
        session.refresh(found)
        reg = found
        if reg.status not in OPEN:
            raise UnknownRegistration(meeting.code, reg.email)
    else:
        meeting = _lock(session, registration[0])
        reg = _find(session, meeting, registration[1])
    assert reg.id is not None
    was, place = reg.status, _place(session, meeting, reg)
    reg.status = R.cancelled.value
    session.add(reg)
    session.flush()
    outbox.cancel_pending(session, (SUBJECT, reg.id), now)
    # Their confirmation (threaded under their mail when they wrote one); with a seat it
    # withdraws their invitation (METHOD:CANCEL).
    _tell(
        session, meeting, reg, "meeting_unregistered", now, key="unregistered", place=place,
        reply=reply,
    )  # fmt: skip
    record(session, by, now, "meeting.unregister", meeting.code, {"registration": reg.id})
    homes.team_changed(session, now)
    if was == R.registered.value and _may_promote(meeting, now):
        _promote(session, meeting, by, now)
    return reg


def promote_next(session: Session, code: str, *, by: Actor, now: datetime) -> list[int]:
    """The team's action: fill free seats from the waitlist, also after the deadline.

    Never after the start, never for a cancelled meeting.
    """
    meeting = _lock(session, code)
    reason = _closed_reason(meeting, now)
    if reason in ("cancelled", "started"):
        raise MeetingClosed(meeting.code, reason or "")
    return _promote(session, meeting, by, now)


def waitlist_position(session: Session, code: str, email: str) -> int | None:
    """1-based place in line of this address, or None when not waitlisted."""
    meeting = get_meeting(session, code)
    return _place(session, meeting, _find(session, meeting, email))


def attendees(session: Session, code: str) -> list[Registration]:
    """Everyone registered, in the order they registered."""
    return _with_status(session, get_meeting(session, code), R.registered)


def waitlist(session: Session, code: str) -> list[Registration]:
    """Everyone waiting, first in line first."""
    return _line(session, get_meeting(session, code))


def seats_left(session: Session, meeting: ThemeMeeting) -> int:
    return max(0, meeting.capacity - _count(session, meeting))


def mark_attended(
    session: Session,
    code: str,
    email: str,
    *,
    attended: bool = True,
    by: Actor,
    now: datetime,
) -> Registration:
    meeting = get_meeting(session, code)
    reg = _find(session, meeting, email)
    if reg.status != R.registered.value:
        raise UnknownRegistration(meeting.code, email)
    reg.attended = attended
    session.add(reg)
    session.flush()
    record(
        session,
        by,
        now,
        "meeting.attended",
        meeting.code,
        {"registration": reg.id, "attended": attended},
    )
    return reg


def closed_reason(meeting: ThemeMeeting, now: datetime) -> str | None:
    """Why nobody can register now ("cancelled", "started", "deadline_passed"), or None."""
    return _closed_reason(meeting, now)


def lock_meeting(session: Session, code: str) -> ThemeMeeting:
    """The meeting, locked for the rest of the transaction (UnknownMeeting if none)."""
    return _lock(session, code)
