"""Column types, small value types and fixed vocabularies shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored as UTC and always handed back time-zone aware.

    SQLite keeps no offset, so a naive value would come back on reading and
    be misread in another zone; this type refuses naive input and re-attaches
    UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Channel(StrEnum):
    cli = "cli"
    slack = "slack"
    email = "email"
    system = "system"


class AllowanceKind(StrEnum):
    support_days = "support_days"
    cf_visits = "cf_visits"


class LedgerOp(StrEnum):
    grant = "grant"
    reserve = "reserve"
    release = "release"
    consume = "consume"
    adjust = "adjust"
    expire = "expire"


class RequestStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    scheduled = "scheduled"
    completed = "completed"
    rejected = "rejected"
    cancelled = "cancelled"


class SupportKind(StrEnum):
    """What a region asks for; the words people read live in the templates."""

    content = "content"
    process = "process"
    strategic = "strategic"
    theme = "theme"


class SupporterRole(StrEnum):
    critical_friend = "critical_friend"
    specialist = "specialist"
    coordinator = "coordinator"


# The theme slugs a supporter can work on (the `themes` column of supporters.csv).
THEMES: frozenset[str] = frozenset(
    {
        "doorlopende-leerlijnen",
        "techniekpromotie",
        "samenwerking-bedrijfsleven",
        "professionalisering",
        "loopbaanorientatie",
        "inclusie",
        "duurzaamheid",
        "regionale-plannen",
        "monitoring",
        "financien",
    }
)


class HolidayZone(StrEnum):
    noord = "noord"
    midden = "midden"
    zuid = "zuid"


class NotificationStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"
    failed = "failed"


class RegistrationStatus(StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    cancelled = "cancelled"


class MeetingStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"
