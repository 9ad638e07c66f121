"""The visit planner: allowed days only, capacity, fairness, evenness, BES, speed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, timedelta

import holidays
from sqlalchemy import Engine

from models.db import reading, transaction
from models.periods import get_period
from models.reference import seed
from scheduling.calendar import Holiday, WorkingCalendar
from scheduling.planner import (
    PlanInput,
    PlanRegion,
    PlanSupporter,
    load_plan_input,
    plan,
    weekdays_of,
    window,
)
from tests.conftest import NOW, TEAM

START, END = date(2027, 1, 1), date(2027, 12, 31)
SCHOOL = WorkingCalendar(
    [
        Holiday("noord", "voorjaarsvakantie", date(2027, 2, 20), date(2027, 2, 28)),
        Holiday("alle", "meivakantie", date(2027, 4, 24), date(2027, 5, 9)),
        Holiday("noord", "zomervakantie", date(2027, 7, 10), date(2027, 8, 22)),
        Holiday("zuid", "zomervakantie", date(2027, 7, 17), date(2027, 9, 5)),
    ]
)


def supporter(
    sid: int = 1,
    days: str = "ma;di;wo;do;vr",
    per_day: int = 2,
    per_week: int = 5,
    per_month: int = 10,
    absences: tuple[tuple[date, date], ...] = (),
) -> PlanSupporter:
    return PlanSupporter(sid, f"S{sid}", weekdays_of(days), per_day, per_week, per_month, absences)


def region(
    rid: int, sid: int | None = 1, zone: str | None = "noord", country: str = "NL", total: int = 4
) -> PlanRegion:
    return PlanRegion(
        rid, f"R{rid:02d}", f"Regio {rid}", zone, country, sid, total, tuple(range(1, total + 1))
    )


def data(
    regions: list[PlanRegion],
    supporters: list[PlanSupporter],
    start: date = START,
    end: date = END,
    calendar: WorkingCalendar = SCHOOL,
) -> PlanInput:
    return PlanInput(start, end, tuple(regions), {s.id: s for s in supporters}, calendar)


def test_visits_fall_on_allowed_days_only() -> None:
    absent = (date(2027, 2, 8), date(2027, 2, 19))
    s = supporter(days="ma;di;wo", absences=(absent,))
    regions = [region(1, zone="noord"), region(2, zone="zuid")]
    result = plan(data(regions, [s]))
    assert len(result.visits) == 8 and result.unplaced == ()
    nl = holidays.country_holidays("NL", years=2027)
    for v in result.visits:
        zone = "noord" if v.region == "R01" else "zuid"
        assert v.day.weekday() in {0, 1, 2}, v
        assert v.day not in nl, v
        assert SCHOOL.school_holiday(v.day, zone) is None, v
        assert not absent[0] <= v.day <= absent[1], v
        assert v.window_from <= v.day <= v.window_to
        for option in v.options:  # the alternatives obey the same rules
            assert option.weekday() in {0, 1, 2} and option not in nl
            assert SCHOOL.school_holiday(option, zone) is None
            assert not absent[0] <= option <= absent[1]
            assert v.window_from <= option <= v.window_to
        assert v.options[0] == v.day and len(set(v.options)) == 3


def test_the_summer_holiday_pushes_a_visit_to_the_nearest_open_day() -> None:
    result = plan(data([region(1, zone="zuid")], [supporter()]))
    third = next(v for v in result.visits if v.number == 3)
    # The target (mid August) is in the southern summer holiday, which ends 5 September.
    assert third.target == date(2027, 8, 16)
    assert third.day == date(2027, 9, 6)


def test_capacity_per_day_week_and_month_is_never_exceeded() -> None:
    s = supporter(per_day=1, per_week=2, per_month=3)
    regions = [region(i) for i in range(1, 13)]
    result = plan(data(regions, [s]))
    days = Counter(v.day for v in result.visits)
    weeks = Counter(v.day.isocalendar()[:2] for v in result.visits)
    months: dict[tuple[int, int], set[date]] = {}
    for v in result.visits:
        months.setdefault((v.day.year, v.day.month), set()).add(v.day)
    assert max(days.values()) <= 1
    assert max(weeks.values()) <= 2
    assert max(len(d) for d in months.values()) <= 3
    # 12 regions x 4 visits do not fit in 3 days a month: what is left is reported, not dropped.
    assert len(result.visits) + len(result.unplaced) == 48
    assert result.unplaced and {u.reason for u in result.unplaced} == {"no_capacity"}


def test_an_over_subscribed_supporter_is_shared_fairly() -> None:
    s = supporter(per_day=1, per_week=1, per_month=2)
    regions = [region(i) for i in range(1, 11)]
    result = plan(data(regions, [s]))
    placed = Counter(v.region for v in result.visits)
    counts = [placed.get(r.code, 0) for r in regions]
    assert result.unplaced
    assert max(counts) - min(counts) <= 1, counts


def test_visits_are_spread_evenly() -> None:
    empty = WorkingCalendar([])
    result = plan(data([region(1, zone=None)], [supporter()], calendar=empty))
    days = [v.day for v in result.visits]
    targets = [window(START, END, 4, n)[2] for n in range(1, 5)]
    assert [v.target for v in result.visits] == targets
    assert all(abs((d - t).days) <= 4 for d, t in zip(days, targets, strict=True))
    assert result.evenness.max_offset <= 4
    assert result.evenness.ideal_gap == 365 / 4
    assert result.evenness.max_gap_deviation <= 8


def test_bes_region_keeps_its_own_public_holidays() -> None:
    # 17 May 2027 is Whit Monday: a public holiday in the Netherlands, not on Bonaire.
    start, end = date(2027, 5, 10), date(2027, 5, 24)
    s = supporter(days="ma")
    nl = region(1, zone=None, country="NL", total=1)
    bes = region(2, zone=None, country="BQ", total=1)
    result = plan(data([nl, bes], [s], start, end, WorkingCalendar([])))
    by_region = {v.region: v.day for v in result.visits}
    assert by_region["R02"] == date(2027, 5, 17)
    assert by_region["R01"] != date(2027, 5, 17)


def test_missing_critical_friend_and_no_working_day_are_reported() -> None:
    absent = supporter(2, absences=((START, END),))
    result = plan(data([region(1, sid=None), region(2, sid=2)], [supporter(), absent]))
    reasons = {(u.region, u.reason) for u in result.unplaced}
    assert reasons == {("R01", "no_critical_friend"), ("R02", "no_working_day")}
    assert len(result.unplaced) == 8 and result.visits == ()


def test_the_plan_is_deterministic_whatever_the_input_order() -> None:
    s = supporter(per_day=1, per_week=2, per_month=4)
    regions = [region(i) for i in range(1, 9)]
    first = plan(data(regions, [s]))
    again = plan(data(list(reversed(regions)), [s]))
    assert first == again


def test_existing_visits_keep_their_number_and_capacity() -> None:
    s = supporter(per_day=1)
    r = region(1)
    only_two = PlanRegion(r.id, r.code, r.name, r.zone, r.country, r.supporter_id, 4, (2, 4))
    busy = date(2027, 5, 17)  # the day visit 2 would take
    base = data([only_two], [s])
    result = plan(
        PlanInput(base.start, base.end, base.regions, base.supporters, base.calendar, ((1, busy),))
    )
    assert [v.number for v in result.visits] == [2, 4]
    assert busy not in {v.day for v in result.visits}
    assert busy not in {o for v in result.visits for o in v.options}


def test_seeded_example_plans_all_regions_fast(engine: Engine) -> None:
    with transaction(engine) as session:
        seed(session, TEAM, NOW)
    with reading(engine) as session:
        inputs = load_plan_input(session, get_period(session, "2027"))
    assert len(inputs.regions) == 77
    plan(inputs)  # warm the holiday tables
    started = time.perf_counter()
    result = plan(inputs)
    elapsed = time.perf_counter() - started
    assert len(result.visits) + len(result.unplaced) == sum(r.total for r in inputs.regions)
    assert len(result.visits) == 308, result.unplaced
    assert elapsed < 1.0, elapsed
    bes = [v for v in result.visits if v.region == "BES"]
    assert len(bes) == 4
    # every day of every region is a working day of its own calendar
    for v in result.visits:
        r = next(x for x in inputs.regions if x.id == v.region_id)
        assert inputs.calendar.is_working_day(v.day, r.zone, r.country), v
        assert v.day.weekday() in inputs.supporters[v.supporter_id].weekdays
    assert all(v.day - v.target < timedelta(days=46) for v in result.visits)


def test_windows_that_have_passed_are_reported_and_nothing_lands_before_tomorrow() -> None:
    base = data([region(1)], [supporter()])
    late = PlanInput(
        base.start, base.end, base.regions, base.supporters, base.calendar, (), date(2027, 6, 1)
    )
    result = plan(late)
    assert [(u.number, u.reason) for u in result.unplaced] == [(1, "past")]
    assert [v.number for v in result.visits] == [2, 3, 4]
    assert all(o >= date(2027, 6, 1) for v in result.visits for o in v.options)
