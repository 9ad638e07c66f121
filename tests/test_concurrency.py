"""Many people at once: no overdraft, one winner per transition (SQLite and PostgreSQL).

Every worker runs in its own thread with its own `transaction(engine)`, and
all of them start together at a barrier. On PostgreSQL the domain serialises
them with `SELECT … FOR UPDATE`; on SQLite `BEGIN IMMEDIATE` makes them queue
for the write lock (waiting up to the 30 s busy timeout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import ledger
from models import requests as rq
from models.actor import Actor
from models.db import make_engine, transaction
from models.errors import IllegalTransition, InsufficientBalance
from models.periods import get_period
from models.quantity import from_units
from models.regions import get_region
from models.tables import LedgerEntry, RequestEvent, SupportRequest
from models.types import AllowanceKind, Channel, RequestStatus
from tests.conftest import NOW, RegionFactory

T = TypeVar("T")
WORKERS = 40  # the PostgreSQL test engine has a pool of 20 + 20 overflow connections
COORDINATOR = Actor("cli:anouk", Channel.cli)
DEC1, DEC2 = date(2026, 12, 1), date(2026, 12, 2)


def run_together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run work(0..count-1) in `count` threads released at once; results or exceptions."""
    barrier = threading.Barrier(count)

    def task(index: int) -> T:
        barrier.wait(timeout=60)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(task, i) for i in range(count)]
        outcomes: list[T | Exception] = []
        for future in futures:
            error = future.exception(timeout=120)
            if error is None:
                outcomes.append(future.result())
            else:
                assert isinstance(error, Exception), error
                outcomes.append(error)
    return outcomes


def balance(engine: Engine, region: str = "ZEELAND") -> tuple[int, int, int, int]:
    with Session(engine) as session:
        allowance = ledger.find_allowance(
            session,
            get_region(session, region),
            get_period(session, "2026"),
            AllowanceKind.support_days,
        )
        b = ledger.balance_of(session, allowance)
        return b.granted, b.reserved, b.used, b.available


class Sampler:
    """Reads the balance over and over (on its own engine) while the writers run."""

    def __init__(self, engine: Engine, regions: tuple[str, ...] = ("ZEELAND",)) -> None:
        self.engine = make_engine(engine.url.render_as_string(hide_password=False))
        self.regions = regions
        self.samples: list[tuple[int, int, int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            for region in self.regions:
                self.samples.append(balance(self.engine, region))
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.engine.dispose()


def submit(engine: Engine, region: str, half_days: int, index: int) -> str:
    by = Actor(f"slack:U{index:03d}", Channel.slack)
    with transaction(engine) as session:
        new = rq.NewRequest(region=region, kind="process", half_days=half_days)
        return rq.submit(session, new, by, NOW).ref


# --- no overdraft --------------------------------------------------------------------------


def test_concurrent_submissions_never_overdraw(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")  # 10 half days
    asked = [2 if i % 2 else 1 for i in range(WORKERS)]  # 1 day or half a day; 30 days in all

    with Sampler(engine) as sampler:
        outcomes = run_together(WORKERS, lambda i: submit(engine, "ZEELAND", asked[i], i))

    refused = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, Exception)]
    booked = {o: asked[i] for i, o in enumerate(outcomes) if isinstance(o, str)}
    unexpected = [o for _, o in refused if not isinstance(o, InsufficientBalance)]
    assert unexpected == []
    assert len(booked) + len(refused) == WORKERS

    # Exactly what fits was booked: the asks exceed the allowance, so all of it.
    assert sum(booked.values()) == 10
    assert balance(engine) == (10, 10, 0, 0)

    # References: unique, numbered without gaps (a refusal spends no number).
    assert sorted(booked) == [f"STO-2026-{n:04d}" for n in range(1, len(booked) + 1)]

    # Every refusal said truthfully what was left at its turn: the allowance minus
    # the requests booked before it (in ref order, which is commit order).
    left_after: set[Decimal] = set()
    remaining = 10
    for ref in sorted(booked):
        left_after.add(from_units(remaining, AllowanceKind.support_days))
        remaining -= booked[ref]
    left_after.add(from_units(remaining, AllowanceKind.support_days))
    for i, error in refused:
        assert isinstance(error, InsufficientBalance)
        assert error.params["requested"] == from_units(asked[i], AllowanceKind.support_days)
        assert error.params["available"] < error.params["requested"]
        assert error.params["available"] in left_after

    # The ledger holds one reservation per booked request, of exactly its size.
    with Session(engine) as session:
        rows = session.exec(select(SupportRequest)).all()
        assert {r.ref: r.half_days for r in rows} == booked
        for row in rows:
            entries = session.exec(
                select(LedgerEntry).where(LedgerEntry.request_id == row.id)
            ).all()
            assert [(e.op, e.units) for e in entries] == [("reserve", row.half_days)]
        assert len(session.exec(select(RequestEvent)).all()) == len(booked)

    assert sampler.samples, "the sampler never read a balance"
    for granted, reserved, used, available in sampler.samples:
        assert available >= 0
        assert granted - reserved - used == available
        assert granted == 10


def test_concurrent_submissions_that_all_fit(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="10")  # 20 half days, 20 asks of half a day
    outcomes = run_together(20, lambda i: submit(engine, "ZEELAND", 1, i))
    assert all(isinstance(o, str) for o in outcomes), outcomes
    assert len(set(outcomes)) == 20
    assert balance(engine) == (20, 20, 0, 0)


def test_two_regions_at_once_share_the_numbering_not_the_days(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="3")
    make_region("UTRECHT", days="4")
    regions = ("ZEELAND", "UTRECHT")

    with Sampler(engine, regions) as sampler:
        outcomes = run_together(WORKERS, lambda i: submit(engine, regions[i % 2], 1, i))

    refs = [o for o in outcomes if isinstance(o, str)]
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(e, InsufficientBalance) for e in errors), errors
    assert len(refs) == 6 + 8
    assert sorted(refs) == [f"STO-2026-{n:04d}" for n in range(1, 15)]
    assert balance(engine, "ZEELAND") == (6, 6, 0, 0)
    assert balance(engine, "UTRECHT") == (8, 8, 0, 0)
    assert {e.params["region"] for e in errors if isinstance(e, InsufficientBalance)} <= set(
        regions
    )
    assert all(sample[3] >= 0 for sample in sampler.samples)


def test_concurrent_reserves_on_the_ledger_never_overdraw(
    engine: Engine, make_region: RegionFactory
) -> None:
    """The ledger's own lock, without the request numbering that also serialises submit."""
    make_region("ZEELAND", days="5")
    with transaction(engine) as s:
        region = get_region(s, "ZEELAND")
        period = get_period(s, "2026")
        allowance = ledger.find_allowance(s, region, period, AllowanceKind.support_days)
        assert region.id is not None and period.id is not None and allowance.id is not None
        rows = [
            SupportRequest(
                ref=f"T-{i}",
                region_id=region.id,
                period_id=period.id,
                requested_by="test",
                kind="process",
                half_days=3,
                channel="cli",
                status="submitted",
                created_at=NOW,
                updated_at=NOW,
            )
            for i in range(WORKERS)
        ]
        s.add_all(rows)
        s.flush()
        request_ids = [r.id for r in rows if r.id is not None]
    allowance_id = allowance.id

    def reserve(i: int) -> int:
        with transaction(engine) as s:
            entry = ledger.reserve(s, allowance_id, 3, request_ids[i], COORDINATOR, NOW)
            time.sleep(0.01)  # hold the lock a moment: the others must wait, not read stale
            return entry.units

    with Sampler(engine) as sampler:
        outcomes = run_together(WORKERS, reserve)

    assert sum(1 for o in outcomes if o == 3) == 3  # 3 x 1.5 days fit in 5 days
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == WORKERS - 3
    for error in errors:
        assert isinstance(error, InsufficientBalance), error
        assert error.params["available"] == Decimal("0.5")
    assert balance(engine) == (10, 9, 0, 1)
    assert all(sample[3] >= 0 for sample in sampler.samples)


# --- one winner per transition -------------------------------------------------------------


def _scheduled(engine: Engine, half_days: int = 3) -> str:
    with transaction(engine) as s:
        ref = rq.submit(s, rq.NewRequest("ZEELAND", "process", half_days), COORDINATOR, NOW).ref
        rq.approve(s, ref, COORDINATOR, NOW)
        rq.schedule(s, ref, COORDINATOR, NOW, days=[DEC1, DEC2][: (half_days + 1) // 2])
    return ref


def _slowly(engine: Engine, action: Callable[[Session], object]) -> object:
    """Do the action, then keep the transaction open a moment so the others must wait."""
    with transaction(engine) as session:
        result = action(session)
        time.sleep(0.05)
        return result


def _events(engine: Engine, ref: str) -> list[tuple[str | None, str]]:
    with Session(engine) as session:
        found = rq.events_of(session, rq.get_request(session, ref))
        return [(e.from_status, e.to_status) for e in found]


def _ledger_ops(engine: Engine, ref: str) -> list[tuple[str, int]]:
    with Session(engine) as session:
        req = rq.get_request(session, ref)
        query = select(LedgerEntry).where(LedgerEntry.request_id == req.id)
        return [(e.op, e.units) for e in session.exec(query.order_by(col(LedgerEntry.id)))]


@pytest.mark.parametrize("round_", range(3))
def test_two_approvals_at_once_one_wins(
    engine: Engine, make_region: RegionFactory, round_: int
) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, "ZEELAND", 2, 0)
    people = [Actor(f"cli:team{i}", Channel.cli) for i in range(2)]

    outcomes = run_together(
        2, lambda i: _slowly(engine, lambda s: rq.approve(s, ref, people[i], NOW))
    )

    winners = [o for o in outcomes if isinstance(o, SupportRequest)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    loser = losers[0]
    assert isinstance(loser, IllegalTransition), loser
    assert loser.params == {"ref": ref, "current": "approved", "target": "approved"}
    assert _events(engine, ref) == [(None, "submitted"), ("submitted", "approved")]
    with Session(engine) as session:
        assert rq.get_request(session, ref).status == RequestStatus.approved


def test_many_approvals_at_once_one_wins(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    ref = submit(engine, "ZEELAND", 2, 0)
    outcomes = run_together(
        10,
        lambda i: _slowly(
            engine, lambda s: rq.approve(s, ref, Actor(f"cli:team{i}", Channel.cli), NOW)
        ),
    )
    assert sum(isinstance(o, SupportRequest) for o in outcomes) == 1
    assert sum(isinstance(o, IllegalTransition) for o in outcomes) == 9, outcomes
    assert _events(engine, ref).count(("submitted", "approved")) == 1


@pytest.mark.parametrize("start", [RequestStatus.submitted, RequestStatus.scheduled])
def test_many_cancellations_at_once_release_once(
    engine: Engine, make_region: RegionFactory, start: RequestStatus
) -> None:
    make_region("ZEELAND", days="5")
    ref = (
        submit(engine, "ZEELAND", 3, 0) if start == RequestStatus.submitted else _scheduled(engine)
    )
    assert balance(engine) == (10, 3, 0, 7)

    outcomes = run_together(
        8, lambda i: _slowly(engine, lambda s: rq.cancel(s, ref, COORDINATOR, NOW))
    )

    assert sum(isinstance(o, SupportRequest) for o in outcomes) == 1
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 7
    for error in errors:
        assert isinstance(error, IllegalTransition), error
        assert error.params["current"] == "cancelled"
    assert _ledger_ops(engine, ref) == [("reserve", 3), ("release", 3)]
    assert balance(engine) == (10, 0, 0, 10)
    assert [e for e in _events(engine, ref) if e[1] == "cancelled"] == [(start.value, "cancelled")]


@pytest.mark.parametrize("round_", range(3))
def test_complete_and_cancel_at_once_never_both(
    engine: Engine, make_region: RegionFactory, round_: int
) -> None:
    make_region("ZEELAND", days="5")
    ref = _scheduled(engine)
    actions: list[Callable[[Session], object]] = [
        lambda s: rq.complete(s, ref, COORDINATOR, NOW),
        lambda s: rq.cancel(s, ref, COORDINATOR, NOW),
    ]

    outcomes = run_together(2, lambda i: _slowly(engine, actions[i]))

    won = [i for i, o in enumerate(outcomes) if isinstance(o, SupportRequest)]
    assert len(won) == 1, outcomes
    loser = outcomes[1 - won[0]]
    assert isinstance(loser, IllegalTransition), loser
    if won == [0]:
        assert _ledger_ops(engine, ref) == [("reserve", 3), ("consume", 3)]
        assert balance(engine) == (10, 0, 3, 7)
    else:
        assert _ledger_ops(engine, ref) == [("reserve", 3), ("release", 3)]
        assert balance(engine) == (10, 0, 0, 10)


def test_cancellations_free_days_for_concurrent_submissions(
    engine: Engine, make_region: RegionFactory
) -> None:
    """Cancels and new requests interleave; the ledger stays exact and never negative."""
    make_region("ZEELAND", days="5")
    first = [submit(engine, "ZEELAND", 2, i) for i in range(5)]  # all 10 half days held
    assert balance(engine) == (10, 10, 0, 0)

    def work(i: int) -> object:
        if i < 5:
            with transaction(engine) as s:
                return rq.cancel(s, first[i], COORDINATOR, NOW)
        return submit(engine, "ZEELAND", 2, i)

    with Sampler(engine) as sampler:
        outcomes = run_together(15, work)

    assert all(isinstance(o, SupportRequest) for o in outcomes[:5]), outcomes[:5]
    later = outcomes[5:]
    errors = [o for o in later if isinstance(o, Exception)]
    assert all(isinstance(e, InsufficientBalance) for e in errors), errors
    booked = [o for o in later if isinstance(o, str)]
    granted, reserved, used, available = balance(engine)
    assert (granted, used) == (10, 0)
    assert reserved == 2 * len(booked)
    assert available == 10 - reserved >= 0
    assert len(set(booked)) == len(booked)
    assert all(sample[3] >= 0 for sample in sampler.samples)
