"""The audit log: who changed what, when and through which channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from models.actor import Actor
from models.tables import AuditEntry


def record(
    session: Session,
    by: Actor,
    now: datetime,
    action: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor=by.name,
        channel=by.channel.value,
        action=action,
        subject=subject,
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry
