"""Announcing a theme meeting to the regions' contacts, by email and Slack, at a set pace.

One email to every contact of the chosen regions (a contact of several regions
once), and a Slack direct message to those with a Slack id: two outbox rows,
each with its own dedupe key, so announcing again reaches only contacts added
since. The mail's key (`meeting:{id}:announce:{contact_id}`) and subject
(`("meeting", id)`) are a contract: a reply to that mail registers its writer.

Rate limits are kept by the rows' due times: per channel, one row every
60/limit seconds, after the last announcement row still waiting in that
channel (so a second announcement queues behind the first instead of doubling
the pace). The dispatcher sends nothing before its due time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import meetings as mt
from models import outbox
from models.actor import Actor
from models.audit import record
from models.errors import MeetingClosed
from models.regions import get_region
from models.tables import Contact, Notification, RegionContact, ThemeMeeting
from models.types import NotificationStatus

TEMPLATE = "meeting_announcement"
SUBJECT = "meeting"


@dataclass(frozen=True)
class ChannelPlan:
    """What one channel got: new rows, and when the last of them is due (None: no new rows)."""

    count: int
    last_due: datetime | None


@dataclass(frozen=True)
class Announced:
    code: str
    contacts: int  # contacts of the chosen regions
    email: ChannelPlan
    slack: ChannelPlan
    already: int  # contacts that had been announced to before (not again)


def mail_key(meeting_id: int, contact_id: int) -> str:
    return f"meeting:{meeting_id}:announce:{contact_id}"


def slack_key(meeting_id: int, contact_id: int) -> str:
    return f"meeting:{meeting_id}:announce-slack:{contact_id}"


def _contacts(session: Session, region_codes: Iterable[str] | None) -> list[Contact]:
    """Contacts of these regions (all regions: None), each once, in a stable order."""
    stmt = select(RegionContact.contact_id)
    if region_codes is not None:
        ids = [get_region(session, code).id for code in region_codes]
        stmt = stmt.where(col(RegionContact.region_id).in_(ids))
    contact_ids = set(session.exec(stmt).all())
    if not contact_ids:
        return []
    return list(
        session.exec(
            select(Contact).where(col(Contact.id).in_(contact_ids)).order_by(col(Contact.id))
        ).all()
    )


def _start(session: Session, channel: str, now: datetime, gap: timedelta) -> datetime:
    """The first free slot in a channel: after the announcement rows still waiting there."""
    last = session.exec(
        select(func.max(Notification.due_at)).where(
            Notification.channel == channel,
            Notification.template == TEMPLATE,
            col(Notification.status).in_(
                [NotificationStatus.pending.value, NotificationStatus.sending.value]
            ),
        )
    ).one()
    if last is None:
        return now
    return max(now, last + gap)


def _context(meeting: ThemeMeeting, contact: Contact) -> dict[str, Any]:
    return {
        "code": meeting.code,
        "title": meeting.title,
        "theme": meeting.theme,
        "description": meeting.description,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "timezone": meeting.timezone,
        "location": meeting.location,
        "online_url": meeting.online_url,
        "registration_deadline": meeting.registration_deadline.isoformat(),
        "name": contact.name,
    }


def announce(
    session: Session,
    code: str,
    *,
    regions: list[str] | None,
    mail_per_minute: int,
    slack_per_minute: int,
    by: Actor,
    now: datetime,
) -> Announced:
    """Queue the announcement of a meeting for the contacts of `regions` (None: all regions).

    Refused (MeetingClosed) when registering is no longer possible. Unknown region
    codes raise UnknownRegion before anything is written.
    """
    if mail_per_minute < 1 or slack_per_minute < 1:
        raise ValueError("rate limits must be at least 1 per minute")
    meeting = mt.lock_meeting(session, code)
    reason = mt.closed_reason(meeting, now)
    if reason is not None:
        raise MeetingClosed(meeting.code, reason)
    assert meeting.id is not None
    contacts = _contacts(session, regions)
    keys = {mail_key(meeting.id, c.id or 0) for c in contacts}
    keys |= {slack_key(meeting.id, c.id or 0) for c in contacts if c.slack_user_id}
    known = set(
        session.exec(
            select(Notification.dedupe_key).where(col(Notification.dedupe_key).in_(sorted(keys)))
        ).all()
    )
    plans: dict[outbox.OutboxChannel, list[tuple[str, str, Contact]]] = {
        outbox.OutboxChannel.email: [],
        outbox.OutboxChannel.slack: [],
    }
    already = 0
    for contact in contacts:
        assert contact.id is not None
        wanted = [(outbox.OutboxChannel.email, mail_key(meeting.id, contact.id), contact.email)]
        if contact.slack_user_id:
            wanted.append(
                (
                    outbox.OutboxChannel.slack,
                    slack_key(meeting.id, contact.id),
                    contact.slack_user_id,
                )
            )
        fresh = [(ch, key, to) for ch, key, to in wanted if key not in known]
        if len(fresh) < len(wanted):
            already += 1
        for channel, key, recipient in fresh:
            plans[channel].append((key, recipient, contact))
    result: dict[outbox.OutboxChannel, ChannelPlan] = {}
    for channel, per_minute in (
        (outbox.OutboxChannel.email, mail_per_minute),
        (outbox.OutboxChannel.slack, slack_per_minute),
    ):
        gap = timedelta(seconds=60 / per_minute)
        start = _start(session, channel.value, now, gap)
        due: datetime | None = None
        for i, (key, recipient, contact) in enumerate(plans[channel]):
            due = start + gap * i
            outbox.enqueue(
                session,
                key=key,
                template=TEMPLATE,
                channel=channel,
                recipient=recipient,
                now=now,
                due_at=due,
                language=contact.language,
                context=_context(meeting, contact),
                subject=(SUBJECT, meeting.id),
            )
        result[channel] = ChannelPlan(len(plans[channel]), due)
    email, slack = result[outbox.OutboxChannel.email], result[outbox.OutboxChannel.slack]
    record(
        session,
        by,
        now,
        "meeting.announce",
        meeting.code,
        {
            "regions": sorted(r.upper() for r in regions) if regions is not None else "all",
            "email": email.count,
            "slack": slack.count,
        },
    )
    return Announced(meeting.code, len(contacts), email, slack, already)
