"""The support-request lifecycle on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from models import ledger
from models import requests as rq
from models.actor import Actor
from models.db import transaction
from models.errors import (
    DomainError,
    ExceedsReservation,
    IllegalTransition,
    InsufficientBalance,
    InvalidRequest,
    NoCurrentPeriod,
    UnknownRegion,
    UnknownRequest,
    UnknownSupporter,
)
from models.periods import get_period
from models.regions import get_region
from models.tables import (
    AuditEntry,
    LedgerEntry,
    RefCounter,
    RequestDay,
    RequestEvent,
    Supporter,
    SupportRequest,
)
from models.types import AllowanceKind, Channel, RequestStatus
from tests.conftest import NOW, RegionFactory

S = RequestStatus
REQUESTER = Actor("slack:U0REQ", Channel.slack)
MAILER = Actor("mail:jan@school.example", Channel.email)
COORDINATOR = Actor("cli:anouk", Channel.cli)
DEC1 = date(2026, 12, 1)
DEC2 = date(2026, 12, 2)
DEC3 = date(2026, 12, 3)


# --- helpers -------------------------------------------------------------------------------


def submit(
    engine: Engine,
    half_days: int = 3,
    region: str = "ZEELAND",
    *,
    kind: str = "process",
    by: Actor = REQUESTER,
    now: datetime = NOW,
    **fields: Any,
) -> str:
    new = rq.NewRequest(region=region, kind=kind, half_days=half_days, **fields)
    with transaction(engine) as session:
        return rq.submit(session, new, by, now).ref


def request(engine: Engine, ref: str) -> SupportRequest:
    with Session(engine) as session:
        return rq.get_request(session, ref)


def status(engine: Engine, ref: str) -> str:
    return request(engine, ref).status


def events(engine: Engine, ref: str) -> list[tuple[str | None, str, str, str, str]]:
    with Session(engine) as session:
        found = rq.events_of(session, rq.get_request(session, ref))
        return [(e.from_status, e.to_status, e.actor, e.channel, e.reason) for e in found]


def days(engine: Engine, ref: str) -> list[date]:
    with Session(engine) as session:
        return rq.days_of(session, rq.get_request(session, ref))


def balance(engine: Engine, region: str = "ZEELAND", period: str = "2026") -> tuple[int, ...]:
    with Session(engine) as session:
        allowance = ledger.find_allowance(
            session,
            get_region(session, region),
            get_period(session, period),
            AllowanceKind.support_days,
        )
        b = ledger.balance_of(session, allowance)
        return b.granted, b.reserved, b.used, b.available


def request_ledger(engine: Engine, ref: str) -> list[tuple[str, int]]:
    with Session(engine) as session:
        req = rq.get_request(session, ref)
        rows = session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.request_id == req.id)
            .order_by(col(LedgerEntry.id))
        ).all()
        return [(r.op, r.units) for r in rows]


COUNTED: tuple[type[SQLModel], ...] = (
    SupportRequest,
    LedgerEntry,
    RequestEvent,
    RequestDay,
    RefCounter,
    AuditEntry,
)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            table.__name__: int(session.exec(select(func.count()).select_from(table)).one())
            for table in COUNTED
        }


def snapshot(engine: Engine, ref: str) -> tuple[Any, ...]:
    req = request(engine, ref)
    return (
        req.status,
        req.updated_at,
        req.assigned_supporter_id,
        tuple(days(engine, ref)),
        tuple(counts(engine).items()),
        balance(engine),
    )


# --- the whole lifecycle -------------------------------------------------------------------


def test_submit_reserves_and_records(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(
        engine,
        3,
        theme="  techniek  ",
        description=" Graag hulp bij het regioplan. ",
        preferred_period=" december ",
    )
    assert ref == "STO-2026-0001"
    req = request(engine, ref)
    assert req.status == S.submitted
    assert req.half_days == 3
    assert req.kind == "process"
    assert req.channel == "slack"
    assert req.requested_by == "slack:U0REQ"
    assert req.theme == "techniek"
    assert req.description == "Graag hulp bij het regioplan."
    assert req.preferred_period == "december"
    assert req.created_at == NOW == req.updated_at
    assert req.created_at.tzinfo is not None
    with Session(engine) as session:
        assert req.period_id == get_period(session, "2026").id
    assert balance(engine) == (10, 3, 0, 7)
    assert request_ledger(engine, ref) == [("reserve", 3)]
    assert events(engine, ref) == [(None, "submitted", "slack:U0REQ", "slack", "")]


def test_lifecycle_to_completion_consumes_all(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    t1, t2, t3 = NOW + timedelta(hours=1), NOW + timedelta(hours=2), NOW + timedelta(days=3)
    with transaction(engine) as s:
        assert rq.approve(s, ref, COORDINATOR, t1).status == S.approved
    assert balance(engine) == (10, 3, 0, 7)
    with transaction(engine) as s:
        assert rq.schedule(s, ref, COORDINATOR, t2, days=[DEC2, DEC1]).status == S.scheduled
    assert days(engine, ref) == [DEC1, DEC2]
    assert all(type(d) is date for d in days(engine, ref))
    assert balance(engine) == (10, 3, 0, 7)
    with transaction(engine) as s:
        done = rq.complete(s, ref, MAILER, t3)
    assert done.status == S.completed
    assert request(engine, ref).updated_at == t3
    assert balance(engine) == (10, 0, 3, 7)
    assert request_ledger(engine, ref) == [("reserve", 3), ("consume", 3)]
    assert events(engine, ref) == [
        (None, "submitted", "slack:U0REQ", "slack", ""),
        ("submitted", "approved", "cli:anouk", "cli", ""),
        ("approved", "scheduled", "cli:anouk", "cli", "2026-12-01, 2026-12-02"),
        ("scheduled", "completed", "mail:jan@school.example", "email", "1.5"),
    ]
    with Session(engine) as session:
        ats = [e.at for e in rq.events_of(session, rq.get_request(session, ref))]
    assert ats == [NOW, t1, t2, t3]


def test_complete_part_releases_the_rest(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 4)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2])
    assert balance(engine) == (10, 4, 0, 6)
    with transaction(engine) as s:
        rq.complete(s, ref, COORDINATOR, NOW, used_half_days=1)
    assert balance(engine) == (10, 0, 1, 9)
    assert request_ledger(engine, ref) == [("reserve", 4), ("consume", 1), ("release", 3)]
    assert events(engine, ref)[-1] == ("scheduled", "completed", "cli:anouk", "cli", "0.5")


def test_complete_with_nothing_used(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 2)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1])
        rq.complete(s, ref, COORDINATOR, NOW, used_half_days=0)
    assert status(engine, ref) == S.completed
    assert balance(engine) == (10, 0, 0, 10)
    assert request_ledger(engine, ref) == [("reserve", 2), ("release", 2)]


def test_complete_more_than_reserved_changes_nothing(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 2)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1])
    before = snapshot(engine, ref)
    with pytest.raises(ExceedsReservation) as caught, transaction(engine) as s:
        rq.complete(s, ref, COORDINATOR, NOW, used_half_days=3)
    assert caught.value.params == {
        "ref": ref,
        "requested": Decimal("1.5"),
        "reserved": Decimal("1"),
    }
    assert snapshot(engine, ref) == before


def test_reschedule_replaces_the_dates(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2])
    with transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC3, DEC2])
    assert days(engine, ref) == [DEC2, DEC3]
    assert status(engine, ref) == S.scheduled
    assert events(engine, ref)[-1] == (
        "scheduled",
        "scheduled",
        "cli:anouk",
        "cli",
        "2026-12-02, 2026-12-03",
    )
    assert counts(engine)["RequestDay"] == 2


# --- reject and cancel ---------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_needs_a_reason(engine: Engine, make_region: RegionFactory, reason: str) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    before = snapshot(engine, ref)
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.reject(s, ref, COORDINATOR, NOW, reason=reason)
    assert caught.value.params["field"] == "reason"
    assert caught.value.params["problem"] == "required"
    assert snapshot(engine, ref) == before


def test_reject_releases(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    with transaction(engine) as s:
        assert rq.reject(s, ref, COORDINATOR, NOW, reason=" geen budget ").status == S.rejected
    assert balance(engine) == (10, 0, 0, 10)
    assert request_ledger(engine, ref) == [("reserve", 3), ("release", 3)]
    assert events(engine, ref)[-1] == ("submitted", "rejected", "cli:anouk", "cli", "geen budget")


def _bring_to(engine: Engine, ref: str, target: RequestStatus) -> None:
    """Walk a fresh (submitted) request to `target` along legal steps."""
    paths: dict[RequestStatus, list[Callable[[Session], object]]] = {
        S.submitted: [],
        S.approved: [lambda s: rq.approve(s, ref, COORDINATOR, NOW)],
        S.scheduled: [
            lambda s: rq.approve(s, ref, COORDINATOR, NOW),
            lambda s: rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2]),
        ],
        S.completed: [
            lambda s: rq.approve(s, ref, COORDINATOR, NOW),
            lambda s: rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2]),
            lambda s: rq.complete(s, ref, COORDINATOR, NOW),
        ],
        S.rejected: [lambda s: rq.reject(s, ref, COORDINATOR, NOW, reason="nee")],
        S.cancelled: [lambda s: rq.cancel(s, ref, REQUESTER, NOW)],
    }
    for step in paths[target]:
        with transaction(engine) as s:
            step(s)
    assert status(engine, ref) == target


@pytest.mark.parametrize("start", [S.submitted, S.approved, S.scheduled])
def test_cancel_from_every_open_state_releases(
    engine: Engine, make_region: RegionFactory, start: RequestStatus
) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    _bring_to(engine, ref, start)
    assert balance(engine) == (10, 3, 0, 7)
    later = NOW + timedelta(hours=5)
    with transaction(engine) as s:
        assert rq.cancel(s, ref, MAILER, later, reason=" ziek ").status == S.cancelled
    assert balance(engine) == (10, 0, 0, 10)
    assert request_ledger(engine, ref) == [("reserve", 3), ("release", 3)]
    assert events(engine, ref)[-1] == (start.value, "cancelled", MAILER.name, "email", "ziek")
    assert request(engine, ref).updated_at == later


# --- illegal transitions -------------------------------------------------------------------

# What the design allows, written out independently of models.requests.ALLOWED.
LEGAL = {
    S.submitted: {"approve", "reject", "cancel"},
    S.approved: {"schedule", "cancel"},
    S.scheduled: {"schedule", "complete", "cancel"},
    S.completed: set(),
    S.rejected: set(),
    S.cancelled: set(),
}
TARGET = {
    "approve": S.approved,
    "reject": S.rejected,
    "cancel": S.cancelled,
    "schedule": S.scheduled,
    "complete": S.completed,
}
ACTIONS: dict[str, Callable[[Session, str], object]] = {
    "approve": lambda s, ref: rq.approve(s, ref, COORDINATOR, NOW),
    "reject": lambda s, ref: rq.reject(s, ref, COORDINATOR, NOW, reason="nee"),
    "cancel": lambda s, ref: rq.cancel(s, ref, COORDINATOR, NOW),
    "schedule": lambda s, ref: rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC2, DEC3]),
    "complete": lambda s, ref: rq.complete(s, ref, COORDINATOR, NOW),
}
ILLEGAL = [
    pytest.param(state, action, id=f"{action}-from-{state.value}")
    for state, legal in LEGAL.items()
    for action in ACTIONS
    if action not in legal
]


def test_the_transition_table_matches_the_design() -> None:
    for state, legal in LEGAL.items():
        assert {TARGET[a] for a in legal} == set(rq.ALLOWED[state])


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_transition_changes_nothing(
    engine: Engine, make_region: RegionFactory, state: RequestStatus, action: str
) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 3)
    _bring_to(engine, ref, state)
    before = snapshot(engine, ref)
    with pytest.raises(IllegalTransition) as caught, transaction(engine) as s:
        ACTIONS[action](s, ref)
    assert caught.value.params == {
        "ref": ref,
        "current": state.value,
        "target": TARGET[action].value,
    }
    assert snapshot(engine, ref) == before


def test_unknown_request(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    ref = submit(engine, 1)
    with Session(engine) as session:
        assert rq.get_request(session, " sto-2026-0001 ").ref == ref
        with pytest.raises(UnknownRequest) as caught:
            rq.get_request(session, "STO-2026-0002")
    assert caught.value.params == {"ref": "STO-2026-0002"}
    with pytest.raises(UnknownRequest), transaction(engine) as s:
        rq.approve(s, "STO-2026-9999", COORDINATOR, NOW)


# --- references ----------------------------------------------------------------------------


def test_refs_are_numbered_per_year(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="10")
    make_region("UTRECHT", days="10")
    refs = [submit(engine, 1, region) for region in ("ZEELAND", "UTRECHT", "ZEELAND")]
    assert refs == ["STO-2026-0001", "STO-2026-0002", "STO-2026-0003"]
    next_year = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    assert submit(engine, 1, now=next_year) == "STO-2027-0001"
    assert submit(engine, 1, "UTRECHT", now=next_year) == "STO-2027-0002"
    assert submit(engine, 1) == "STO-2026-0004"
    for n in range(5, 12):
        assert submit(engine, 1, "UTRECHT") == f"STO-2026-{n:04d}"


def test_refused_or_rolled_back_submissions_spend_no_number(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="1")
    with pytest.raises(InsufficientBalance), transaction(engine) as s:
        rq.submit(s, rq.NewRequest("ZEELAND", "process", 3), REQUESTER, NOW)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), transaction(engine) as s:
        assert rq.submit(s, rq.NewRequest("ZEELAND", "process", 1), REQUESTER, NOW).ref == (
            "STO-2026-0001"
        )
        raise Crash
    assert counts(engine)["SupportRequest"] == 0
    assert balance(engine) == (2, 0, 0, 2)
    assert submit(engine, 1) == "STO-2026-0001"
    assert submit(engine, 1) == "STO-2026-0002"


# --- submissions that are refused ----------------------------------------------------------


REFUSALS: list[Any] = [
    pytest.param(
        {"kind": "catering"},
        InvalidRequest,
        {"field": "kind", "problem": "unknown", "value": "catering"},
        id="unknown-kind",
    ),
    pytest.param(
        {"half_days": 0},
        InvalidRequest,
        {"field": "days", "problem": "not_positive", "value": "0"},
        id="zero-days",
    ),
    pytest.param(
        {"half_days": -2},
        InvalidRequest,
        {"field": "days", "problem": "not_positive", "value": "-2"},
        id="negative-days",
    ),
    pytest.param(
        {
            "preferred_from": date(2026, 12, 10),
            "preferred_to": date(2026, 12, 5),
            "preferred_period": "10-5 dec",
        },
        InvalidRequest,
        {"field": "preferred_period", "problem": "reversed", "value": "10-5 dec"},
        id="reversed-period",
    ),
    pytest.param(
        {"preferred_from": date(2026, 11, 1), "preferred_to": date(2026, 11, 29)},
        InvalidRequest,
        {"field": "preferred_period", "problem": "in_past", "value": ""},
        id="past-period",
    ),
    pytest.param(
        {"preferred_from": date(2026, 11, 29)},
        InvalidRequest,
        {"field": "preferred_period", "problem": "in_past", "value": ""},
        id="past-start-only",
    ),
    pytest.param(
        {"preferred_to": date(2026, 11, 29)},
        InvalidRequest,
        {"field": "preferred_period", "problem": "in_past", "value": ""},
        id="past-end-only",
    ),
    pytest.param(
        {"description": "x" * (rq.MAX_TEXT + 1)},
        InvalidRequest,
        {"field": "description", "problem": "too_long", "value": str(rq.MAX_TEXT)},
        id="long-description",
    ),
    pytest.param(
        {"theme": "t" * 201},
        InvalidRequest,
        {"field": "theme", "problem": "too_long", "value": "200"},
        id="long-theme",
    ),
    pytest.param(
        {"region": "ATLANTIS"}, UnknownRegion, {"region": "ATLANTIS"}, id="unknown-region"
    ),
    pytest.param(
        {"preferred_from": date(2029, 3, 1)},
        NoCurrentPeriod,
        {"today": "2029-03-01"},
        id="no-period",
    ),
    pytest.param(
        {"half_days": 10},  # 5 days asked, 4.5 left after the first request
        InsufficientBalance,
        {
            "region": "ZEELAND",
            "period": "2026",
            "kind": "support_days",
            "requested": Decimal("5"),
            "available": Decimal("4.5"),
        },
        id="does-not-fit",
    ),
]


@pytest.mark.parametrize(("fields", "error", "params"), REFUSALS)
def test_refused_submission_writes_nothing(
    engine: Engine,
    make_region: RegionFactory,
    fields: dict[str, Any],
    error: type[DomainError],
    params: dict[str, Any],
) -> None:
    make_region("ZEELAND", days="5")
    submit(engine, 1)  # so the counter row exists and the balance is not trivial
    before = counts(engine)
    values: dict[str, Any] = {"region": "ZEELAND", "kind": "content", "half_days": 2, **fields}
    with pytest.raises(error) as caught, transaction(engine) as s:
        rq.submit(s, rq.NewRequest(**values), REQUESTER, NOW)
    assert caught.value.params == params
    assert counts(engine) == before
    assert balance(engine) == (10, 1, 0, 9)
    # The next good submission takes the next number.
    assert submit(engine, 1) == "STO-2026-0002"


def test_refused_submission_on_an_empty_database_writes_nothing(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="1")
    before = counts(engine)
    assert before["RefCounter"] == 0
    with pytest.raises(InsufficientBalance), transaction(engine) as s:
        rq.submit(s, rq.NewRequest("ZEELAND", "content", 3), REQUESTER, NOW)
    assert counts(engine) == before


@pytest.mark.parametrize("kind", ["content", "process", "strategic", "theme"])
def test_every_kind_is_accepted(engine: Engine, make_region: RegionFactory, kind: str) -> None:
    make_region("ZEELAND")
    ref = submit(engine, 1, kind=kind, region="zeeland")
    assert request(engine, ref).kind == kind


def test_preferred_period_in_next_year_reserves_from_next_year(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, 4, preferred_from=date(2027, 2, 1), preferred_to=date(2027, 2, 28))
    assert balance(engine, period="2027") == (10, 4, 0, 6)
    assert balance(engine, period="2026") == (10, 0, 0, 10)
    # Numbered by the year it was asked in, dated in the period it reserves from.
    assert ref == "STO-2026-0001"
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2])
    assert caught.value.params["problem"] == "outside_period"
    with transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[date(2027, 2, 2), date(2027, 2, 3)])
        rq.complete(s, ref, COORDINATOR, NOW, used_half_days=3)
    assert balance(engine, period="2027") == (10, 0, 3, 7)
    assert balance(engine, period="2026") == (10, 0, 0, 10)


# --- scheduling ----------------------------------------------------------------------------


def _approved(engine: Engine, half_days: int) -> str:
    ref = submit(engine, half_days)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
    return ref


@pytest.mark.parametrize(
    ("half_days", "dates", "needed"),
    [
        (3, [DEC1], "2"),
        (3, [DEC1, DEC2, DEC3], "2"),
        (3, [DEC1, DEC1], "2"),  # the same date twice is one date
        (1, [], "1"),
        (1, [DEC1, DEC2], "1"),
        (4, [DEC1], "2"),
    ],
)
def test_schedule_needs_the_right_number_of_dates(
    engine: Engine, make_region: RegionFactory, half_days: int, dates: list[date], needed: str
) -> None:
    make_region("ZEELAND", days="5")
    ref = _approved(engine, half_days)
    before = snapshot(engine, ref)
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=dates)
    assert caught.value.params == {"field": "dates", "problem": "count", "value": needed}
    assert snapshot(engine, ref) == before


@pytest.mark.parametrize(("half_days", "count"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)])
def test_schedule_accepts_one_date_per_started_day(
    engine: Engine, make_region: RegionFactory, half_days: int, count: int
) -> None:
    make_region("ZEELAND", days="5")
    ref = _approved(engine, half_days)
    chosen = [DEC1 + timedelta(days=i) for i in range(count)]
    with transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=chosen)
    assert days(engine, ref) == chosen


@pytest.mark.parametrize(
    ("dates", "problem", "value"),
    [
        ([date(2026, 11, 29), DEC1], "in_past", "2026-11-29"),
        ([date(2026, 1, 5), DEC1], "in_past", "2026-01-05"),
        ([DEC1, date(2027, 1, 4)], "outside_period", "2027-01-04"),
    ],
)
def test_schedule_refuses_past_dates_and_dates_outside_the_period(
    engine: Engine,
    make_region: RegionFactory,
    dates: list[date],
    problem: str,
    value: str,
) -> None:
    make_region("ZEELAND", days="5")
    ref = _approved(engine, 3)
    before = snapshot(engine, ref)
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=dates)
    assert caught.value.params == {"field": "dates", "problem": problem, "value": value}
    assert snapshot(engine, ref) == before


def test_schedule_today_and_last_day_of_period(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = _approved(engine, 3)
    with transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[date(2026, 11, 30), date(2026, 12, 31)])
    assert days(engine, ref) == [date(2026, 11, 30), date(2026, 12, 31)]


def test_failed_reschedule_keeps_the_old_dates(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = _approved(engine, 3)
    with transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2])
    with pytest.raises(InvalidRequest), transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC3, date(2027, 1, 4)])
    assert days(engine, ref) == [DEC1, DEC2]


# --- the region's own calendar date (BES: America/Kralendijk, UTC-4) -----------------------

# 02:30 UTC on 1 December: still 30 November (22:30) on Bonaire, 03:30 in Amsterdam.
LATE_EVENING_ON_BONAIRE = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
# 23:30 UTC on 30 November: already 1 December (00:30) in Amsterdam.
AFTER_MIDNIGHT_IN_AMSTERDAM = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
NOV30 = date(2026, 11, 30)


def test_region_today_uses_the_region_time_zone(engine: Engine, make_region: RegionFactory) -> None:
    bonaire = make_region("BONAIRE", tz="America/Kralendijk")
    zeeland = make_region("ZEELAND")
    assert LATE_EVENING_ON_BONAIRE.date() == DEC1
    assert rq.region_today(bonaire, LATE_EVENING_ON_BONAIRE) == NOV30
    assert rq.region_today(zeeland, LATE_EVENING_ON_BONAIRE) == DEC1
    assert AFTER_MIDNIGHT_IN_AMSTERDAM.date() == NOV30
    assert rq.region_today(zeeland, AFTER_MIDNIGHT_IN_AMSTERDAM) == DEC1
    assert rq.region_today(bonaire, AFTER_MIDNIGHT_IN_AMSTERDAM) == NOV30


def test_bonaire_may_still_ask_for_today_when_utc_is_tomorrow(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("BONAIRE", tz="America/Kralendijk")
    make_region("ZEELAND")
    ref = submit(engine, 2, "BONAIRE", now=LATE_EVENING_ON_BONAIRE, preferred_from=NOV30)
    assert status(engine, ref) == S.submitted
    with pytest.raises(InvalidRequest) as caught:
        submit(engine, 2, "ZEELAND", now=LATE_EVENING_ON_BONAIRE, preferred_from=NOV30)
    assert caught.value.params["problem"] == "in_past"


def test_bonaire_may_schedule_today_when_utc_is_tomorrow(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("BONAIRE", tz="America/Kralendijk")
    make_region("ZEELAND")
    on_bonaire = _approved_in(engine, "BONAIRE")
    in_zeeland = _approved_in(engine, "ZEELAND")
    with transaction(engine) as s:
        rq.schedule(s, on_bonaire, COORDINATOR, LATE_EVENING_ON_BONAIRE, days=[NOV30])
    assert days(engine, on_bonaire) == [NOV30]
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.schedule(s, in_zeeland, COORDINATOR, LATE_EVENING_ON_BONAIRE, days=[NOV30])
    assert caught.value.params == {"field": "dates", "problem": "in_past", "value": "2026-11-30"}


def test_amsterdam_refuses_yesterday_when_utc_is_still_yesterday(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND")
    ref = _approved_in(engine, "ZEELAND")
    with pytest.raises(InvalidRequest) as caught, transaction(engine) as s:
        rq.schedule(s, ref, COORDINATOR, AFTER_MIDNIGHT_IN_AMSTERDAM, days=[NOV30])
    assert caught.value.params["problem"] == "in_past"
    with pytest.raises(InvalidRequest):
        submit(engine, 1, now=AFTER_MIDNIGHT_IN_AMSTERDAM, preferred_from=NOV30)


def _approved_in(engine: Engine, region: str) -> str:
    ref = submit(engine, 1, region)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, NOW)
    return ref


def test_new_year_on_bonaire_comes_four_hours_later(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("BONAIRE", days="5", tz="America/Kralendijk")
    make_region("ZEELAND", days="5")
    instant = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)  # 31 Dec 22:00 on Bonaire
    bonaire_ref = submit(engine, 2, "BONAIRE", now=instant)
    zeeland_ref = submit(engine, 2, "ZEELAND", now=instant)
    assert bonaire_ref == "STO-2026-0001"
    assert zeeland_ref == "STO-2027-0001"
    assert balance(engine, "BONAIRE", "2026") == (10, 2, 0, 8)
    assert balance(engine, "BONAIRE", "2027") == (10, 0, 0, 10)
    assert balance(engine, "ZEELAND", "2027") == (10, 2, 0, 8)
    with transaction(engine) as s:
        rq.approve(s, bonaire_ref, COORDINATOR, instant)
        rq.schedule(s, bonaire_ref, COORDINATOR, instant, days=[date(2026, 12, 31)])
    assert days(engine, bonaire_ref) == [date(2026, 12, 31)]


# --- assigning a supporter -----------------------------------------------------------------


def test_assign_a_supporter(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    with transaction(engine) as s:
        s.add(Supporter(email="Piet@sto.example", name="Piet", role="specialist"))
    ref = submit(engine, 1)
    with transaction(engine) as s:
        rq.assign(s, ref, COORDINATOR, NOW, supporter_email=" piet@STO.example ")
    assert request(engine, ref).assigned_supporter_id is not None
    with Session(engine) as session:
        audit = session.exec(select(AuditEntry)).one()
    assert (audit.action, audit.subject, audit.actor) == ("request.assign", ref, "cli:anouk")
    assert audit.detail == {"supporter": "Piet@sto.example"}
    with pytest.raises(UnknownSupporter), transaction(engine) as s:
        rq.assign(s, ref, COORDINATOR, NOW, supporter_email="nobody@sto.example")
    with transaction(engine) as s:
        rq.cancel(s, ref, COORDINATOR, NOW)
    before = snapshot(engine, ref)
    with pytest.raises(IllegalTransition), transaction(engine) as s:
        rq.assign(s, ref, COORDINATOR, NOW, supporter_email="piet@sto.example")
    assert snapshot(engine, ref) == before


def test_window_that_started_last_year_books_where_it_can_still_happen(
    engine: Engine, make_region: RegionFactory
) -> None:
    """Regression: it reserved from the closed 2026 allowance and could never be scheduled."""
    make_region("ZEELAND", days="5")
    january = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    try:
        ref = submit(
            engine,
            2,
            now=january,
            preferred_from=date(2026, 12, 15),
            preferred_to=date(2027, 1, 31),
        )
    except InvalidRequest as refused:
        assert refused.params["problem"] == "in_past"
        return
    assert balance(engine, period="2026") == (10, 0, 0, 10)
    assert balance(engine, period="2027") == (10, 2, 0, 8)
    with transaction(engine) as s:
        rq.approve(s, ref, COORDINATOR, january)
        rq.schedule(s, ref, COORDINATOR, january, days=[date(2027, 1, 20)])
    assert days(engine, ref) == [date(2027, 1, 20)]
