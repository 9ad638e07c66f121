"""Seeding from config/data/: 77 regions with their allowances, and twice is once."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from config.settings import DATA_DIR
from models import ledger
from models.db import transaction
from models.reference import SeedError, is_seeded, seed
from models.tables import (
    Allowance,
    AuditEntry,
    Contact,
    LedgerEntry,
    Period,
    Region,
    RegionContact,
    SchoolHoliday,
    Supporter,
)
from models.types import AllowanceKind
from tests.conftest import NOW, TEAM


def count(session: Session, model: type[SQLModel]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def snapshot(session: Session) -> dict[str, list[Any]]:
    """Every row of every table, in primary-key order."""
    tables: dict[str, list[Any]] = {}
    for table in SQLModel.metadata.sorted_tables:
        query = table.select().order_by(*table.primary_key.columns)
        tables[table.name] = [tuple(row) for row in session.connection().execute(query)]
    return tables


def ledger_sums(session: Session) -> list[tuple[str, str, str, str, int]]:
    query = (
        sa_select(
            col(Region.code),
            col(Period.code),
            col(Allowance.kind),
            col(LedgerEntry.op),
            func.sum(LedgerEntry.units),
        )
        .join(Allowance, col(Allowance.id) == col(LedgerEntry.allowance_id))
        .join(Region, col(Region.id) == col(Allowance.region_id))
        .join(Period, col(Period.id) == col(Allowance.period_id))
        .group_by(Region.code, Period.code, Allowance.kind, LedgerEntry.op)
        .order_by(Region.code, Period.code, Allowance.kind, LedgerEntry.op)
    )
    return [(r, p, k, o, int(s)) for r, p, k, o, s in session.connection().execute(query)]


def test_seed_loads_the_reference_data(engine: Engine) -> None:
    with transaction(engine) as session:
        assert not is_seeded(session)
        report = seed(session, TEAM, NOW)
    assert report.regions.created == 77
    assert report.supporters.created == 21
    assert report.contacts.created == 22
    assert report.periods.created == 3
    assert report.school_holidays.created == 34
    assert report.granted == 77 * 3 * 2  # periods 2026, 2027 and 2028 are open on NOW
    with transaction(engine) as session:
        assert is_seeded(session)
        assert count(session, Region) == 77
        assert count(session, Supporter) == 21
        assert count(session, Contact) == 22
        assert count(session, SchoolHoliday) == 34
        assert count(session, Period) == 3
        bes = session.exec(select(Region).where(Region.code == "BES")).one()
        assert bes.timezone == "America/Kralendijk"
        assert bes.holiday_zone is None
        others = session.exec(select(Region).where(Region.code != "BES")).all()
        assert {r.timezone for r in others} == {"Europe/Amsterdam"}
        assert {r.holiday_zone for r in others} == {"noord", "midden", "zuid"}
        assert _regions_of(session, "tamara.bos@emmen-ter-apel.example") == [
            "EMMEN-TER-APEL",
            "ZO-GRONINGEN",
        ]
        assert count(session, RegionContact) == 23


def _regions_of(session: Session, email: str) -> list[str]:
    contact = session.exec(select(Contact).where(Contact.email == email)).one()
    query = (
        select(Region.code)
        .join(RegionContact, col(RegionContact.region_id) == col(Region.id))
        .where(RegionContact.contact_id == contact.id)
        .order_by(col(Region.code))
    )
    return list(session.exec(query).all())


def test_every_region_has_its_yearly_allowances(engine: Engine) -> None:
    with transaction(engine) as session:
        seed(session, TEAM, NOW)
    with transaction(engine) as session:
        periods = session.exec(select(Period).where(col(Period.code).in_(["2026", "2027"]))).all()
        assert len(periods) == 2
        for region in session.exec(select(Region)).all():
            for period in periods:
                days = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
                visits = ledger.find_allowance(session, region, period, AllowanceKind.cf_visits)
                days_balance = ledger.balance_of(session, days)
                assert days_balance.granted == region.yearly_support_half_days > 0
                assert days_balance.available == days_balance.granted
                assert ledger.balance_of(session, visits).granted == region.yearly_cf_visits
            assert region.critical_friend_id is not None


def test_seeding_twice_changes_nothing(engine: Engine) -> None:
    with transaction(engine) as session:
        seed(session, TEAM, NOW)
    with transaction(engine) as session:
        before, sums = snapshot(session), ledger_sums(session)
    later = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    with transaction(engine) as session:
        report = seed(session, TEAM, later)
    assert not report.changed
    assert report.regions.unchanged == 77 and report.contacts.unchanged == 22
    with transaction(engine) as session:
        assert ledger_sums(session) == sums
        assert snapshot(session) == before
        assert count(session, AuditEntry) == 5  # one per file, from the first seed only


def test_a_period_that_ended_gets_no_grant(engine: Engine) -> None:
    # 23:30 UTC on 31 December is already New Year in Amsterdam: 2026 has ended.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    with transaction(engine) as session:
        report = seed(session, TEAM, new_year)
        assert report.granted == 77 * 2 * 2
        granted_periods = session.exec(
            select(Period.code)
            .join(Allowance, col(Allowance.period_id) == col(Period.id))
            .distinct()
            .order_by(col(Period.code))
        ).all()
        assert list(granted_periods) == ["2027", "2028"]


def test_a_broken_data_file_stops_the_seed(sqlite_engine: Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    regions = data / "regions.csv"
    lines = regions.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace(",noord,", ",oost,")
    regions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SeedError) as caught, transaction(sqlite_engine) as session:
        seed(session, TEAM, NOW, data)
    assert caught.value.path == regions
    assert [(p.line, p.column, p.problem, p.value) for p in caught.value.problems] == [
        (5, "holiday_zone", "invalid_zone", "oost")
    ]
    with transaction(sqlite_engine) as session:
        assert not is_seeded(session)
        assert count(session, Supporter) == 0
