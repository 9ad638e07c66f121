"""The tables of the domain (DESIGN.md, "The domain").

Quantities are integers in the allowance's unit: half days for support days
(so 1,5 day is 3 and nothing is ever rounded), single visits for
critical-friend visits. Instants are UTC (`UTCDateTime`); support days are
calendar dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


def _instant(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


class Supporter(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False))
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    themes: str = Field(default="", max_length=1000)  # ";"-separated theme slugs
    working_days: str = Field(default="ma;di;wo;do;vr", max_length=40)
    max_visits_per_day: int = 1
    max_visits_per_week: int = 4
    max_days_per_month: int = 8
    slack_user_id: str | None = Field(
        default=None, sa_column=Column(String(32), unique=True, nullable=True)
    )
    language: str = Field(default="nl", max_length=5)
    active: bool = True


class SupporterAbsence(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    supporter_id: int = Field(foreign_key="supporter.id", index=True)
    starts_on: date
    ends_on: date
    stand_in_id: int | None = Field(default=None, foreign_key="supporter.id")
    reason: str = Field(default="", max_length=500)


class Region(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    name: str = Field(max_length=200)
    province: str = Field(default="", max_length=200)
    timezone: str = Field(default="Europe/Amsterdam", max_length=64)
    holiday_zone: str | None = Field(default=None, max_length=10)
    critical_friend_id: int | None = Field(default=None, foreign_key="supporter.id")
    # The yearly allowance granted at the start of each period.
    yearly_support_half_days: int = 10
    yearly_cf_visits: int = 4
    source_url: str = Field(default="", max_length=1000)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False))
    name: str = Field(max_length=200)
    slack_user_id: str | None = Field(
        default=None, sa_column=Column(String(32), unique=True, nullable=True)
    )
    language: str = Field(default="nl", max_length=5)


class RegionContact(SQLModel, table=True):
    region_id: int = Field(
        sa_column=Column(Integer, ForeignKey("region.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    )


class SchoolHoliday(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("school_year", "name", "zone"),)
    id: int | None = Field(default=None, primary_key=True)
    school_year: str = Field(max_length=9)
    name: str = Field(max_length=60)
    zone: str = Field(max_length=10)  # noord / midden / zuid / alle
    starts_on: date
    ends_on: date
    source_url: str = Field(default="", max_length=1000)


class Period(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    starts_on: date
    ends_on: date


class Allowance(SQLModel, table=True):
    """One region's allowance of one kind in one period: the row we lock."""

    __table_args__ = (UniqueConstraint("region_id", "period_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    period_id: int = Field(foreign_key="period.id", index=True)
    kind: str = Field(max_length=20)


class LedgerEntry(SQLModel, table=True):
    """Append-only. Balances are sums over these rows, never a stored counter."""

    id: int | None = Field(default=None, primary_key=True)
    allowance_id: int = Field(foreign_key="allowance.id", index=True)
    op: str = Field(max_length=10)
    units: int  # positive; only `adjust` may be negative
    request_id: int | None = Field(default=None, foreign_key="supportrequest.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    actor: str = Field(max_length=200)
    channel: str = Field(max_length=10)
    reason: str = Field(default="", sa_type=Text)
    created_at: datetime = _instant()
    dedupe_key: str | None = Field(
        default=None, sa_column=Column(String(200), unique=True, nullable=True)
    )


class RefCounter(SQLModel, table=True):
    """The last request number handed out per year (STO-2027-0042)."""

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class SupportRequest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    region_id: int = Field(foreign_key="region.id", index=True)
    period_id: int = Field(foreign_key="period.id")
    requester_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    requested_by: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    half_days: int
    theme: str = Field(default="", max_length=200)
    preferred_period: str = Field(default="", max_length=200)
    preferred_from: date | None = None
    preferred_to: date | None = None
    description: str = Field(default="", sa_type=Text)
    channel: str = Field(max_length=10)
    status: str = Field(max_length=12, index=True)
    assigned_supporter_id: int | None = Field(default=None, foreign_key="supporter.id")
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class RequestDay(SQLModel, table=True):
    """A calendar date on which a request is carried out (a date, not an instant)."""

    __table_args__ = (UniqueConstraint("request_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="supportrequest.id", index=True)
    day: date


class RequestEvent(SQLModel, table=True):
    """The history of a request: one row per transition."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="supportrequest.id", index=True)
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    actor: str = Field(max_length=200)
    channel: str = Field(max_length=10)
    reason: str = Field(default="", sa_type=Text)
    at: datetime = _instant()


class ThemeMeeting(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    title: str = Field(max_length=300)
    theme: str = Field(default="", max_length=200)
    description: str = Field(default="", sa_type=Text)
    starts_at: datetime = _instant()
    ends_at: datetime = _instant()
    timezone: str = Field(default="Europe/Amsterdam", max_length=64)
    location: str = Field(default="", max_length=500)
    online_url: str = Field(default="", max_length=1000)
    capacity: int
    registration_deadline: datetime = _instant()
    max_per_region: int | None = None
    status: str = Field(default="scheduled", max_length=12)
    sequence: int = 0
    created_at: datetime = _instant()
    # People from regions with nobody registered yet go first on the waitlist.
    new_regions_first: bool = False


class Registration(SQLModel, table=True):
    __table_args__ = (Index("ix_registration_meeting_status", "meeting_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="thememeeting.id")
    region_id: int | None = Field(default=None, foreign_key="region.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    status: str = Field(max_length=12)
    channel: str = Field(max_length=10)
    created_at: datetime = _instant()
    attended: bool | None = None


class Notification(SQLModel, table=True):
    """The outbox: what must be said, to whom, over which channel, and when."""

    __table_args__ = (
        Index("ix_notification_due", "status", "due_at"),
        # A person's waiting App Home refresh is looked up at every change (models/homes.py).
        Index("ix_notification_recipient", "recipient", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    template: str = Field(max_length=100)
    channel: str = Field(max_length=10)  # email / slack / preferred
    recipient: str = Field(max_length=254)
    language: str = Field(default="nl", max_length=5)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    subject_type: str = Field(default="", max_length=30)
    subject_id: int | None = None
    due_at: datetime = _instant()
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    lease_until: datetime | None = _instant(nullable=True)
    last_error: str = Field(default="", sa_type=Text)
    sent_at: datetime | None = _instant(nullable=True)
    created_at: datetime = _instant()


class InboundMessage(SQLModel, table=True):
    """Every Slack delivery and every mail, recorded by its external id before it acts."""

    __table_args__ = (UniqueConstraint("source", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=10)
    external_id: str = Field(max_length=500)
    received_at: datetime = _instant()
    sender: str = Field(default="", max_length=254)
    summary: str = Field(default="", sa_type=Text)


class AuditEntry(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant(index=True)
    actor: str = Field(max_length=200)
    channel: str = Field(max_length=10)
    action: str = Field(max_length=60)
    subject: str = Field(default="", max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class SlackPost(SQLModel, table=True):
    """Where the team's Slack message about a subject lives, so it is updated in place."""

    __table_args__ = (UniqueConstraint("subject_type", "subject_id"),)
    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=30)
    subject_id: int
    channel: str = Field(max_length=32)
    ts: str = Field(max_length=32)


class MailThread(SQLModel, table=True):
    """A conversation by mail: what a contact asked, and what we still need from them."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    region_id: int | None = Field(default=None, foreign_key="region.id")
    request_id: int | None = Field(default=None, foreign_key="supportrequest.id")
    state: str = Field(default="open", max_length=20)
    draft: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    subject: str = Field(default="", max_length=1000)
    pending_action: str = Field(default="", max_length=20)
    code_hash: str = Field(default="", max_length=64)
    code_expires_at: datetime | None = _instant(nullable=True)
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class MailThreadMessage(SQLModel, table=True):
    """Every Message-ID of a thread, ours and theirs, so a reply finds its thread."""

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="mailthread.id", index=True)
    message_id: str = Field(sa_column=Column(String(500), unique=True, nullable=False))


class FlaggedMail(SQLModel, table=True):
    """A mail nobody could act on: kept for the team, never dropped."""

    id: int | None = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inboundmessage.id", index=True)
    sender: str = Field(default="", max_length=254)
    subject: str = Field(default="", max_length=1000)
    reason: str = Field(max_length=40)
    excerpt: str = Field(default="", sa_type=Text)
    created_at: datetime = _instant()
    resolved_at: datetime | None = _instant(nullable=True)
    resolved_by: str = Field(default="", max_length=200)


class JobRun(SQLModel, table=True):
    """One occurrence of a periodic job, claimed once: the unique pair makes it run once.

    The row is written in the transaction that writes the job's outbox rows,
    so a job that fails leaves no row and runs again at the next tick.
    """

    __table_args__ = (UniqueConstraint("job", "occurrence"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    occurrence: str = Field(max_length=40)
    runner: str = Field(default="", max_length=200)
    ran_at: datetime = _instant()
    written: int = 0


class LeaderLease(SQLModel, table=True):
    """Which replica runs the periodic jobs, until when (renewed at every tick)."""

    name: str = Field(sa_column=Column(String(40), primary_key=True))
    holder: str = Field(max_length=200)
    expires_at: datetime = _instant()


class Visit(SQLModel, table=True):
    """A critical friend's visit to a region: a day (and optionally a time) in the region's zone.

    `day` is the local calendar date; a timed visit also has `starts_at` / `ends_at`
    (UTC instants). `window_from` / `window_to` bound the slots it may move to.
    `sequence` is its calendar invitation's SEQUENCE, raised on every change.
    """

    __table_args__ = (Index("ix_visit_supporter_day", "supporter_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    supporter_id: int = Field(foreign_key="supporter.id")
    period_id: int = Field(foreign_key="period.id", index=True)
    number: int  # 1..yearly_cf_visits within the region's period
    status: str = Field(max_length=12, index=True)  # proposed/scheduled/completed/cancelled
    day: date
    starts_at: datetime | None = _instant(nullable=True)
    ends_at: datetime | None = _instant(nullable=True)
    window_from: date
    window_to: date
    sequence: int = 0
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class VisitProposal(SQLModel, table=True):
    """Three slots offered to a region's contacts for one visit."""

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    slot_1: date
    slot_2: date | None = None
    slot_3: date | None = None
    status: str = Field(default="open", max_length=10, index=True)  # open/chosen/declined/expired
    chosen: int | None = None
    reason: str = Field(default="", max_length=40)  # planned / declined / absence
    decided_by: str = Field(default="", max_length=200)
    decided_at: datetime | None = _instant(nullable=True)
    created_at: datetime = _instant()


class RequestProposal(SQLModel, table=True):
    """Up to three sets of days the assigned supporter offers the requester for one request.

    Each option is the ISO days it needs (ceil(half_days / 2)), comma-separated.
    """

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="supportrequest.id", index=True)
    supporter_id: int = Field(foreign_key="supporter.id")
    option_1: str = Field(max_length=400)
    option_2: str | None = Field(default=None, max_length=400)
    option_3: str | None = Field(default=None, max_length=400)
    status: str = Field(default="open", max_length=10, index=True)  # open/chosen/declined/expired
    chosen: int | None = None
    proposed_by: str = Field(default="", max_length=200)
    decided_by: str = Field(default="", max_length=200)
    decided_at: datetime | None = _instant(nullable=True)
    created_at: datetime = _instant()
