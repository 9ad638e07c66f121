"""The visit planner: each region's critical-friend visits spread evenly over a period.

`plan` is a pure function over data loaded once (`load_plan_input`): for each
region it cuts the period into `yearly_cf_visits` equal windows, aims at the
middle of each window and takes the nearest allowed day in that window. A day
is allowed when it is a working day of the region (no weekend, no public
holiday, none of its zone's school holidays), a working day of the supporter
(`working_days`), not in one of the supporter's absences, and when the
supporter still has room that day (visits per day and per ISO week, distinct
visit days per month).

Fairness: visits are placed round by round (every region's first window,
then every region's second, ...), and within a round the regions that missed
a visit earlier go first, then a rotation of the region order that shifts
each round; so when supporters are over-subscribed the shortfall is spread
over the regions instead of falling on whoever sorts last. What cannot be
placed is returned in `unplaced` with the reason, never dropped.

`find_slots` offers new days for one visit (a declined proposal, a supporter's
absence): the domain takes it as a `SlotFinder`, since `models` may not import
`scheduling`.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from models import visits as vs
from models.actor import Actor
from models.tables import Period, Region, Supporter, SupporterAbsence, Visit
from scheduling.calendar import WorkingCalendar, country_of, load_calendar

WEEKDAYS = {"ma": 0, "di": 1, "wo": 2, "do": 3, "vr": 4, "za": 5, "zo": 6}
ALTERNATIVES = 2  # a proposal offers the planned day and this many others


def weekdays_of(text: str) -> frozenset[int]:
    """ "ma;di;wo" -> {0, 1, 2}; unknown tokens are ignored (the import validates them)."""
    return frozenset(
        WEEKDAYS[token.strip().lower()]
        for token in text.split(";")
        if token.strip().lower() in WEEKDAYS
    )


@dataclass(frozen=True)
class PlanSupporter:
    id: int
    name: str
    weekdays: frozenset[int]
    per_day: int
    per_week: int
    days_per_month: int
    absences: tuple[tuple[date, date], ...] = ()

    def absent(self, day: date) -> bool:
        return any(start <= day <= end for start, end in self.absences)


@dataclass(frozen=True)
class PlanRegion:
    id: int
    code: str
    name: str
    zone: str | None
    country: str
    supporter_id: int | None
    total: int  # visits in the period (yearly_cf_visits): fixes the windows
    numbers: tuple[int, ...]  # the visit numbers (1-based) still to plan


@dataclass(frozen=True)
class PlanInput:
    start: date
    end: date
    regions: tuple[PlanRegion, ...]
    supporters: Mapping[int, PlanSupporter]
    calendar: WorkingCalendar
    booked: tuple[tuple[int, date], ...] = ()  # (supporter, day) of visits that exist
    earliest: date | None = None  # no visit before this day (tomorrow, when planning today)


@dataclass(frozen=True)
class PlannedVisit:
    region_id: int
    region: str
    supporter_id: int
    number: int
    day: date
    target: date
    window_from: date
    window_to: date
    options: tuple[date, ...]  # the day first, then alternatives in the same window


@dataclass(frozen=True)
class Unplaced:
    region_id: int
    region: str
    number: int
    target: date
    window_from: date
    window_to: date
    reason: str  # no_critical_friend | no_working_day | no_capacity | past


@dataclass(frozen=True)
class Evenness:
    """How far the plan is from perfectly even, in days."""

    visits: int
    mean_offset: float  # mean |day - target|
    max_offset: int
    ideal_gap: float  # mean over regions of the ideal interval between visits
    mean_gap_deviation: float  # mean |gap - ideal gap| between a region's consecutive visits
    max_gap_deviation: float


@dataclass(frozen=True)
class Plan:
    visits: tuple[PlannedVisit, ...]
    unplaced: tuple[Unplaced, ...]
    evenness: Evenness


def window(start: date, end: date, total: int, number: int) -> tuple[date, date, date]:
    """The `number`-th of `total` equal windows of [start, end]: (from, to, middle)."""
    length = (end - start).days + 1
    lo = start + timedelta(days=(number - 1) * length // total)
    hi = start + timedelta(days=number * length // total - 1)
    return lo, hi, lo + (hi - lo) // 2


class Load:
    """How much of each supporter's capacity is taken: per day, per week, days per month."""

    def __init__(self, supporters: Mapping[int, PlanSupporter]) -> None:
        self.supporters = supporters
        self.day: dict[tuple[int, date], int] = defaultdict(int)
        self.week: dict[tuple[int, int, int], int] = defaultdict(int)
        self.month: dict[tuple[int, int, int], set[date]] = defaultdict(set)

    def fits(self, supporter_id: int, day: date) -> bool:
        s = self.supporters[supporter_id]
        iso = day.isocalendar()
        if self.day[(supporter_id, day)] >= s.per_day:
            return False
        if self.week[(supporter_id, iso.year, iso.week)] >= s.per_week:
            return False
        days = self.month[(supporter_id, day.year, day.month)]
        return day in days or len(days) < s.days_per_month

    def take(self, supporter_id: int, day: date) -> None:
        iso = day.isocalendar()
        self.day[(supporter_id, day)] += 1
        self.week[(supporter_id, iso.year, iso.week)] += 1
        self.month[(supporter_id, day.year, day.month)].add(day)


class _Open:
    """The days a region is open (working days) over a span, computed once per zone."""

    def __init__(self, calendar: WorkingCalendar, start: date, end: date) -> None:
        self.calendar = calendar
        self.start = start
        self.end = end
        self._cache: dict[tuple[str | None, str], frozenset[date]] = {}

    def days(self, zone: str | None, country: str) -> frozenset[date]:
        key = (zone, country)
        if key not in self._cache:
            found = set()
            day = self.start
            while day <= self.end:
                if self.calendar.is_working_day(day, zone, country):
                    found.add(day)
                day += timedelta(days=1)
            self._cache[key] = frozenset(found)
        return self._cache[key]


def _nearest(lo: date, hi: date, target: date) -> Iterable[date]:
    """Days of [lo, hi] by distance to target, the earlier first on a tie."""
    yield target
    for k in range(1, (hi - lo).days + 1):
        for day in (target - timedelta(days=k), target + timedelta(days=k)):
            if lo <= day <= hi:
                yield day


def _allowed(open_days: frozenset[date], supporter: PlanSupporter, day: date) -> bool:
    return day in open_days and day.weekday() in supporter.weekdays and not supporter.absent(day)


def _options(
    days: Iterable[date],
    open_days: frozenset[date],
    supporter: PlanSupporter,
    load: Load,
    count: int,
    exclude: Collection[date] = (),
) -> list[date]:
    """Up to `count` allowed days with room, nearest first, on different weekdays when possible."""
    candidates: list[date] = []
    weekdays: set[int] = set()
    for d in days:
        if d in exclude or not _allowed(open_days, supporter, d) or not load.fits(supporter.id, d):
            continue
        candidates.append(d)
        weekdays.add(d.weekday())
        if len(weekdays) >= count or len(candidates) >= 4 * count:
            break  # enough to choose from: the rest is further away
    chosen: list[date] = []
    for d in candidates:  # first pass: a choice of weekdays is a real choice
        if len(chosen) < count and d.weekday() not in {c.weekday() for c in chosen}:
            chosen.append(d)
    for d in candidates:
        if len(chosen) < count and d not in chosen:
            chosen.append(d)
    return chosen


def plan(data: PlanInput) -> Plan:
    """Place every region's visits; deterministic for the same input."""
    first = max(data.start, data.earliest or data.start)
    open_days = _Open(data.calendar, first, data.end)
    load = Load(data.supporters)
    for supporter_id, booked_day in data.booked:
        if supporter_id in data.supporters:
            load.take(supporter_id, booked_day)
    regions = sorted(data.regions, key=lambda r: r.code)
    missed: dict[int, int] = defaultdict(int)
    placed: list[tuple[PlannedVisit, frozenset[date], PlanSupporter]] = []
    unplaced: list[Unplaced] = []
    rounds = max((r.total for r in regions), default=0)
    for round_index in range(rounds):
        shift = round_index % len(regions) if regions else 0
        rotated = regions[shift:] + regions[:shift]
        order = sorted(rotated, key=lambda r: -missed[r.id])  # stable: rotation breaks ties
        for region in order:
            number = round_index + 1
            if number not in region.numbers:
                continue
            lo, hi, target = window(data.start, data.end, region.total, number)
            supporter = data.supporters.get(region.supporter_id or -1)
            day: date | None = None
            days: frozenset[date] = frozenset()
            if hi < first:
                reason = "past"
            elif supporter is None:
                reason = "no_critical_friend"
            else:
                days = open_days.days(region.zone, region.country)
                reason = "no_working_day"
                for candidate in _nearest(lo, hi, target):
                    if _allowed(days, supporter, candidate):
                        reason = "no_capacity"
                        if load.fits(supporter.id, candidate):
                            day = candidate
                            break
            if supporter is None or day is None:
                missed[region.id] += 1
                unplaced.append(Unplaced(region.id, region.code, number, target, lo, hi, reason))
                continue
            load.take(supporter.id, day)
            visit = PlannedVisit(
                region.id, region.code, supporter.id, number, day, target, lo, hi, (day,)
            )
            placed.append((visit, days, supporter))
    visits = []
    for visit, days, supporter in placed:
        others = _options(
            _nearest(visit.window_from, visit.window_to, visit.day),
            days,
            supporter,
            load,
            ALTERNATIVES,
            exclude={visit.day},
        )
        visits.append(_with_options(visit, (visit.day, *others)))
    visits.sort(key=lambda v: (v.region, v.number))
    unplaced.sort(key=lambda u: (u.region, u.number))
    return Plan(tuple(visits), tuple(unplaced), evenness(visits, data.start, data.end, regions))


def _with_options(visit: PlannedVisit, options: tuple[date, ...]) -> PlannedVisit:
    return PlannedVisit(
        visit.region_id,
        visit.region,
        visit.supporter_id,
        visit.number,
        visit.day,
        visit.target,
        visit.window_from,
        visit.window_to,
        options,
    )


def evenness(
    visits: Sequence[PlannedVisit], start: date, end: date, regions: Sequence[PlanRegion]
) -> Evenness:
    """Offsets from the targets, and how far the gaps between a region's visits are from ideal."""
    if not visits:
        return Evenness(0, 0.0, 0, 0.0, 0.0, 0.0)
    offsets = [abs((v.day - v.target).days) for v in visits]
    length = (end - start).days + 1
    totals = {r.id: r.total for r in regions}
    by_region: dict[int, list[date]] = defaultdict(list)
    for v in visits:
        by_region[v.region_id].append(v.day)
    deviations: list[float] = []
    ideals: list[float] = []
    for region_id, days in by_region.items():
        ideal = length / max(totals.get(region_id, len(days)), 1)
        ideals.append(ideal)
        ordered = sorted(days)
        deviations.extend(abs((b - a).days - ideal) for a, b in itertools.pairwise(ordered))
    return Evenness(
        visits=len(visits),
        mean_offset=statistics.fmean(offsets),
        max_offset=max(offsets),
        ideal_gap=statistics.fmean(ideals),
        mean_gap_deviation=statistics.fmean(deviations) if deviations else 0.0,
        max_gap_deviation=max(deviations) if deviations else 0.0,
    )


# --- loading, once ----------------------------------------------------------------------


def _supporters(session: Session) -> dict[int, PlanSupporter]:
    absences: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for a in session.exec(select(SupporterAbsence)).all():
        absences[a.supporter_id].append((a.starts_on, a.ends_on))
    found = {}
    for s in session.exec(select(Supporter).where(col(Supporter.active))).all():
        assert s.id is not None
        found[s.id] = PlanSupporter(
            id=s.id,
            name=s.name,
            weekdays=weekdays_of(s.working_days),
            per_day=s.max_visits_per_day,
            per_week=s.max_visits_per_week,
            days_per_month=s.max_days_per_month,
            absences=tuple(sorted(absences[s.id])),
        )
    return found


def _live_visits(session: Session, period: Period) -> list[Visit]:
    return list(
        session.exec(
            select(Visit).where(
                Visit.period_id == period.id, col(Visit.status) != vs.VisitStatus.cancelled.value
            )
        ).all()
    )


def load_plan_input(
    session: Session,
    period: Period,
    region_codes: Collection[str] | None = None,
    *,
    earliest: date | None = None,
) -> PlanInput:
    """Everything the planner needs, read in a handful of queries.

    Visits that already exist in the period (not cancelled) keep their number
    and their supporter's capacity; only the missing numbers are planned.
    """
    existing = _live_visits(session, period)
    numbers_taken: dict[int, set[int]] = defaultdict(set)
    for v in existing:
        numbers_taken[v.region_id].add(v.number)
    regions = []
    query = select(Region).order_by(col(Region.code))
    for r in session.exec(query).all():
        assert r.id is not None
        if region_codes is not None and r.code not in region_codes:
            continue
        numbers = tuple(n for n in range(1, r.yearly_cf_visits + 1) if n not in numbers_taken[r.id])
        regions.append(
            PlanRegion(
                id=r.id,
                code=r.code,
                name=r.name,
                zone=r.holiday_zone,
                country=country_of(r),
                supporter_id=r.critical_friend_id,
                total=r.yearly_cf_visits,
                numbers=numbers,
            )
        )
    return PlanInput(
        start=period.starts_on,
        end=period.ends_on,
        regions=tuple(regions),
        supporters=_supporters(session),
        calendar=load_calendar(session),
        booked=tuple((v.supporter_id, v.day) for v in existing),
        earliest=earliest,
    )


# --- one visit at a time (decline, absence) ---------------------------------------------


@dataclass
class _Finder:
    count: int = field(default=1 + ALTERNATIVES)

    def __call__(
        self, session: Session, visit: Visit, exclude: Collection[date], now: datetime
    ) -> list[date]:
        region = session.get(Region, visit.region_id)
        period = session.get(Period, visit.period_id)
        assert region is not None and period is not None
        supporters = _supporters(session)
        supporter = supporters.get(visit.supporter_id)
        if supporter is None:
            return []
        first = max(period.starts_on, vs.local_today(region, now) + timedelta(days=1))
        if first > period.ends_on:
            return []
        open_days = _Open(load_calendar(session), first, period.ends_on).days(
            region.holiday_zone, country_of(region)
        )
        load = Load(supporters)
        for other in _live_visits(session, period):
            if other.id != visit.id and other.supporter_id == visit.supporter_id:
                load.take(other.supporter_id, other.day)
        lo, hi = max(visit.window_from, first), visit.window_to
        target = min(max(visit.window_from + (visit.window_to - visit.window_from) // 2, lo), hi)
        slots = _options(_nearest(lo, hi, target), open_days, supporter, load, self.count, exclude)
        if not slots:  # the window is used up: anywhere later in the period
            target = max(target, first)
            slots = _options(
                _nearest(first, period.ends_on, target),
                open_days,
                supporter,
                load,
                self.count,
                exclude,
            )
        return slots


find_slots: vs.SlotFinder = _Finder()


def reschedule_for_absence(
    session: Session, supporter_id: int, starts_on: date, ends_on: date, by: Actor, now: datetime
) -> list[int]:
    """A supporter's new absence: every scheduled visit it hits gets a proposal of new slots.

    Call it in the transaction that records the absence (after the absence row
    is flushed, so the new slots avoid it). Returns the ids of the visits moved.
    """
    return vs.reschedule_for_absence(
        session, supporter_id, starts_on, ends_on, by, now, find_slots=find_slots
    )
