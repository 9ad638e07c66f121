"""Property test of the quota ledger against a small in-memory model (SQLite).

Hypothesis drives random sequences of grant / reserve / release / consume /
adjust / expire, including ones that must be refused. A plain Python model
decides what each operation should do; the test checks that the domain does
exactly that (refusing exactly what the model refuses, with the same facts),
and that after every step the balance derived from the ledger equals the
model, `granted - reserved - used == available >= 0`.

Hypothesis and function-scoped fixtures do not mix, so the test migrates one
SQLite database and every example starts from its own copy of it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine
from sqlmodel import Session, select

import models.tables  # noqa: F401  (registers the tables)
from models import ledger
from models.db import make_engine, transaction
from models.errors import AdjustBelowCommitted, ExceedsReservation, InsufficientBalance
from models.quantity import from_units
from models.schema import upgrade
from models.tables import Allowance, LedgerEntry, Period, Region, SupportRequest
from models.types import AllowanceKind, Channel, LedgerOp, RequestStatus
from tests.conftest import NOW, TEAM

DAYS = AllowanceKind.support_days
REQUESTS = 3
KEYS = ("bonus-a", "bonus-b")
START = 10  # 5 days granted in each period


@dataclass
class Model:
    """What the ledger should hold: plain integers, no database."""

    granted: int = START
    reserved: dict[int, int] = field(default_factory=dict)
    used: int = 0
    next_granted: int = START
    keys: set[str] = field(default_factory=set)
    carried: int = 0  # units rolled over into the next period so far

    @property
    def total_reserved(self) -> int:
        return sum(self.reserved.values())

    @property
    def available(self) -> int:
        return self.granted - self.total_reserved - self.used

    def held(self, request: int) -> int:
        return self.reserved.get(request, 0)


@dataclass(frozen=True)
class Template:
    """A database built once per test run; every example starts from a copy of it."""

    path: Path
    current: int
    next: int
    requests: list[int]


def _build_template(directory: Path) -> Template:
    path = directory / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)  # the migrated schema, as the product runs it
    with transaction(engine) as session:
        region = Region(code="ZEELAND", name="Zeeland", yearly_support_half_days=START)
        session.add(region)
        periods = [
            Period(code=str(y), starts_on=date(y, 1, 1), ends_on=date(y, 12, 31))
            for y in (2026, 2027)
        ]
        session.add_all(periods)
        session.flush()
        allowances = [ledger.ensure_allowance(session, region, p, DAYS) for p in periods]
        ids = [a.id for a in allowances]
        assert ids[0] is not None and ids[1] is not None
        for allowance_id in (ids[0], ids[1]):
            ledger.grant(session, allowance_id, START, TEAM, NOW, reason="start")
        assert region.id is not None and periods[0].id is not None
        requests = [
            SupportRequest(
                ref=f"T-{n}",
                region_id=region.id,
                period_id=periods[0].id,
                requested_by="test",
                kind="process",
                half_days=1,
                channel=Channel.cli.value,
                status=RequestStatus.submitted.value,
                created_at=NOW,
                updated_at=NOW,
            )
            for n in range(REQUESTS)
        ]
        session.add_all(requests)
        session.flush()
        request_ids = [r.id for r in requests if r.id is not None]
    engine.dispose()  # checkpoints the WAL into the file, so a plain copy is complete
    return Template(path, ids[0], ids[1], request_ids)


class LedgerMachine(RuleBasedStateMachine):
    template: ClassVar[Template]  # set by the test before it runs the machine

    def __init__(self) -> None:
        super().__init__()
        template = self.template
        self.directory = Path(tempfile.mkdtemp(prefix="sto-ledger-", dir=template.path.parent))
        path = self.directory / "ledger.sqlite3"
        shutil.copyfile(template.path, path)
        self.engine: Engine = make_engine(f"sqlite:///{path}")
        self.current, self.next, self.requests = template.current, template.next, template.requests
        self.model = Model()

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------

    def _entries(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(LedgerEntry.id)).all())

    # -- rules -----------------------------------------------------------------------------

    @rule(units=st.integers(-2, 6), key=st.none() | st.sampled_from(KEYS))
    def grant(self, units: int, key: str | None) -> None:
        before = self._entries()
        if units <= 0:
            with pytest.raises(ValueError), transaction(self.engine) as s:
                ledger.grant(s, self.current, units, TEAM, NOW, dedupe_key=key)
            assert self._entries() == before
            return
        with transaction(self.engine) as s:
            entry = ledger.grant(s, self.current, units, TEAM, NOW, dedupe_key=key)
        if key is not None and key in self.model.keys:
            assert entry is None
            assert self._entries() == before
            return
        assert entry is not None and entry.units == units
        self.model.granted += units
        if key is not None:
            self.model.keys.add(key)

    @rule(request=st.integers(0, REQUESTS - 1), units=st.integers(-1, 12))
    def reserve(self, request: int, units: int) -> None:
        before = self._entries()
        request_id = self.requests[request]
        if units <= 0:
            with pytest.raises(ValueError), transaction(self.engine) as s:
                ledger.reserve(s, self.current, units, request_id, TEAM, NOW)
        elif units > self.model.available:
            with pytest.raises(InsufficientBalance) as caught, transaction(self.engine) as s:
                ledger.reserve(s, self.current, units, request_id, TEAM, NOW)
            assert caught.value.params["requested"] == from_units(units, DAYS)
            assert caught.value.params["available"] == from_units(self.model.available, DAYS)
            assert isinstance(caught.value.params["available"], Decimal)
        else:
            with transaction(self.engine) as s:
                entry = ledger.reserve(s, self.current, units, request_id, TEAM, NOW)
            assert entry.units == units and entry.op == LedgerOp.reserve
            self.model.reserved[request] = self.model.held(request) + units
            return
        assert self._entries() == before

    @rule(request=st.integers(0, REQUESTS - 1))
    def release(self, request: int) -> None:
        with transaction(self.engine) as s:
            entry = ledger.release(s, self.current, self.requests[request], TEAM, NOW)
        held = self.model.held(request)
        if held == 0:
            assert entry is None
        else:
            assert entry is not None and entry.units == held
            self.model.reserved[request] = 0

    @rule(request=st.integers(0, REQUESTS - 1), units=st.integers(-1, 8))
    def consume(self, request: int, units: int) -> None:
        before = self._entries()
        request_id = self.requests[request]
        held = self.model.held(request)
        if units < 0:
            with pytest.raises(ValueError), transaction(self.engine) as s:
                ledger.consume(s, self.current, request_id, units, TEAM, NOW)
        elif units > held:
            with pytest.raises(ExceedsReservation) as caught, transaction(self.engine) as s:
                ledger.consume(s, self.current, request_id, units, TEAM, NOW, ref="T")
            assert caught.value.params["requested"] == from_units(units, DAYS)
            assert caught.value.params["reserved"] == from_units(held, DAYS)
        else:
            with transaction(self.engine) as s:
                entry = ledger.consume(s, self.current, request_id, units, TEAM, NOW)
            if units == 0:
                assert entry is None
            else:
                assert entry is not None and entry.units == units
                self.model.reserved[request] = held - units
                self.model.used += units
                return
        assert self._entries() == before

    @rule(units=st.integers(-12, 8))
    def adjust(self, units: int) -> None:
        before = self._entries()
        if units == 0:
            with pytest.raises(ValueError), transaction(self.engine) as s:
                ledger.adjust(s, self.current, units, TEAM, NOW, reason="nothing")
        elif units < 0 and -units > self.model.available:
            with pytest.raises(AdjustBelowCommitted) as caught, transaction(self.engine) as s:
                ledger.adjust(s, self.current, units, TEAM, NOW, reason="down")
            params = caught.value.params
            assert params["requested"] == from_units(-units, DAYS)
            assert params["available"] == from_units(self.model.available, DAYS)
            committed = self.model.total_reserved + self.model.used
            assert params["committed"] == from_units(committed, DAYS)
        else:
            with transaction(self.engine) as s:
                entry = ledger.adjust(s, self.current, units, TEAM, NOW, reason="change")
            assert entry.units == units
            self.model.granted += units
            return
        assert self._entries() == before

    @rule(cap=st.integers(0, 6))
    def expire(self, cap: int) -> None:
        available = self.model.available
        with transaction(self.engine) as s:
            result = ledger.expire(s, self.current, TEAM, NOW, rollover_cap=cap)
        assert result == ((available, 0) if available > 0 else (0, 0))
        self.model.granted -= max(available, 0)

    @rule(cap=st.integers(0, 6))
    def expire_with_rollover(self, cap: int) -> None:
        available = self.model.available
        with transaction(self.engine) as s:
            result = ledger.expire(
                s, self.current, TEAM, NOW, rollover_to=self.next, rollover_cap=cap
            )
        if available <= 0:
            assert result == (0, 0)
            return
        # All roll-overs from one allowance to the next together stay within the cap.
        carried = max(0, min(available, cap - self.model.carried))
        assert result == (available, carried)
        self.model.granted -= available
        self.model.next_granted += carried
        self.model.carried += carried
        with Session(self.engine) as session:
            following = session.get(Allowance, self.next)
            assert following is not None
            after = ledger.balance_of(session, following)
        assert (after.granted, after.reserved, after.used) == (self.model.next_granted, 0, 0)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def ledger_matches_model(self) -> None:
        with Session(self.engine) as session:
            current = session.get(Allowance, self.current)
            assert current is not None
            balance = ledger.balance_of(session, current)
            rows = session.exec(
                select(LedgerEntry).where(LedgerEntry.allowance_id == self.current)
            ).all()
        assert balance.granted == self.model.granted
        assert balance.reserved == self.model.total_reserved
        assert balance.used == self.model.used
        assert balance.available == self.model.available
        assert balance.granted - balance.reserved - balance.used == balance.available
        assert balance.available >= 0
        assert balance.reserved >= 0 and balance.used >= 0

        # The entries themselves, summed here independently of the ledger module.
        held = dict.fromkeys(self.requests, 0)
        sign = {LedgerOp.reserve: 1, LedgerOp.release: -1, LedgerOp.consume: -1}
        for row in rows:
            assert row.op in set(LedgerOp)
            if row.op == LedgerOp.adjust:
                assert row.units != 0
            else:
                assert row.units > 0
            if row.op in sign:
                assert row.request_id is not None
                held[row.request_id] += sign[LedgerOp(row.op)] * row.units
            else:
                assert row.request_id is None
        for index, request_id in enumerate(self.requests):
            assert held[request_id] == self.model.held(index) >= 0


def test_ledger_behaves_like_the_model(tmp_path: Path) -> None:
    LedgerMachine.template = _build_template(tmp_path)
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
