"""The notifications outbox: what must be said, to whom, over which channel, and when.

A row is written in the same transaction as the change that makes it needed
(so a rolled-back change says nothing) and cancelled in the transaction that
makes it moot. Delivery happens later, by the dispatcher in `scheduling/`,
which claims due rows, hands them to a channel and marks them sent.

Channels:
- "slack": a direct message; `recipient` is a Slack user id;
- "email": `recipient` is an address;
- "team": the team's view of a subject (the request card in the team's Slack
  channel, an absence); `recipient` is empty and the channel decides where;
- "home": a person's App Home is out of date; `recipient` is a Slack user id, the
  row carries no content (models/homes.py writes these rows).

Without Slack (no SLACK_BOT_TOKEN) `sto run` settles "team" and "home" rows as not
applicable (cancelled; the team reads waiting requests with `sto requests list` and
in its digest, absences with `sto supporters absences`), and a "slack" row becomes
the mail to its `fallback_email` (`to_contact`, `to_supporter`; `redirect_to_mail`)
or, without one (a meeting announcement, which has its own mail), is settled likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from models.db import insert_new
from models.tables import Contact, Notification, Supporter
from models.types import NotificationStatus

N = NotificationStatus


class OutboxChannel(StrEnum):
    slack = "slack"
    email = "email"
    team = "team"
    home = "home"


def enqueue(
    session: Session,
    *,
    key: str,
    template: str,
    channel: OutboxChannel,
    recipient: str,
    now: datetime,
    due_at: datetime | None = None,
    language: str = "nl",
    context: dict[str, Any] | None = None,
    subject: tuple[str, int] | None = None,
) -> Notification:
    """Add a notification; the same `key` twice keeps the first (a retry says it once)."""
    row = Notification(
        dedupe_key=key,
        template=template,
        channel=channel.value,
        recipient=recipient,
        language=language,
        context=context or {},
        subject_type=subject[0] if subject else "",
        subject_id=subject[1] if subject else None,
        due_at=due_at or now,
        created_at=now,
    )
    # Another transaction may add the same key meanwhile: the database decides.
    stored = insert_new(session, row, ("dedupe_key",))
    if stored is not None:
        return stored
    return session.exec(select(Notification).where(Notification.dedupe_key == key)).one()


def mail_fallback_key(key: str) -> str:
    """The key of the mail that stands in for a Slack message that failed for good
    (its Message-ID follows from it: an answer to that mail is found by it)."""
    return f"{key}:email"


def to_contact(
    session: Session,
    contact: Contact,
    *,
    key: str,
    template: str,
    now: datetime,
    context: dict[str, Any],
    subject: tuple[str, int] | None = None,
    due_at: datetime | None = None,
    reply: Mapping[str, Any] | None = None,
) -> Notification:
    """A message to a contact, in Slack when we know their Slack id, else by mail.

    `reply` (the headers of a mail we answer) makes it a mail in that thread:
    whoever writes by mail gets the answer where they asked.
    """
    if reply is not None:
        channel, recipient = OutboxChannel.email, contact.email
        context = {**context, **reply}
    elif contact.slack_user_id:
        channel, recipient = OutboxChannel.slack, contact.slack_user_id
    else:
        channel, recipient = OutboxChannel.email, contact.email
    return enqueue(
        session,
        key=key,
        template=template,
        channel=channel,
        recipient=recipient,
        now=now,
        due_at=due_at,
        language=contact.language,
        context={"name": contact.name, **context, "fallback_email": contact.email},
        subject=subject,
    )


def cancel_pending(
    session: Session, subject: tuple[str, int], now: datetime, templates: set[str] | None = None
) -> int:
    """Cancel what has not been sent about a subject (e.g. reminders of a cancelled visit)."""
    stmt = (
        update(Notification)
        .where(
            col(Notification.subject_type) == subject[0],
            col(Notification.subject_id) == subject[1],
            # A claimed row is not sent yet either: the dispatcher re-checks before sending.
            col(Notification.status).in_([N.pending.value, N.sending.value]),
        )
        .values(status=N.cancelled.value, last_error=f"cancelled {now.isoformat()}")
    )
    if templates is not None:
        stmt = stmt.where(col(Notification.template).in_(sorted(templates)))
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def claim_due(
    session: Session, now: datetime, channels: set[str], *, limit: int = 50, lease: timedelta
) -> list[Notification]:
    """Take up to `limit` due rows for these channels, for `lease`, so nobody else sends them.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several dispatchers claim side
    by side; on SQLite the transaction's BEGIN IMMEDIATE already serialises
    them. A row whose lease ran out (its dispatcher died) is due again.
    """
    due = (
        select(Notification)
        .where(
            col(Notification.channel).in_(sorted(channels)),
            Notification.due_at <= now,
            or_(
                col(Notification.status) == N.pending.value,
                (col(Notification.status) == N.sending.value)
                & (col(Notification.lease_until) < now),
            ),
        )
        .order_by(col(Notification.due_at), col(Notification.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.exec(due).all())
    for row in rows:
        row.status = N.sending.value
        row.lease_until = now + lease
        row.attempts += 1
        session.add(row)
    session.flush()
    return rows


def next_due(session: Session, channels: set[str]) -> datetime | None:
    """When the soonest waiting row of these channels falls due (None: nothing waits)."""
    return session.exec(
        select(func.min(Notification.due_at)).where(
            col(Notification.channel).in_(sorted(channels)),
            col(Notification.status) == N.pending.value,
        )
    ).one()


def _held(
    session: Session, notification_id: int, attempts: int, now: datetime, *, lock: bool = True
) -> Notification | None:
    """The row (locked, to write it) if this claim (its attempt number) still holds an
    unexpired lease."""
    row = session.get(Notification, notification_id, with_for_update=lock)
    if row is None:
        return None
    session.refresh(row)
    lease = row.lease_until
    if row.status != N.sending.value or row.attempts != attempts or lease is None or lease < now:
        return None  # cancelled, settled, or re-claimed by another dispatcher after our lease
    return row


def still_ours(session: Session, notification_id: int, attempts: int, now: datetime) -> bool:
    """Checked right before sending: a row cancelled or re-claimed since is left alone.

    A plain read is enough (and runs in a read-only session): it sees every
    cancellation committed before it, which is all a lock could add, since the
    lock would end with the check anyway.
    """
    return _held(session, notification_id, attempts, now, lock=False) is not None


def mark_sent(session: Session, notification_id: int, attempts: int, now: datetime) -> None:
    row = _held(session, notification_id, attempts, now)
    if row is None:
        return
    row.status = N.sent.value
    row.sent_at = now
    row.lease_until = None
    session.add(row)


def mark_failed(
    session: Session,
    notification_id: int,
    attempts: int,
    now: datetime,
    error: str,
    *,
    retry_at: datetime | None,
) -> bool:
    """A temporary failure goes back in line at `retry_at`; without one it has failed for good.

    False when the row is no longer ours (cancelled, or re-claimed after the lease ran out).
    """
    row = _held(session, notification_id, attempts, now)
    if row is None:
        return False
    row.last_error = error[:2000]
    row.lease_until = None
    if retry_at is None:
        row.status = N.failed.value
    else:
        row.status = N.pending.value
        row.due_at = retry_at
    session.add(row)
    return True


def mark_dropped(
    session: Session, notification_id: int, attempts: int, now: datetime, reason: str
) -> bool:
    """Nothing to deliver here (e.g. an App Home while Slack is off): cancelled, not
    failed, and nothing falls back. False when the row is no longer ours."""
    row = _held(session, notification_id, attempts, now)
    if row is None:
        return False
    row.status = N.cancelled.value
    row.last_error = f"not applicable: {reason}"[:2000]
    row.lease_until = None
    session.add(row)
    return True


def redirect_to_mail(
    session: Session, notification_id: int, attempts: int, now: datetime, reason: str
) -> bool:
    """A direct message that cannot go out in Slack in this deployment (Slack is off)
    becomes the mail to its `fallback_email`: the same row, so the same key and the same
    Message-ID, which a mail answer to it (a visit proposal's "2") is matched by. False
    when the row is no longer ours or names no address."""
    row = _held(session, notification_id, attempts, now)
    address = str((row.context or {}).get("fallback_email") or "") if row is not None else ""
    if row is None or not address:
        return False
    row.channel = OutboxChannel.email.value
    row.recipient = address
    row.context = {k: v for k, v in row.context.items() if k != "fallback_email"}
    row.status = N.pending.value
    row.due_at = now
    row.lease_until = None
    row.last_error = f"not applicable: {reason}; by mail instead"[:2000]
    session.add(row)
    return True


def failed(session: Session, limit: int = 200) -> list[Notification]:
    """What could not be delivered for good, newest first, for the team to follow up."""
    return list(
        session.exec(
            select(Notification)
            .where(Notification.status == N.failed.value)
            .order_by(col(Notification.id).desc())
            .limit(limit)
        ).all()
    )


def to_supporter(
    session: Session,
    supporter: Supporter,
    *,
    key: str,
    template: str,
    now: datetime,
    context: dict[str, Any],
    subject: tuple[str, int] | None = None,
    due_at: datetime | None = None,
    email: bool = False,
) -> Notification:
    """A message to a supporter or team member: in Slack when we know their Slack id, else
    (or with `email`, e.g. for a calendar invitation) by mail; a Slack failure for good
    falls back to that mail."""
    if supporter.slack_user_id and not email:
        channel, recipient = OutboxChannel.slack, supporter.slack_user_id
    else:
        channel, recipient = OutboxChannel.email, supporter.email
    return enqueue(
        session,
        key=key,
        template=template,
        channel=channel,
        recipient=recipient,
        now=now,
        due_at=due_at,
        language=supporter.language,
        context={**context, "name": supporter.name, "fallback_email": supporter.email},
        subject=subject,
    )


def pending(
    session: Session, *, due_by: datetime | None = None, limit: int = 1000
) -> list[Notification]:
    """What is still to be said (waiting, or being sent now), soonest first."""
    query = select(Notification).where(
        col(Notification.status).in_([N.pending.value, N.sending.value])
    )
    if due_by is not None:
        query = query.where(col(Notification.due_at) <= due_by)
    return list(
        session.exec(
            query.order_by(col(Notification.due_at), col(Notification.id)).limit(limit)
        ).all()
    )
