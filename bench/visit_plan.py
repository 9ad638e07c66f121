"""Benchmark of the visit planner: 77 regions x 4 visits x the example supporters.

    .venv/bin/python bench/visit_plan.py [--period 2027] [--repetitions R]

The example reference data (config/data) is seeded into a temporary SQLite
file, read once (`load_plan_input`, timed on its own), and planned R times
after one cold run that is reported apart (it fills the public-holiday tables
of the `holidays` package). In the same run, alternating with the planner so
that drift hits both alike, a naive baseline plans the same input: for each
region in code order, each visit on the first allowed day with room after its
previous visit (a first-fit loop without spreading). Both plans are checked
against the same rules and scored with the same evenness measures:

- offset: days between a visit and the middle of its window (the target);
- gap deviation: how far the interval between a region's consecutive visits
  is from the ideal interval (period length / visits).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.actor import Actor
from models.db import make_engine, reading, transaction
from models.periods import get_period
from models.reference import seed
from models.schema import upgrade
from models.types import Channel
from scheduling.planner import (
    Load,
    Plan,
    PlanInput,
    PlannedVisit,
    Unplaced,
    evenness,
    load_plan_input,
    plan,
    window,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def naive(data: PlanInput) -> Plan:
    """First fit: each visit on the first allowed day with room after the region's previous one."""
    load = Load(data.supporters)
    visits: list[PlannedVisit] = []
    unplaced: list[Unplaced] = []
    for region in sorted(data.regions, key=lambda r: r.code):
        supporter = data.supporters.get(region.supporter_id or -1)
        day = data.start
        for number in region.numbers:
            lo, hi, target = window(data.start, data.end, region.total, number)
            found = None
            while supporter is not None and day <= data.end:
                if (
                    data.calendar.is_working_day(day, region.zone, region.country)
                    and day.weekday() in supporter.weekdays
                    and not supporter.absent(day)
                    and load.fits(supporter.id, day)
                ):
                    found = day
                    break
                day += timedelta(days=1)
            if supporter is None or found is None:
                unplaced.append(Unplaced(region.id, region.code, number, target, lo, hi, "none"))
                continue
            load.take(supporter.id, found)
            visits.append(
                PlannedVisit(
                    region.id, region.code, supporter.id, number, found, target, lo, hi, ()
                )
            )
            day = found + timedelta(days=1)
    return Plan(
        tuple(visits), tuple(unplaced), evenness(visits, data.start, data.end, data.regions)
    )


def check(data: PlanInput, result: Plan) -> None:
    """Every visit on an allowed day, within every supporter's capacity."""
    regions = {r.id: r for r in data.regions}
    load = Load(data.supporters)
    for v in result.visits:
        r, s = regions[v.region_id], data.supporters[v.supporter_id]
        assert data.calendar.is_working_day(v.day, r.zone, r.country), v
        assert v.day.weekday() in s.weekdays and not s.absent(v.day), v
        assert load.fits(s.id, v.day), v
        load.take(s.id, v.day)


def timed(fn: Callable[[], Plan]) -> tuple[float, Plan]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def describe(name: str, result: Plan) -> str:
    e = result.evenness
    return (
        f"{name:<9} placed {len(result.visits):3d}, unplaced {len(result.unplaced):2d}; "
        f"offset mean {e.mean_offset:5.1f} d, max {e.max_offset:3d} d; "
        f"gap deviation mean {e.mean_gap_deviation:5.1f} d, max {e.max_gap_deviation:5.1f} d "
        f"(ideal gap {e.ideal_gap:.1f} d)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2027")
    parser.add_argument("--repetitions", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        upgrade(engine)
        with transaction(engine) as session:
            seed(session, Actor("bench", Channel.system), NOW)
        started = time.perf_counter()
        with reading(engine) as session:
            data = load_plan_input(session, get_period(session, args.period))
        load_seconds = time.perf_counter() - started
        engine.dispose()

    cold, _ = timed(lambda: plan(data))
    naive_cold, _ = timed(lambda: naive(data))
    ours: list[float] = []
    theirs: list[float] = []
    result = baseline = None
    for _ in range(args.repetitions):
        seconds, result = timed(lambda: plan(data))
        ours.append(seconds)
        seconds, baseline = timed(lambda: naive(data))
        theirs.append(seconds)
    assert result is not None and baseline is not None
    check(data, result)
    check(data, baseline)
    assert plan(data) == result, "the plan is not deterministic"

    visits = sum(len(r.numbers) for r in data.regions)
    print(f"visit plan {args.period}: {len(data.regions)} regions, {visits} visits, "
          f"{len(data.supporters)} supporters ({platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()})")  # fmt: skip
    print(f"load from the database (once)      {ms(load_seconds)}")
    print(f"planner, cold (first run)          {ms(cold)}")
    print(f"planner, warm, median / p95        {ms(statistics.median(ours))} / {ms(p95(ours))}")
    print(f"naive first-fit, cold              {ms(naive_cold)}")
    print(f"naive first-fit, median / p95      {ms(statistics.median(theirs))} / {ms(p95(theirs))}")
    print(describe("planner", result))
    print(describe("naive", baseline))
    first = min(v.day for v in result.visits)
    last = max(v.day for v in result.visits)
    print(f"planner days from {first.isoformat()} to {last.isoformat()}; "
          f"naive days from {min(v.day for v in baseline.visits).isoformat()} "
          f"to {max(v.day for v in baseline.visits).isoformat()}")  # fmt: skip
    assert isinstance(first, date)


if __name__ == "__main__":
    main()
