"""Property test of registrations and the waitlist against a small in-memory model (SQLite).

Hypothesis drives random sequences of register / cancel / change capacity /
pass the deadline / the team promoting / switching "new regions first" on and
off, including ones that must be refused.
A plain Python model decides what each should do; after every step the
database holds exactly the model's statuses, in the model's waitlist order,
and never more registered than capacity.

Like tests/test_ledger_properties.py: one migrated SQLite database, copied
for every example (hypothesis and function-scoped fixtures do not mix).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine
from sqlmodel import Session, col, select

import models.tables  # noqa: F401  (registers the tables)
from models import meetings as mt
from models.db import make_engine, transaction
from models.errors import (
    AlreadyRegistered,
    CapacityBelowRegistered,
    MeetingClosed,
    UnknownRegistration,
)
from models.schema import upgrade
from models.tables import Region, Registration
from models.types import Channel
from tests.conftest import NOW, TEAM

PEOPLE = 8
REGIONS: tuple[str | None, ...] = (None, "ZEELAND", "TWENTE")
START = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
DEADLINE = START - timedelta(days=7)
LATE = DEADLINE + timedelta(hours=1)
CAPACITY = 3
MAX_PER_REGION = 2


def region_of(person: int) -> str | None:
    return REGIONS[person % len(REGIONS)]


def email_of(person: int) -> str:
    return f"p{person}@school.example"


@dataclass
class Model:
    capacity: int = CAPACITY
    closed: bool = False  # past the deadline
    new_regions_first: bool = False
    # (person, status) in the order they registered: FIFO
    entries: list[tuple[int, str]] = field(default_factory=list)

    def open_index(self, person: int) -> int | None:
        for i, (p, s) in enumerate(self.entries):
            if p == person and s in ("registered", "waitlisted"):
                return i
        return None

    def count(self, region: str | None = None) -> int:
        return sum(
            1
            for p, s in self.entries
            if s == "registered" and (region is None or region_of(p) == region)
        )

    def fits(self, person: int) -> bool:
        if self.count() >= self.capacity:
            return False
        region = region_of(person)
        return region is None or self.count(region) < MAX_PER_REGION

    def line(self) -> list[int]:
        """Who gets the next seat first: FIFO, or people of regions nobody registered from."""
        waiting = [p for p, s in self.entries if s == "waitlisted"]
        if not self.new_regions_first:
            return waiting
        new = [p for p in waiting if region_of(p) is not None and self.count(region_of(p)) == 0]
        return new + [p for p in waiting if p not in new]

    def place(self, person: int) -> int | None:
        line = self.line()
        return line.index(person) + 1 if person in line else None

    def promote(self) -> None:
        while self.count() < self.capacity:
            first = next((p for p in self.line() if self.fits(p)), None)
            if first is None:
                return
            i = self.open_index(first)
            assert i is not None
            self.entries[i] = (first, "registered")


def _build_template(directory: Path, new_regions_first: bool) -> tuple[Path, str]:
    path = directory / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(engine) as session:
        session.add_all([Region(code=c, name=c.title()) for c in REGIONS if c is not None])
        session.flush()
        code = mt.create_meeting(
            session,
            title="Eigenschappen",
            theme="",
            description="",
            starts_at=START,
            ends_at=START + timedelta(hours=2),
            timezone="Europe/Amsterdam",
            location="Utrecht",
            online_url="",
            capacity=CAPACITY,
            registration_deadline=DEADLINE,
            max_per_region=MAX_PER_REGION,
            new_regions_first=new_regions_first,
            by=TEAM,
            now=NOW,
        ).code
    engine.dispose()
    return path, code


class WaitlistMachine(RuleBasedStateMachine):
    template: ClassVar[tuple[Path, str]]
    new_regions_first: ClassVar[bool]

    def __init__(self) -> None:
        super().__init__()
        source, self.code = self.template
        self.directory = Path(tempfile.mkdtemp(prefix="sto-meet-", dir=source.parent))
        path = self.directory / "meetings.sqlite3"
        shutil.copyfile(source, path)
        self.engine: Engine = make_engine(f"sqlite:///{path}")
        self.model = Model(new_regions_first=self.new_regions_first)
        self.tick = 0

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    def now(self) -> datetime:
        self.tick += 1  # distinct times, so created_at alone orders the line
        base = LATE if self.model.closed else NOW
        return base + timedelta(seconds=self.tick)

    @rule(person=st.integers(0, PEOPLE - 1))
    def register(self, person: int) -> None:
        m = self.model
        try:
            with transaction(self.engine) as session:
                row = mt.register(
                    session,
                    self.code,
                    name=f"P{person}",
                    email=email_of(person),
                    region_code=region_of(person),
                    contact_id=None,
                    channel=Channel.email.value,
                    by=TEAM,
                    now=self.now(),
                )
                status = row.status
        except MeetingClosed as e:
            assert m.closed and e.params["reason"] == "deadline_passed"
            return
        except AlreadyRegistered as e:
            index = m.open_index(person)
            assert index is not None
            assert e.params["status"] == m.entries[index][1]
            assert e.params["place"] == m.place(person)
            return
        assert not m.closed and m.open_index(person) is None
        expected = "registered" if m.fits(person) else "waitlisted"
        assert status == expected
        m.entries.append((person, expected))

    @rule(person=st.integers(0, PEOPLE - 1))
    def cancel(self, person: int) -> None:
        m = self.model
        try:
            with transaction(self.engine) as session:
                mt.cancel_registration(
                    session, (self.code, email_of(person)), by=TEAM, now=self.now()
                )
        except UnknownRegistration:
            assert m.open_index(person) is None
            return
        index = m.open_index(person)
        assert index is not None
        was = m.entries[index][1]
        m.entries[index] = (person, "cancelled")
        if was == "registered" and not m.closed:
            m.promote()

    @rule(capacity=st.integers(1, 6))
    def change_capacity(self, capacity: int) -> None:
        m = self.model
        try:
            with transaction(self.engine) as session:
                mt.edit_meeting(session, self.code, capacity=capacity, by=TEAM, now=self.now())
        except CapacityBelowRegistered:
            assert capacity < m.count()
            return
        assert capacity >= m.count()
        m.capacity = capacity
        if not m.closed:
            m.promote()

    @rule(on=st.booleans())
    def switch_new_regions_first(self, on: bool) -> None:
        with transaction(self.engine) as session:
            before = mt.get_meeting(session, self.code).sequence
            meeting = mt.edit_meeting(
                session, self.code, new_regions_first=on, by=TEAM, now=self.now()
            )
            assert meeting.sequence == before  # the team's option: nobody is told
        self.model.new_regions_first = on
        if not self.model.closed:
            self.model.promote()

    @rule()
    def pass_deadline(self) -> None:
        self.model.closed = True

    @rule()
    def team_promotes(self) -> None:
        with transaction(self.engine) as session:
            mt.promote_next(session, self.code, by=TEAM, now=self.now())
        self.model.promote()

    @invariant()
    def database_matches_model(self) -> None:
        with Session(self.engine) as session:
            rows = session.exec(
                select(Registration).order_by(col(Registration.created_at), col(Registration.id))
            ).all()
            got = [(int(r.email[1 : r.email.index("@")]), r.status) for r in rows]
            assert got == self.model.entries
            line = [r.email for r in mt.waitlist(session, self.code)]
            assert line == [email_of(p) for p in self.model.line()]
            attending = mt.attendees(session, self.code)
            meeting = mt.get_meeting(session, self.code)
            assert len(attending) <= meeting.capacity == self.model.capacity


@pytest.mark.parametrize("new_regions_first", [False, True], ids=["fifo", "new-regions-first"])
def test_waitlist_behaves_like_the_model(tmp_path: Path, new_regions_first: bool) -> None:
    """Starting first come first served, or with new regions first (either can switch)."""
    WaitlistMachine.template = _build_template(tmp_path, new_regions_first)
    WaitlistMachine.new_regions_first = new_regions_first
    run_state_machine_as_test(
        WaitlistMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
