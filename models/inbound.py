"""Inbound idempotency: a Slack delivery or a mail acts once, however often it arrives."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from models.db import insert_new
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
    message = InboundMessage(
        source=source, external_id=external_id, received_at=now, sender=sender, summary=summary
    )
    stored = insert_new(session, message, ("source", "external_id"))
    if stored is None:
        raise AlreadyProcessed(source, external_id)
    return stored
