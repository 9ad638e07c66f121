"""Shared fixtures: a clean database per test, on SQLite and on PostgreSQL.

PostgreSQL is the server on this machine (STO_TEST_POSTGRES_URL, by default
127.0.0.1:5432, database `test`, from which each run creates a database of
its own). When it is not there the tests that need it fail: CI must not go
green on SQLite alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

import models.tables  # noqa: F401  (registers the tables)
from models import ledger
from models.actor import Actor
from models.db import make_engine, normalise_url, transaction
from models.schema import upgrade
from models.tables import Period, Region
from models.types import AllowanceKind, Channel

if TYPE_CHECKING:  # tests.slack_harness imports this module: imported lazily in `slack`
    from tests.slack_harness import SlackHarness

POSTGRES_URL = os.environ.get(
    "STO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TEAM = Actor("cli:test", Channel.cli)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, dropped at the end.

    Its own database, so that two runs on one machine (a developer and CI)
    cannot empty each other's tables; migrated once, emptied per test.
    """
    server = make_url(normalise_url(POSTGRES_URL))
    name = f"sto_test_{os.getpid()}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_engine(url: str) -> Engine:
    engine = make_engine(url, pool_size=20, max_overflow=20)
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, built once and copied for every test."""
    path = tmp_path_factory.mktemp("template") / "sto.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _sqlite_engine(template: Path, tmp_path: Path) -> Engine:
    target = tmp_path / "sto.sqlite3"
    shutil.copyfile(template, target)
    return make_engine(f"sqlite:///{target}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[Engine]:
    """A clean, migrated, empty schema on each database the product supports."""
    if request.param == "postgres":
        eng = _postgres_engine(request.getfixturevalue("postgres_url"))
    else:
        eng = _sqlite_engine(sqlite_template, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    eng = _sqlite_engine(sqlite_template, tmp_path)
    yield eng
    eng.dispose()


RegionFactory = Callable[..., Region]


@pytest.fixture
def make_region(engine: Engine) -> RegionFactory:
    """Create a region with periods 2026 and 2027 and its allowances granted."""

    def factory(
        code: str = "ZEELAND", days: str = "5", visits: int = 4, tz: str = "Europe/Amsterdam"
    ) -> Region:
        with transaction(engine) as session:
            periods = ensure_periods(session)
            half_days = int(float(days.replace(",", ".")) * 2)
            region = Region(
                code=code,
                name=code.title(),
                timezone=tz,
                holiday_zone="zuid",
                yearly_support_half_days=half_days,
                yearly_cf_visits=visits,
            )
            session.add(region)
            session.flush()
            for period in periods:
                for kind, units in (
                    (AllowanceKind.support_days, half_days),
                    (AllowanceKind.cf_visits, visits),
                ):
                    allowance = ledger.ensure_allowance(session, region, period, kind)
                    assert allowance.id is not None
                    if units:
                        ledger.grant(session, allowance.id, units, TEAM, NOW, reason="test")
            return region

    return factory


@pytest.fixture
def slack(engine: Engine, make_region: RegionFactory) -> Iterator[SlackHarness]:
    """Our Slack app in HTTP mode against the fake Slack, with ZEELAND, TWENTE and people."""
    from tests.slack_harness import populate, running

    populate(engine, make_region)
    with running(engine) as harness:
        yield harness


def ensure_periods(session: Session) -> list[Period]:
    found = []
    for year in (2026, 2027):
        period = session.exec(select(Period).where(Period.code == str(year))).first()
        if period is None:
            period = Period(code=str(year), starts_on=date(year, 1, 1), ends_on=date(year, 12, 31))
            session.add(period)
            session.flush()
        found.append(period)
    return found
