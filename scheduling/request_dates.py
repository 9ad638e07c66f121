"""Suggested dates for a support request: three options of the days it needs.

The days are working days of the assigned supporter (their weekdays, no public
holiday of theirs or of the region, no school holiday of the region, not
absent, not already planned) within the request's preferred window, or the
next six weeks when it has none; an option never takes the supporter past
their days per month. The options are spread over the window: the first
days, the middle and the last.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlmodel import Session

from models import supporters as sp
from models.request_proposals import MAX_OPTIONS, days_needed
from models.tables import Period, Region, Supporter, SupportRequest
from scheduling.calendar import load_calendar
from scheduling.supporters import days, unavailable_reason

DEFAULT_WEEKS = 6


def window(request: SupportRequest, period: Period, today: date) -> tuple[date, date]:
    """From tomorrow (or the preferred start) to the preferred end (or six weeks on), within
    the request's period."""
    start = max(today + timedelta(days=1), request.preferred_from or today, period.starts_on)
    end = request.preferred_to or start + timedelta(weeks=DEFAULT_WEEKS)
    if end < start:  # the preferred window has passed: the next six weeks
        end = start + timedelta(weeks=DEFAULT_WEEKS)
    return start, min(end, period.ends_on)


def free_days(session: Session, request: SupportRequest, today: date) -> list[date]:
    """The days in the window on which the assigned supporter can work for this request."""
    if request.assigned_supporter_id is None:
        return []
    supporter = session.get(Supporter, request.assigned_supporter_id)
    region = session.get(Region, request.region_id)
    period = session.get(Period, request.period_id)
    assert supporter is not None and region is not None and period is not None
    start, end = window(request, period, today)
    calendar = load_calendar(session)
    return [
        d
        for d in days(start, end)
        if unavailable_reason(session, supporter, d, region=region, calendar=calendar, planned=True)
        is None
    ]


def _month_use(
    session: Session, supporter: Supporter, request: SupportRequest, start: date, end: date
) -> Counter[int]:
    """Days the supporter already works per (year * 12 + month) in the months of start..end,
    this request aside."""
    assert supporter.id is not None
    first = start.replace(day=1)
    last = (end.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    planned = sp.planned_days(session, supporter.id, first, last, exclude_request_id=request.id)
    return Counter(d.year * 12 + d.month for d in planned)


def suggest_dates(session: Session, request: SupportRequest, today: date) -> list[list[date]]:
    """Up to three options (each `days_needed` days, no day in two options), spread over the
    window; fewer, or none, when the supporter has no room."""
    free = free_days(session, request, today)
    needed = days_needed(request)
    if len(free) < needed:
        return []
    supporter = session.get(Supporter, request.assigned_supporter_id)
    assert supporter is not None
    used = _month_use(session, supporter, request, free[0], free[-1])

    def fits(option: list[date]) -> bool:
        extra = Counter(d.year * 12 + d.month for d in option)
        return all(used[m] + n <= supporter.max_days_per_month for m, n in extra.items())

    last = len(free) - needed
    targets = [round(last * k / (MAX_OPTIONS - 1)) for k in range(MAX_OPTIONS)]
    taken: set[date] = set()
    options: list[list[date]] = []
    for target in targets:
        for start in [*range(target, last + 1), *range(target - 1, -1, -1)]:
            option = free[start : start + needed]
            if taken.isdisjoint(option) and fits(option):
                options.append(option)
                taken.update(option)
                break
    return sorted(options)
