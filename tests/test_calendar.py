"""Working days per region, from the seeded school holidays and the holidays package."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from models.db import transaction
from models.reference import seed
from models.regions import get_region
from scheduling.calendar import load_calendar
from tests.conftest import NOW, TEAM


def test_working_days_per_zone_and_bes(sqlite_engine: Engine) -> None:
    with transaction(sqlite_engine) as session:
        seed(session, TEAM, NOW)
        calendar = load_calendar(session)
        zeeland = get_region(session, "ZEELAND")  # zuid
        groningen = get_region(session, "GRONINGEN-STAD")  # noord
        bes = get_region(session, "BES")

    assert zeeland.holiday_zone == "zuid" and bes.holiday_zone is None
    # Herfstvakantie 2027: zuid 23-31 Oct, noord 16-24 Oct.
    assert not calendar.is_working_day(date(2027, 10, 25), "zuid")
    assert calendar.is_working_day(date(2027, 10, 25), "noord")
    # Kerstvakantie (all zones) and Tweede kerstdag.
    assert calendar.school_holiday(date(2026, 12, 22), "midden") == "kerstvakantie"
    assert calendar.public_holiday(date(2026, 12, 26)) == "Tweede kerstdag"
    # Koningsdag 2027 is a Tuesday: no work anywhere, Bonaire included.
    assert calendar.public_holiday(date(2027, 4, 27), "BQ") is not None
    days = list(calendar.for_region(groningen, date(2027, 4, 26), date(2027, 4, 30)))
    assert date(2027, 4, 27) not in days
    # BES has no zone holidays: the Dutch meivakantie does not stop work there.
    bes_days = list(calendar.for_region(bes, date(2027, 5, 3), date(2027, 5, 7)))
    assert bes_days == [date(2027, 5, d) for d in (3, 4, 5, 7)]  # 6 May: Hemelvaartsdag
    assert list(calendar.for_region(zeeland, date(2027, 5, 3), date(2027, 5, 7))) == []
    # Weekends never count.
    assert not calendar.is_working_day(date(2027, 3, 6))
