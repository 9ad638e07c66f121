"""Periodic jobs: when each is due, and running each occurrence exactly once.

APScheduler only ticks (every minute); what is due is computed here from the
clock and the team's time zone, so a process that was down catches up on the
occurrence it missed (within the job's grace) and a restart repeats nothing:
each occurrence is claimed by a unique `JobRun` row written in the same
transaction as the outbox rows the job writes. If the job fails, both roll
back and the next tick tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.clock import Clock
from models.db import transaction
from models.tables import JobRun
from scheduling import leader
from scheduling.calendar import WorkingCalendar, load_calendar

log = logging.getLogger("sto.jobs")
LEADER = "periodic"


@dataclass(frozen=True)
class Occurrence:
    key: str  # what makes it unique within its job: a day, a week, a period
    day: date  # the local day it belongs to
    at: datetime  # the instant it was due (aware)


def _at(day: date, clock_time: time, tz: ZoneInfo) -> datetime:
    # zoneinfo resolves 09:00 on a DST-change day to the right offset by itself.
    return datetime.combine(day, clock_time, tzinfo=tz)


class Schedule(Protocol):
    def latest(self, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> Occurrence | None:
        """The occurrence due at or before `now` that may still run, if any."""
        ...


@dataclass(frozen=True)
class WorkingDays:
    """Every working day (no weekend, no public holiday) at a local time."""

    at: time
    grace: timedelta

    def latest(self, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> Occurrence | None:
        day = now.astimezone(tz).date()
        due = _at(day, self.at, tz)
        if not calendar.is_working_day(day) or not due <= now <= due + self.grace:
            return None
        return Occurrence(day.isoformat(), day, due)


@dataclass(frozen=True)
class WeekStart:
    """The week's first working day at a local time (Monday, or Tuesday after Easter)."""

    at: time
    grace: timedelta

    def latest(self, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> Occurrence | None:
        today = now.astimezone(tz).date()
        monday = today - timedelta(days=today.weekday())
        first = next(
            (
                monday + timedelta(days=i)
                for i in range(5)
                if calendar.is_working_day(monday + timedelta(days=i))
            ),
            None,
        )
        if first != today:
            return None
        due = _at(today, self.at, tz)
        if not due <= now <= due + self.grace:
            return None
        year, week, _ = today.isocalendar()
        return Occurrence(f"{year}-W{week:02d}", today, due)


@dataclass(frozen=True)
class DaysOfYear:
    """Fixed dates (month, day) at a local time, whatever the weekday."""

    dates: tuple[tuple[int, int], ...]
    at: time
    grace: timedelta

    def latest(self, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> Occurrence | None:
        local = now.astimezone(tz).date()
        for year in (local.year, local.year - 1):
            for month, dom in sorted(self.dates, reverse=True):
                day = date(year, month, dom)
                due = _at(day, self.at, tz)
                if due <= now:
                    if now <= due + self.grace:
                        return Occurrence(day.isoformat(), day, due)
                    return None
        return None


@dataclass(frozen=True)
class JobContext:
    occurrence: Occurrence
    now: datetime
    tz: ZoneInfo
    calendar: WorkingCalendar
    options: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    name: str
    schedule: Schedule
    run: Callable[[Session, JobContext], int]  # returns the outbox rows (or entries) written


@dataclass(frozen=True)
class Ran:
    job: str
    occurrence: str
    written: int


class PeriodicJobs:
    """Runs what is due at each tick, on the replica that holds the leader lease."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        jobs: Sequence[Job],
        *,
        timezone: str,
        holder: str,
        options: dict[str, int] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.jobs = tuple(jobs)
        self.tz = ZoneInfo(timezone)
        self.holder = holder
        self.options = dict(options or {})

    def tick(self) -> list[Ran]:
        """One pass over the jobs (blocking: run it in a worker thread)."""
        now = self.clock.now()
        with transaction(self.engine) as session:
            if not leader.acquire(session, LEADER, self.holder, now):
                return []
            calendar = load_calendar(session)
        ran: list[Ran] = []
        for job in self.jobs:
            occurrence = job.schedule.latest(now, self.tz, calendar)
            if occurrence is None:
                continue
            try:
                done = self._run(job, occurrence, now, calendar)
            except IntegrityError:
                continue  # another replica claimed this occurrence first
            except Exception:  # one failing job must not stop the others; it runs again
                log.exception("job %s (%s) failed; it runs again", job.name, occurrence.key)
                continue
            if done is not None:
                ran.append(done)
        return ran

    def _run(
        self, job: Job, occurrence: Occurrence, now: datetime, calendar: WorkingCalendar
    ) -> Ran | None:
        with transaction(self.engine) as session:
            claimed = session.exec(
                select(JobRun.id).where(JobRun.job == job.name, JobRun.occurrence == occurrence.key)
            ).first()
            if claimed is not None:
                return None
            run = JobRun(job=job.name, occurrence=occurrence.key, runner=self.holder, ran_at=now)
            session.add(run)
            session.flush()  # the unique pair: a racing replica fails here, before any work
            context = JobContext(occurrence, now, self.tz, calendar, self.options)
            run.written = job.run(session, context)
            session.add(run)
        log.info("job %s (%s) wrote %d", job.name, occurrence.key, run.written)
        return Ran(job.name, occurrence.key, run.written)

    def step_down(self) -> None:
        with transaction(self.engine) as session:
            leader.release(session, LEADER, self.holder)
