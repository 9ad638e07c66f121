"""Reference data: seeding the database from the files in `config/data/`.

`seed` loads periods, supporters, regions, contacts and school holidays
(through the same importers as `sto import`; periods and school holidays are
`models.csvimport` kinds defined here) and grants every region its yearly
allowances for each period that has not ended yet. Everything is an upsert
or a grant under a dedupe key, so seeding twice changes nothing.
Dutch public holidays are not stored: they come from the `holidays` package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from config.settings import DATA_DIR
from models import imports
from models.actor import Actor
from models.csvimport import (
    Bad,
    Column,
    ImportReport,
    LineProblem,
    Problem,
    TableKind,
    choice,
    run_import,
)
from models.tables import LedgerEntry, Period, Region, SchoolHoliday

# What `import_regions`, `import_contacts` and `import_supporters` look like.
Importer = Callable[[Session, str, Actor, datetime], ImportReport]

_SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")
HOLIDAY_ZONES = ("noord", "midden", "zuid", "alle")


class SeedError(Exception):
    """A reference data file has problems; nothing should be committed."""

    def __init__(self, path: Path, problems: list[LineProblem]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s), first: {problems[0]}")
        self.path = path
        self.problems = problems


@dataclass
class SeedReport:
    periods: ImportReport
    supporters: ImportReport
    regions: ImportReport
    contacts: ImportReport
    school_holidays: ImportReport
    granted: int  # ledger grants written by this seed

    @property
    def changed(self) -> bool:
        reports = (self.periods, self.supporters, self.regions, self.contacts, self.school_holidays)
        return self.granted > 0 or any(r.created or r.updated for r in reports)


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Bad(Problem.invalid_date) from None


def school_year(value: str) -> str:
    match = _SCHOOL_YEAR.match(value)
    if match is None or int(match[2]) != int(match[1]) + 1:
        raise Bad(Problem.invalid_school_year)
    return value


def _end_after_start(
    values: dict[str, Any], start: str, end: str
) -> list[tuple[str, Problem, str]]:
    if values[end] < values[start]:
        return [(end, Problem.end_before_start, values[end].isoformat())]
    return []


class _Periods(TableKind):
    name = "periods"
    model = Period
    key_columns = ("code",)

    def prepare(self, session: Session) -> Sequence[Column]:
        return (
            Column("code", max_length=16),
            Column("starts_on", iso_date),
            Column("ends_on", iso_date),
        )

    def check(self, values: dict[str, Any]) -> list[tuple[str, Problem, str]]:
        return _end_after_start(values, "starts_on", "ends_on")


class _SchoolHolidays(TableKind):
    name = "school_holidays"
    model = SchoolHoliday
    key_columns = ("schoolyear", "holiday", "zone")

    def prepare(self, session: Session) -> Sequence[Column]:
        return (
            Column("schoolyear", school_year, attr="school_year", max_length=9),
            Column("holiday", lambda v: v.lower(), attr="name", max_length=60),
            Column("zone", choice(HOLIDAY_ZONES, Problem.invalid_zone)),
            Column("start", iso_date, attr="starts_on"),
            Column("end", iso_date, attr="ends_on"),
            Column("source_url", required=False, max_length=1000),
        )

    def check(self, values: dict[str, Any]) -> list[tuple[str, Problem, str]]:
        return _end_after_start(values, "start", "end")


def is_seeded(session: Session) -> bool:
    """Whether any region exists (`sto run` seeds on first start when not)."""
    return session.exec(select(Region.id).limit(1)).first() is not None


def seed(session: Session, by: Actor, now: datetime, data_dir: Path = DATA_DIR) -> SeedReport:
    """Load the reference data files and grant the yearly allowances; idempotent.

    Raises SeedError when a file has problems; the caller's transaction then
    rolls back, so a broken file leaves nothing half-loaded.
    """
    grants_before = _yearly_grants(session)
    periods = _load(session, data_dir / "periods.csv", by, now, _Periods())
    supporters = _load(session, data_dir / "supporters.csv", by, now, imports.import_supporters)
    regions = _load(session, data_dir / "regions.csv", by, now, imports.import_regions)
    contacts = _load(session, data_dir / "contacts.csv", by, now, imports.import_contacts)
    holidays = _load(session, data_dir / "school_holidays.csv", by, now, _SchoolHolidays())
    all_regions = session.exec(select(Region).order_by(col(Region.code))).all()
    imports.grant_yearly_allowances(session, all_regions, by, now)
    return SeedReport(
        periods=periods,
        supporters=supporters,
        regions=regions,
        contacts=contacts,
        school_holidays=holidays,
        granted=_yearly_grants(session) - grants_before,
    )


def _load(
    session: Session,
    path: Path,
    by: Actor,
    now: datetime,
    how: TableKind | Importer,
) -> ImportReport:
    text = path.read_text(encoding="utf-8-sig")
    if isinstance(how, TableKind):
        report = run_import(session, how, text, by, now)
    else:
        report = how(session, text, by, now)
    if report.problems:
        raise SeedError(path, report.problems)
    return report


def _yearly_grants(session: Session) -> int:
    query = select(func.count(col(LedgerEntry.id))).where(
        col(LedgerEntry.dedupe_key).startswith("yearly:")
    )
    return int(session.exec(query).one())
