"""Working days: no weekends, no public holidays, and for a region no school holidays.

Public holidays come from the `holidays` package (the Netherlands, and the
Caribbean Netherlands for the BES region); school holidays from the
reference data per zone (`config/data/school_holidays.csv`, loaded by seed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays
from sqlmodel import Session, select

from models.tables import Region, SchoolHoliday

ALL_ZONES = "alle"
BES_TIMEZONE = "America/Kralendijk"


@cache
def _public(country: str, year: int) -> dict[date, str]:
    return dict(holidays.country_holidays(country, years=year, language="nl"))


def country_of(region: Region) -> str:
    """Bonaire, Sint Eustatius and Saba keep their own public holidays."""
    return "BQ" if region.timezone == BES_TIMEZONE else "NL"


@dataclass(frozen=True)
class Holiday:
    zone: str
    name: str
    starts_on: date
    ends_on: date


class WorkingCalendar:
    def __init__(self, school_holidays: Iterable[Holiday]) -> None:
        self._school = tuple(school_holidays)

    def public_holiday(self, day: date, country: str = "NL") -> str | None:
        return _public(country, day.year).get(day)

    def school_holiday(self, day: date, zone: str | None) -> str | None:
        if not zone:
            return None  # BES: holidays are set locally, none in our data
        for holiday in self._school:
            if holiday.zone in (zone, ALL_ZONES) and holiday.starts_on <= day <= holiday.ends_on:
                return holiday.name
        return None

    def is_working_day(self, day: date, zone: str | None = None, country: str = "NL") -> bool:
        return (
            day.weekday() < 5
            and self.public_holiday(day, country) is None
            and self.school_holiday(day, zone) is None
        )

    def for_region(self, region: Region, start: date, end: date) -> Iterator[date]:
        """The region's working days from start to end, inclusive."""
        day = start
        while day <= end:
            if self.is_working_day(day, region.holiday_zone, country_of(region)):
                yield day
            day += timedelta(days=1)


def load_calendar(session: Session) -> WorkingCalendar:
    rows = session.exec(select(SchoolHoliday)).all()
    return WorkingCalendar(Holiday(r.zone, r.name, r.starts_on, r.ends_on) for r in rows)
