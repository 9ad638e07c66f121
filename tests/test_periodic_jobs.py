"""Periodic reminders by time travel: when each job is due, and that it runs once.

The clock is a FixedClock moved by the tests; the jobs run against SQLite and
PostgreSQL. Times are checked in UTC against what a Dutch reader expects
(09:00 in Amsterdam is 08:00 UTC in winter, 07:00 UTC in summer).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.render import default_renderer
from models import quota
from models import requests as rq
from models.db import transaction
from models.periods import get_period
from models.tables import (
    Contact,
    JobRun,
    Notification,
    Period,
    Region,
    RegionContact,
    Supporter,
    Visit,
)
from models.types import AllowanceKind, SupporterRole
from scheduling.calendar import WorkingCalendar
from scheduling.jobs import DaysOfYear, Job, JobContext, PeriodicJobs, WeekStart, WorkingDays
from scheduling.rules import JOBS, ROLLOVER_CAP, working_days_between
from tests.conftest import TEAM, RegionFactory

TZ = "Europe/Amsterdam"
AMS = ZoneInfo(TZ)
CAL = WorkingCalendar(())


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


# --- when a schedule is due ----------------------------------------------------------------

WORKDAY = WorkingDays(time(9), timedelta(hours=8))


def test_working_days_at_nine_in_winter_is_eight_utc() -> None:
    assert WORKDAY.latest(utc(2026, 12, 1, 7, 59), AMS, CAL) is None
    occ = WORKDAY.latest(utc(2026, 12, 1, 8, 0), AMS, CAL)
    assert occ is not None
    assert (occ.key, occ.at) == ("2026-12-01", utc(2026, 12, 1, 8, 0))
    assert WORKDAY.latest(utc(2026, 12, 1, 16, 0), AMS, CAL) == occ  # within the grace
    assert WORKDAY.latest(utc(2026, 12, 1, 16, 1), AMS, CAL) is None  # past it


def test_working_days_at_nine_after_the_spring_dst_change_is_seven_utc() -> None:
    # 28 March 2027 the clocks go forward; Monday 29 March is Easter Monday (a holiday).
    assert WORKDAY.latest(utc(2027, 3, 29, 9, 0), AMS, CAL) is None
    occ = WORKDAY.latest(utc(2027, 3, 30, 7, 0), AMS, CAL)
    assert occ is not None and occ.at == utc(2027, 3, 30, 7, 0)
    assert WORKDAY.latest(utc(2027, 3, 30, 6, 59), AMS, CAL) is None


def test_working_days_after_the_autumn_dst_change_is_eight_utc_again() -> None:
    # 31 October 2027 the clocks go back; Monday 1 November is an ordinary working day.
    assert WORKDAY.latest(utc(2027, 11, 1, 7, 30), AMS, CAL) is None
    occ = WORKDAY.latest(utc(2027, 11, 1, 8, 0), AMS, CAL)
    assert occ is not None and occ.day == date(2027, 11, 1)


def test_no_working_day_on_weekends_and_public_holidays() -> None:
    assert WORKDAY.latest(utc(2026, 12, 5, 10, 0), AMS, CAL) is None  # Saturday
    assert WORKDAY.latest(utc(2026, 12, 25, 10, 0), AMS, CAL) is None  # Christmas
    assert WORKDAY.latest(utc(2027, 4, 27, 10, 0), AMS, CAL) is None  # King's Day


def test_the_bes_time_zone_has_no_dst() -> None:
    bes = ZoneInfo("America/Kralendijk")
    for day in (date(2027, 1, 5), date(2027, 7, 6)):
        occ = WORKDAY.latest(datetime.combine(day, time(13, 0), UTC), bes, CAL)
        assert occ is not None and occ.at == datetime.combine(day, time(13, 0), UTC)


def test_the_week_starts_on_its_first_working_day() -> None:
    schedule = WeekStart(time(8), timedelta(hours=10))
    occ = schedule.latest(utc(2026, 12, 7, 7, 0), AMS, CAL)  # Monday 08:00 CET
    assert occ is not None and occ.key == "2026-W50"
    assert schedule.latest(utc(2026, 12, 8, 7, 0), AMS, CAL) is None  # Tuesday
    # Easter Monday 2027: the agenda comes on Tuesday, at 08:00 summer time.
    assert schedule.latest(utc(2027, 3, 29, 7, 0), AMS, CAL) is None
    occ = schedule.latest(utc(2027, 3, 30, 6, 0), AMS, CAL)
    assert occ is not None and occ.key == "2027-W13"


def test_days_of_the_year_with_grace() -> None:
    schedule = DaysOfYear(((10, 1), (12, 1)), time(9), timedelta(days=3))
    assert schedule.latest(utc(2026, 11, 30, 12, 0), AMS, CAL) is None
    occ = schedule.latest(utc(2026, 12, 1, 8, 0), AMS, CAL)
    assert occ is not None and occ.key == "2026-12-01"
    assert schedule.latest(utc(2026, 12, 4, 7, 59), AMS, CAL) == occ
    assert schedule.latest(utc(2026, 12, 4, 8, 1), AMS, CAL) is None
    occ = schedule.latest(utc(2027, 10, 1, 7, 0), AMS, CAL)  # 09:00 summer time
    assert occ is not None and occ.key == "2027-10-01"
    new_year = DaysOfYear(((1, 1),), time(0, 30), timedelta(days=31))
    occ = new_year.latest(utc(2027, 1, 10), AMS, CAL)
    assert occ is not None and occ.at == utc(2026, 12, 31, 23, 30)


def test_working_days_between_skips_weekends_and_holidays() -> None:
    assert working_days_between(CAL, date(2026, 12, 4), date(2026, 12, 7)) == 1  # Fri → Mon
    assert working_days_between(CAL, date(2026, 12, 24), date(2026, 12, 28)) == 1  # Christmas
    assert working_days_between(CAL, date(2026, 12, 7), date(2026, 12, 7)) == 0


# --- running once --------------------------------------------------------------------------


def counting_job(calls: list[str], fail: bool = False) -> Job:
    def run(session: Session, ctx: JobContext) -> int:
        calls.append(ctx.occurrence.key)
        if fail:
            raise RuntimeError("boom")
        return 1

    return Job("probe", WORKDAY, run)


def runs(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(r.job, r.occurrence) for r in session.exec(select(JobRun)).all()]


def test_an_occurrence_runs_once_across_ticks_and_restarts(engine: Engine) -> None:
    calls: list[str] = []
    clock = Clock(utc(2026, 12, 1, 8, 0))
    first = PeriodicJobs(engine, clock, [counting_job(calls)], timezone=TZ, holder="a")
    assert [r.occurrence for r in first.tick()] == ["2026-12-01"]
    clock.at += timedelta(minutes=1)
    assert first.tick() == []
    first.step_down()
    # A restarted process (another holder) does not run it again.
    again = PeriodicJobs(engine, clock, [counting_job(calls)], timezone=TZ, holder="b")
    assert again.tick() == []
    clock.at = utc(2026, 12, 2, 8, 0)
    assert [r.occurrence for r in again.tick()] == ["2026-12-02"]
    assert calls == ["2026-12-01", "2026-12-02"]
    assert runs(engine) == [("probe", "2026-12-01"), ("probe", "2026-12-02")]


def test_a_process_down_at_nine_catches_up_within_the_grace(engine: Engine) -> None:
    calls: list[str] = []
    clock = Clock(utc(2026, 12, 1, 13, 0))
    jobs = PeriodicJobs(engine, clock, [counting_job(calls)], timezone=TZ, holder="a")
    assert [r.occurrence for r in jobs.tick()] == ["2026-12-01"]


def test_a_failing_job_writes_nothing_and_runs_again(engine: Engine) -> None:
    calls: list[str] = []
    clock = Clock(utc(2026, 12, 1, 8, 0))
    failing = PeriodicJobs(engine, clock, [counting_job(calls, fail=True)], timezone=TZ, holder="a")
    assert failing.tick() == []
    assert runs(engine) == []
    fixed = PeriodicJobs(engine, clock, [counting_job(calls)], timezone=TZ, holder="a")
    assert len(fixed.tick()) == 1
    assert calls == ["2026-12-01", "2026-12-01"]


def test_only_the_leader_runs_until_its_lease_runs_out(engine: Engine) -> None:
    calls: list[str] = []
    clock = Clock(utc(2026, 12, 1, 8, 0))
    a, b = (PeriodicJobs(engine, clock, [counting_job(calls)], timezone=TZ, holder=h) for h in "ab")
    assert len(a.tick()) == 1
    clock.at = utc(2026, 12, 2, 7, 58)
    assert a.tick() == []  # nothing due yet; the tick renews the lease (3 minutes)
    clock.at = utc(2026, 12, 2, 8, 0)
    assert b.tick() == []  # a still holds the lease
    assert calls == ["2026-12-01"]
    clock.at = utc(2026, 12, 2, 8, 2)  # a stopped ticking: its lease ran out
    assert len(b.tick()) == 1
    assert a.tick() == []  # b leads now
    assert calls == ["2026-12-01", "2026-12-02"]


def test_two_replicas_racing_for_one_occurrence_write_it_once(engine: Engine) -> None:
    """Even two that both think they lead (a paused leader waking up) cannot run it twice."""
    calls: list[str] = []
    clock = Clock(utc(2026, 12, 1, 8, 0))
    barrier = threading.Barrier(2)

    def run(session: Session, ctx: JobContext) -> int:
        calls.append(ctx.occurrence.key)
        return 1

    replicas = [
        PeriodicJobs(engine, clock, [Job("probe", WORKDAY, run)], timezone=TZ, holder=h)
        for h in "ab"
    ]
    results: list[int] = []

    def go(jobs: PeriodicJobs) -> None:
        barrier.wait(timeout=10)
        occurrence = WORKDAY.latest(clock.now(), jobs.tz, CAL)
        assert occurrence is not None
        try:
            done = jobs._run(jobs.jobs[0], occurrence, clock.now(), CAL)
        except Exception:  # the loser's unique violation
            done = None
        results.append(0 if done is None else 1)

    threads = [threading.Thread(target=go, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [0, 1]
    assert runs(engine) == [("probe", "2026-12-01")]


# --- the rules -----------------------------------------------------------------------------


def add_team(engine: Engine, slack_id: str | None = "UTEAM") -> None:
    with transaction(engine) as session:
        session.add(
            Supporter(
                email="coordinator@sto.example",
                name="Cor Coördinator",
                role=SupporterRole.coordinator.value,
                slack_user_id=slack_id,
            )
        )
        session.add(
            Supporter(
                email="cf@sto.example",
                name="Fenna Friend",
                role=SupporterRole.critical_friend.value,
                language="en",
            )
        )


def add_contact(engine: Engine, region: str, email: str, slack_id: str | None = None) -> None:
    with transaction(engine) as session:
        reg = session.exec(select(Region).where(Region.code == region)).one()
        contact = Contact(email=email, name="Jan de Vries", slack_user_id=slack_id)
        session.add(contact)
        session.flush()
        assert reg.id is not None and contact.id is not None
        session.add(RegionContact(region_id=reg.id, contact_id=contact.id))


def submit(engine: Engine, region: str, at: datetime, half_days: int = 2) -> str:
    with transaction(engine) as session:
        request = rq.submit(
            session, rq.NewRequest(region=region, kind="content", half_days=half_days), TEAM, at
        )
        return request.ref


def outbox(engine: Engine, template: str) -> list[Notification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.template == template)
                .order_by(col(Notification.id))
            ).all()
        )


def tick_at(engine: Engine, at: datetime, options: dict[str, int] | None = None) -> list[str]:
    jobs = PeriodicJobs(engine, Clock(at), JOBS, timezone=TZ, holder="t", options=options)
    return [r.job for r in jobs.tick() if r.written]


def test_the_team_digest_lists_the_longest_waiting_first(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    make_region("TWENTE", days="10")
    add_team(engine)
    old = submit(engine, "ZEELAND", utc(2026, 11, 25, 10, 0))  # Wednesday
    new = submit(engine, "TWENTE", utc(2026, 11, 30, 10, 0))  # Monday
    assert "team_digest" in tick_at(engine, utc(2026, 12, 1, 8, 0))  # Tuesday 09:00
    (digest,) = outbox(engine, "team_digest")
    assert (digest.channel, digest.recipient) == ("slack", "UTEAM")
    assert digest.context["fallback_email"] == "coordinator@sto.example"
    waiting = digest.context["waiting"]
    assert [(w["ref"], w["waited"]) for w in waiting] == [(old, 4), (new, 1)]
    assert digest.due_at == utc(2026, 12, 1, 8, 0)
    # The same day again: nothing new.
    assert tick_at(engine, utc(2026, 12, 1, 9, 0)) == []
    assert len(outbox(engine, "team_digest")) == 1


def test_the_digest_names_regions_on_course_to_lose_days(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    make_region("TWENTE", days="2")
    add_team(engine)
    submit(engine, "TWENTE", utc(2026, 11, 2, 10, 0), half_days=4)  # used it all
    tick_at(engine, utc(2026, 12, 1, 8, 0))
    (digest,) = outbox(engine, "team_digest")
    assert digest.context["at_risk"] == [
        {"region": "ZEELAND", "region_name": "Zeeland", "available": 10, "loss": 10}
    ]


def test_nudges_after_one_three_and_five_working_days(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    add_team(engine)
    ref = submit(engine, "ZEELAND", utc(2026, 12, 3, 15, 0))  # Thursday
    seen: list[tuple[str, int]] = []
    day = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    for _ in range(12):
        tick_at(engine, day)
        day += timedelta(days=1)
    for row in outbox(engine, "request_nudge"):
        seen.append((row.due_at.date().isoformat(), row.context["step"]))
        assert row.context["ref"] == ref
    # Fri 4 = 1 working day; Tue 8 = 3; Thu 10 = 5; weekends do not count.
    assert seen == [("2026-12-04", 1), ("2026-12-08", 3), ("2026-12-10", 5)]


def test_no_nudge_for_a_handled_request_and_one_after_a_gap(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    add_team(engine)
    handled = submit(engine, "ZEELAND", utc(2026, 12, 1, 10, 0))
    waiting = submit(engine, "ZEELAND", utc(2026, 12, 1, 10, 0))
    with transaction(engine) as session:
        rq.approve(session, handled, TEAM, utc(2026, 12, 1, 12, 0))
    # The process was down until Monday 7 December: 4 working days waited, one nudge (step 3).
    tick_at(engine, utc(2026, 12, 7, 8, 0))
    nudges = outbox(engine, "request_nudge")
    assert [(n.context["ref"], n.context["step"]) for n in nudges] == [(waiting, 3)]


def test_unused_days_on_the_first_of_december(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="3")
    make_region("TWENTE", days="1")
    make_region("BONAIRE", days="2", tz="America/Kralendijk")
    add_contact(engine, "ZEELAND", "zee@school.example", "UZEE")
    add_contact(engine, "TWENTE", "twente@school.example")
    add_contact(engine, "BONAIRE", "bon@school.example")
    submit(engine, "TWENTE", utc(2026, 11, 2, 10, 0))  # uses TWENTE's only day
    assert "unused_days" not in tick_at(engine, utc(2026, 12, 1, 7, 59))
    assert "unused_days" in tick_at(engine, utc(2026, 12, 1, 8, 0))
    rows = outbox(engine, "unused_days")
    assert sorted((r.channel, r.recipient, r.context["available"]) for r in rows) == [
        ("email", "bon@school.example", 2),
        ("slack", "UZEE", 3),
    ]
    assert {r.context["ends_on"] for r in rows} == {"2026-12-31"}


def test_the_week_agenda_goes_to_each_supporter_with_days_that_week(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    add_team(engine)
    ref = submit(engine, "ZEELAND", utc(2026, 11, 30, 10, 0), half_days=4)
    with transaction(engine) as session:
        cf = session.exec(select(Supporter).where(Supporter.email == "cf@sto.example")).one()
        rq.approve(session, ref, TEAM, utc(2026, 11, 30, 11, 0))
        rq.assign(session, ref, TEAM, utc(2026, 11, 30, 11, 0), supporter_email=cf.email)
        rq.schedule(
            session,
            ref,
            TEAM,
            utc(2026, 11, 30, 12, 0),
            days=[date(2026, 12, 9), date(2026, 12, 16)],
        )
    assert "supporter_agenda" in tick_at(engine, utc(2026, 12, 7, 7, 0))  # Monday 08:00
    (agenda,) = outbox(engine, "supporter_agenda")
    assert (agenda.channel, agenda.recipient, agenda.language) == ("email", "cf@sto.example", "en")
    assert [i["day"] for i in agenda.context["items"]] == ["2026-12-09"]
    assert agenda.context["week_start"] == "2026-12-07"


def test_the_roll_over_expires_carries_up_to_the_cap_and_grants(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5", visits=4)
    add_contact(engine, "ZEELAND", "zee@school.example")
    submit(engine, "ZEELAND", utc(2026, 11, 2, 10, 0), half_days=2)  # 1 day reserved
    assert tick_at(engine, utc(2026, 12, 31, 23, 29)) == []
    assert "roll_over" in tick_at(engine, utc(2026, 12, 31, 23, 30), {ROLLOVER_CAP: 2})
    with Session(engine) as session:
        old = get_period(session, "2026")
        new = get_period(session, "2027")
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        lines = {
            (p.code, line.balance.kind): line.balance
            for p in (old, new)
            for line in quota.overview(session, p, region)
        }
    days_2026 = lines[("2026", AllowanceKind.support_days)]
    assert (days_2026.available, days_2026.reserved) == (0, 2)  # the open request keeps its day
    assert lines[("2026", AllowanceKind.cf_visits)].available == 0
    # 2027: the yearly 5 days (the fixture's own grant is not keyed as the yearly one, so
    # the roll-over grants them once more) plus 1 day carried over (the cap).
    assert lines[("2027", AllowanceKind.support_days)].granted == 10 + 10 + 2
    (told,) = outbox(engine, "period_rollover")
    assert told.context["expired_days"] == 4
    assert told.context["carried_days"] == 1
    assert told.context["available_days"] == 11
    # A second tick in January changes nothing.
    assert tick_at(engine, utc(2027, 1, 2, 10, 0), {ROLLOVER_CAP: 2}) == []


def test_the_roll_over_creates_the_next_period_when_missing(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    tick_at(engine, utc(2027, 12, 31, 23, 30))
    with Session(engine) as session:
        period = session.exec(select(Period).where(Period.code == "2028")).one()
        assert (period.starts_on, period.ends_on) == (date(2028, 1, 1), date(2028, 12, 31))
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        (days, _) = quota.overview(session, period, region)
        assert days.balance.amount("available") == Decimal(5)


def test_jobs_write_in_one_transaction_with_their_run(engine: Engine) -> None:
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(JobRun)).one() == 0
    tick_at(engine, utc(2026, 12, 1, 8, 0))  # no data: the digest has no recipients
    assert runs(engine) == [
        ("home_refresh", "2026-12-01"),
        ("team_digest", "2026-12-01"),
        ("nudges", "2026-12-01"),
        ("unconfirmed_visits", "2026-12-01"),
        ("unused_days", "2026-12-01"),
    ]


def add_visit(engine: Engine, region: str, day: date, status: str = "scheduled") -> int:
    with transaction(engine) as session:
        reg = session.exec(select(Region).where(Region.code == region)).one()
        cf = session.exec(select(Supporter).where(Supporter.email == "cf@sto.example")).one()
        period = session.exec(select(Period).where(Period.code == str(day.year))).one()
        assert reg.id is not None and cf.id is not None and period.id is not None
        visit = Visit(
            region_id=reg.id,
            supporter_id=cf.id,
            period_id=period.id,
            number=1,
            status=status,
            day=day,
            window_from=day,
            window_to=day,
            created_at=utc(2026, 11, 1),
            updated_at=utc(2026, 11, 1),
        )
        session.add(visit)
        session.flush()
        assert visit.id is not None
        return visit.id


def test_the_digest_and_the_agenda_show_the_critical_friends_visits(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    add_team(engine)
    add_visit(engine, "ZEELAND", date(2026, 12, 9))
    add_visit(engine, "ZEELAND", date(2026, 12, 10), status="cancelled")
    tick_at(engine, utc(2026, 12, 7, 7, 0))  # Monday: the agenda
    (agenda,) = outbox(engine, "supporter_agenda")
    assert [(i["day"], i["kind"]) for i in agenda.context["items"]] == [("2026-12-09", "visit")]
    tick_at(engine, utc(2026, 12, 9, 8, 0))  # Wednesday 09:00: the digest
    digest = outbox(engine, "team_digest")[-1]
    assert digest.context["visits_today"] == [
        {
            "kind": "visit",
            "ref": "",
            "number": 1,
            "region": "ZEELAND",
            "region_name": "Zeeland",
            "supporter": "Fenna Friend",
        }
    ]
    say = default_renderer()
    text = say.render("notify.team_digest", "nl", **digest.context)
    assert "bezoek 1 van de critical friend · Zeeland · Fenna Friend" in text


def test_an_unconfirmed_visit_reaches_the_team_after_five_working_days(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="10")
    add_team(engine)
    visit = add_visit(engine, "ZEELAND", date(2026, 12, 2))  # Wednesday
    for day in (8, 9):  # Tuesday 8 = 4 working days later, Wednesday 9 = 5
        tick_at(engine, utc(2026, 12, day, 8, 0))
    rows = outbox(engine, "visit_unconfirmed")
    assert [(r.due_at, r.subject_id, r.context["waited"]) for r in rows] == [
        (utc(2026, 12, 9, 8, 0), visit, 5)
    ]
    tick_at(engine, utc(2026, 12, 10, 8, 0))
    assert len(outbox(engine, "visit_unconfirmed")) == 1  # told once
