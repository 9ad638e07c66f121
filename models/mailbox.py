"""Mail conversations: threads, confirmation codes, answer limits and flagged mail.

A thread remembers what a contact asked by mail (a draft request, the region
they still have to choose, an action waiting for a confirmation code) and all
Message-IDs in it, so a reply, whichever client wrote it, finds its thread.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.tables import (
    FlaggedMail,
    InboundMessage,
    MailThread,
    MailThreadMessage,
    Notification,
    SupportRequest,
)

CODE_VALID = timedelta(hours=48)
ANSWERS_PER_HOUR = 5
UNKNOWN_SENDER_QUIET = timedelta(days=30)
CODE_PATTERN = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def find_thread(session: Session, message_ids: list[str], ref: str | None) -> MailThread | None:
    """The thread a reply belongs to: by In-Reply-To/References first, then by reference."""
    if message_ids:
        row = session.exec(
            select(MailThread)
            .join(MailThreadMessage, col(MailThreadMessage.thread_id) == col(MailThread.id))
            .where(col(MailThreadMessage.message_id).in_(message_ids))
            .order_by(col(MailThread.id).desc())
        ).first()
        if row is not None:
            return row
    if ref:
        return session.exec(
            select(MailThread)
            .join(SupportRequest, col(SupportRequest.id) == col(MailThread.request_id))
            .where(SupportRequest.ref == ref.upper())
            .order_by(col(MailThread.id).desc())
        ).first()
    return None


def open_thread(
    session: Session, contact_id: int | None, subject: str, message_id: str, now: datetime
) -> MailThread:
    thread = MailThread(
        contact_id=contact_id, subject=subject[:1000], created_at=now, updated_at=now
    )
    session.add(thread)
    session.flush()
    remember(session, thread, message_id)
    return thread


def remember(session: Session, thread: MailThread, message_id: str) -> None:
    """Add a Message-ID to the thread (once; a Message-ID belongs to one thread)."""
    if not message_id:
        return
    known = session.exec(
        select(MailThreadMessage).where(MailThreadMessage.message_id == message_id)
    ).first()
    if known is None:
        assert thread.id is not None
        session.add(MailThreadMessage(thread_id=thread.id, message_id=message_id[:500]))
        session.flush()


def update(session: Session, thread: MailThread, now: datetime, **fields: Any) -> MailThread:
    for name, value in fields.items():
        setattr(thread, name, value)
    thread.updated_at = now
    session.add(thread)
    session.flush()
    return thread


def _digest(code: str, thread_id: int) -> str:
    return hashlib.sha256(f"{thread_id}:{code}".encode()).hexdigest()


def issue_code(session: Session, thread: MailThread, action: str, now: datetime) -> str:
    """A one-time code that the contact's known address must send back before we act."""
    assert thread.id is not None
    code = f"{secrets.randbelow(1_000_000):06d}"
    update(
        session,
        thread,
        now,
        pending_action=action,
        code_hash=_digest(code, thread.id),
        code_expires_at=now + CODE_VALID,
        state="waiting_code",
    )
    return code


def redeem_code(session: Session, thread: MailThread, text: str, now: datetime) -> str | None:
    """The pending action when `text` carries the thread's valid code; the code is then spent."""
    assert thread.id is not None
    if not thread.code_hash or thread.code_expires_at is None or thread.code_expires_at < now:
        return None
    for candidate in CODE_PATTERN.findall(text):
        if hmac.compare_digest(_digest(candidate, thread.id), thread.code_hash):
            action = thread.pending_action
            update(session, thread, now, code_hash="", code_expires_at=None, pending_action="")
            return action
    return None


def answered_recently(
    session: Session, address: str, template: str, now: datetime, within: timedelta
) -> bool:
    """Whether this address got this answer lately (an unknown sender hears it once)."""
    found = session.exec(
        select(Notification.id).where(
            Notification.channel == "email",
            func.lower(Notification.recipient) == address.lower(),
            Notification.template == template,
            Notification.created_at > now - within,
        )
    ).first()
    return found is not None


def answers_last_hour(session: Session, address: str, now: datetime) -> int:
    """How many answers we wrote to this address in the past hour (a loop breaker)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.channel == "email",
                func.lower(Notification.recipient) == address.lower(),
                col(Notification.template).startswith("mail_"),
                Notification.created_at > now - timedelta(hours=1),
            )
        ).one()
    )


def flag(
    session: Session,
    inbound: InboundMessage,
    *,
    sender: str,
    subject: str,
    reason: str,
    excerpt: str,
    now: datetime,
) -> FlaggedMail:
    assert inbound.id is not None
    row = FlaggedMail(
        inbound_id=inbound.id,
        sender=sender[:254],
        subject=subject[:1000],
        reason=reason[:40],
        excerpt=excerpt[:4000],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def flagged(session: Session, *, include_resolved: bool = False) -> list[FlaggedMail]:
    query = select(FlaggedMail).order_by(col(FlaggedMail.id))
    if not include_resolved:
        query = query.where(col(FlaggedMail.resolved_at).is_(None))
    return list(session.exec(query).all())


def resolve(session: Session, flagged_id: int, by: str, now: datetime) -> FlaggedMail | None:
    row = session.get(FlaggedMail, flagged_id)
    if row is None:
        return None
    row.resolved_at = now
    row.resolved_by = by
    session.add(row)
    session.flush()
    return row
