"""A supporter's time: on which days they can work, and how much they can still take.

A supporter works on their own weekdays (`working_days`, "ma;di;wo;do;vr"),
never on a Dutch public holiday, never while absent, and at most
`max_days_per_month` days a calendar month. For work in a region the
region's non-working days count too: its public holidays (the BES islands
keep their own) and its zone's school holidays. Days already planned
(scheduled requests, and visits through `models.supporters.visit_days`)
are taken.

The visit planner and the ranking of supporters both ask here:
`is_available` for one day, `capacity` for a date range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session

from models import supporters as sp
from models.actor import Actor
from models.tables import Region, Supporter
from scheduling import planner
from scheduling.calendar import WorkingCalendar, country_of, load_calendar

HOME_COUNTRY = "NL"  # the team's own public holidays


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _months(start: date, end: date) -> Iterator[tuple[date, date]]:
    first = start.replace(day=1)
    while first <= end:
        following = (first + timedelta(days=32)).replace(day=1)
        yield first, following - timedelta(days=1)
        first = following


def off_reason(
    supporter: Supporter, day: date, calendar: WorkingCalendar, region: Region | None = None
) -> str | None:
    """Why this is not a working day for the supporter (absences aside), or None.

    inactive | weekday | public_holiday | region_holiday | school_holiday
    """
    if not supporter.active:
        return "inactive"
    if day.weekday() not in sp.weekdays_of(supporter):
        return "weekday"
    if calendar.public_holiday(day, HOME_COUNTRY) is not None:
        return "public_holiday"
    if region is not None:
        if calendar.public_holiday(day, country_of(region)) is not None:
            return "region_holiday"
        if calendar.school_holiday(day, region.holiday_zone) is not None:
            return "school_holiday"
    return None


def unavailable_reason(
    session: Session,
    supporter: Supporter,
    day: date,
    *,
    region: Region | None = None,
    calendar: WorkingCalendar | None = None,
    planned: bool = False,
) -> str | None:
    """None when the supporter can work on `day`; else why not.

    The reasons of `off_reason`, then "absent"; with `planned=True` also
    "planned" when that day is already taken by a request or visit.
    """
    reason = off_reason(supporter, day, calendar or load_calendar(session), region)
    if reason is not None:
        return reason
    assert supporter.id is not None
    if sp.absent_on(session, supporter.id, day) is not None:
        return "absent"
    if planned and sp.planned_days(session, supporter.id, day, day):
        return "planned"
    return None


def is_available(
    session: Session,
    supporter: Supporter,
    day: date,
    *,
    region: Region | None = None,
    calendar: WorkingCalendar | None = None,
) -> bool:
    """Does the supporter work on `day` (their weekday, no holiday, not absent)?"""
    return unavailable_reason(session, supporter, day, region=region, calendar=calendar) is None


@dataclass(frozen=True)
class Capacity:
    """How much a supporter can still take from start to end (whole days)."""

    supporter_id: int
    start: date
    end: date
    working_days: int  # their weekdays without public (and the region's) holidays
    absent_days: int  # of those, away
    planned_days: int  # of those, already planned
    month_cap_days: int  # of what is left, more than max_days_per_month allows
    free_days: int

    def fits(self, needed: int) -> bool:
        return self.free_days >= needed


def capacity(
    session: Session,
    supporter: Supporter,
    start: date,
    end: date,
    *,
    region: Region | None = None,
    calendar: WorkingCalendar | None = None,
    exclude_request_id: int | None = None,
) -> Capacity:
    """Free working days from start to end, within the supporter's monthly maximum.

    `exclude_request_id`: a request whose own days should not count as taken
    (when weighing who could take over a scheduled request).
    """
    assert supporter.id is not None
    cal = calendar or load_calendar(session)
    absent = sp.absent_days(session, supporter.id, start, end) if end >= start else set()
    month_from = start.replace(day=1)
    month_to = next(m for _, m in _months(end, end)) if end >= start else start
    planned = sp.planned_days(
        session, supporter.id, month_from, month_to, exclude_request_id=exclude_request_id
    )
    working = away = taken = cut = free = 0
    for first, last in _months(start, end):
        workdays = [
            d
            for d in days(max(start, first), min(end, last))
            if off_reason(supporter, d, cal, region) is None
        ]
        month_away = sum(1 for d in workdays if d in absent)
        month_taken = sum(1 for d in workdays if d not in absent and d in planned)
        open_days = len(workdays) - month_away - month_taken
        used_in_month = sum(1 for d in planned if first <= d <= last)
        left = max(0, supporter.max_days_per_month - used_in_month)
        working += len(workdays)
        away += month_away
        taken += month_taken
        cut += max(0, open_days - left)
        free += min(open_days, left)
    return Capacity(supporter.id, start, end, working, away, taken, cut, free)


# ---- absences, with what they do to visits ------------------------------------------------


def move_visits(
    session: Session, supporter_id: int, starts_on: date, ends_on: date, by: Actor, now: datetime
) -> list[int]:
    """The supporter's visits on these days ask for a new slot (the planner proposes them)."""
    return planner.reschedule_for_absence(session, supporter_id, starts_on, ends_on, by, now)


def register_absence(
    session: Session,
    supporter: str | int,
    starts_on: date,
    ends_on: date,
    stand_in: str | int | None,
    reason: str,
    by: Actor,
    now: datetime,
) -> sp.AbsenceResult:
    """`models.supporters.add_absence` with the visits moved too: what the channels call."""
    return sp.add_absence(
        session, supporter, starts_on, ends_on, stand_in, reason, by, now, visits=move_visits
    )
