"""Inbound idempotency: a Slack delivery or a mail acts once, however often it arrives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.errors import AlreadyProcessed
from models.tables import InboundMessage


def claim(
    session: Session,
    source: str,
    external_id: str,
    now: datetime,
    *,
    sender: str = "",
    summary: str = "",
) -> InboundMessage:
    """Record the message in the caller's transaction, or raise AlreadyProcessed.

    The unique (source, external_id) index decides: on PostgreSQL a second
    transaction inserting the same id waits for the first and then fails,
    so two replicas receiving one retry cannot both act. The row commits
    with whatever the message did, so a crash before commit leaves nothing,
    and the retry acts then.
    """
    seen = session.exec(
        select(InboundMessage.id).where(
            InboundMessage.source == source, InboundMessage.external_id == external_id
        )
    ).first()
    if seen is not None:
        raise AlreadyProcessed(source, external_id)
    message = InboundMessage(
        source=source, external_id=external_id, received_at=now, sender=sender, summary=summary
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        raise AlreadyProcessed(source, external_id) from None
    return message
