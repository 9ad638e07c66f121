"""Supporters' absences (stand-in takeover, overlap, validation) and their capacity.

On SQLite and PostgreSQL (the `engine` fixture).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import requests as rq
from models import supporters as sp
from models.db import transaction
from models.errors import (
    AbsenceOverlap,
    DomainError,
    InvalidAbsence,
    UnknownAbsence,
    UnknownSupporter,
)
from models.tables import (
    AuditEntry,
    Notification,
    Region,
    RequestEvent,
    SchoolHoliday,
    Supporter,
    SupporterAbsence,
)
from scheduling.calendar import load_calendar
from scheduling.supporters import capacity, is_available, unavailable_reason
from tests.conftest import NOW, TEAM, RegionFactory
from tests.supporters_helpers import assignee, christmas, request, team

DEC = date(2026, 12, 1)


@pytest.fixture
def ids(engine: Engine, make_region: RegionFactory) -> dict[str, int]:
    make_region("ZEELAND", days="10")
    return team(engine)


def absent(
    engine: Engine, who: str, start: date, end: date, stand_in: str | None = None
) -> sp.AbsenceResult:
    with transaction(engine) as session:
        return sp.add_absence(session, who, start, end, stand_in, "ziek", TEAM, NOW)


def notes(engine: Engine, template: str) -> list[Notification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.template == template)
                .order_by(col(Notification.id))
            ).all()
        )


def counts(engine: Engine) -> tuple[int, int, int, int]:
    """Absences, notifications, history rows and audit entries: what a refusal must not add."""
    with Session(engine) as session:
        return (
            len(session.exec(select(SupporterAbsence)).all()),
            len(session.exec(select(Notification)).all()),
            len(session.exec(select(RequestEvent)).all()),
            len(session.exec(select(AuditEntry)).all()),
        )


# ---- absences and the stand-in -----------------------------------------------------------


def test_an_absence_hands_open_requests_to_the_stand_in(
    engine: Engine, ids: dict[str, int]
) -> None:
    in_absence = request(
        engine,
        contact_id=ids["contact"],
        status="scheduled",
        supporter="cf@sto.example",
        days=[date(2026, 12, 7)],
    )
    undated = request(engine, status="approved", supporter="cf@sto.example")
    later = request(
        engine, status="scheduled", supporter="cf@sto.example", days=[date(2026, 12, 21)]
    )
    undecided = request(engine, supporter="cf@sto.example")
    antons = request(engine, status="approved", supporter="anton@sto.example")

    result = absent(engine, "CF@sto.example", DEC, date(2026, 12, 11), "bea@sto.example")

    assert result.handed_over == [in_absence, undated]
    assert result.uncovered == [] and result.visits == 0
    assert assignee(engine, in_absence) == assignee(engine, undated) == "bea@sto.example"
    assert assignee(engine, later) == assignee(engine, undecided) == "cf@sto.example"
    assert assignee(engine, antons) == "anton@sto.example"

    with Session(engine) as session:
        history = rq.events_of(session, rq.get_request(session, in_absence))
        absence = session.exec(select(SupporterAbsence)).one()
    last = history[-1]
    assert (last.from_status, last.to_status) == ("scheduled", "scheduled")
    assert "cf@sto.example -> bea@sto.example" in last.reason
    assert "2026-12-01/2026-12-11" in last.reason
    assert absence.stand_in_id == ids["bea"] and absence.reason == "ziek"

    (stand_in,) = notes(engine, "absence_stand_in")
    assert (stand_in.channel, stand_in.recipient, stand_in.language) == ("slack", "UBEA", "en")
    assert [r["ref"] for r in stand_in.context["requests"]] == [in_absence, undated]
    assert stand_in.context["absent"] == "Carla Vriend"
    (to_team,) = notes(engine, "absence_team")
    assert to_team.channel == "team" and to_team.subject_type == "absence"
    # The contacts hear who carries out their request now: the requester of the first,
    # and for the second (submitted without a contact) the region's contacts.
    told = [
        (n.recipient, n.context["ref"], n.context["supporter"])
        for n in notes(engine, "request_assigned")
        if n.context["supporter"] == "Bea Bakker"
    ]
    assert sorted(told) == sorted(
        [("UZEE", in_absence, "Bea Bakker"), ("UZEE", undated, "Bea Bakker")]
    )
    cards = [
        n.context["ref"]
        for n in notes(engine, "team_request")
        if n.context.get("supporter") == "Bea Bakker"
    ]
    assert sorted(cards) == sorted([in_absence, undated])


def test_without_a_stand_in_the_team_hears_what_is_uncovered(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(engine, status="approved", supporter="cf@sto.example")
    result = absent(engine, "cf@sto.example", DEC, DEC)
    assert result.handed_over == [] and result.uncovered == [ref]
    assert assignee(engine, ref) == "cf@sto.example"
    (to_team,) = notes(engine, "absence_team")
    assert to_team.context["uncovered"] is True
    assert [r["ref"] for r in to_team.context["requests"]] == [ref]
    assert notes(engine, "absence_stand_in") == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 12, 1), date(2026, 12, 11)),  # the same days
        (date(2026, 11, 30), date(2026, 12, 1)),  # ends on its first day
        (date(2026, 12, 11), date(2026, 12, 20)),  # starts on its last day
        (date(2026, 12, 3), date(2026, 12, 4)),  # inside
        (date(2026, 11, 1), date(2026, 12, 31)),  # around
    ],
)
def test_an_overlapping_absence_is_refused_and_changes_nothing(
    engine: Engine, ids: dict[str, int], start: date, end: date
) -> None:
    absent(engine, "cf@sto.example", DEC, date(2026, 12, 11))
    ref = request(engine, status="approved", supporter="cf@sto.example")
    before = counts(engine)
    with pytest.raises(AbsenceOverlap) as caught:
        absent(engine, "cf@sto.example", start, end, "bea@sto.example")
    assert caught.value.params["ex_start"] == "2026-12-01"
    assert caught.value.params["ex_end"] == "2026-12-11"
    assert counts(engine) == before
    assert assignee(engine, ref) == "cf@sto.example"


def test_adjacent_absences_are_fine(engine: Engine, ids: dict[str, int]) -> None:
    absent(engine, "cf@sto.example", DEC, date(2026, 12, 11))
    absent(engine, "cf@sto.example", date(2026, 12, 12), date(2026, 12, 13))
    absent(engine, "cf@sto.example", date(2026, 11, 30), date(2026, 11, 30))
    with Session(engine) as session:
        found = sp.absences(session, supporter_id=ids["carla"])
    assert [a.starts_on for a in found] == [date(2026, 11, 30), DEC, date(2026, 12, 12)]


def test_bad_absences_are_refused_with_what_is_wrong(engine: Engine, ids: dict[str, int]) -> None:
    absent(engine, "bea@sto.example", date(2026, 12, 10), date(2026, 12, 20))
    with transaction(engine) as session:
        gone = session.get(Supporter, ids["anton"])
        assert gone is not None
        gone.active = False
        session.add(gone)
    ref = request(engine, status="approved", supporter="cf@sto.example")
    before = counts(engine)
    cases: list[tuple[date, date, str | None, str]] = [
        (date(2026, 12, 5), date(2026, 12, 4), None, "reversed"),
        (DEC, DEC, "cf@sto.example", "same_person"),
        (DEC, DEC, "anton@sto.example", "inactive"),
        (DEC, DEC, "coord@sto.example", "coordinator"),
        (date(2026, 12, 1), date(2026, 12, 10), "bea@sto.example", "absent"),
    ]
    for start, end, stand_in, problem in cases:
        with pytest.raises(InvalidAbsence) as caught:
            absent(engine, "cf@sto.example", start, end, stand_in)
        assert caught.value.params["problem"] == problem
    with pytest.raises(UnknownSupporter):
        absent(engine, "nobody@sto.example", DEC, DEC)
    with pytest.raises(UnknownSupporter):
        absent(engine, "cf@sto.example", DEC, DEC, "nobody@sto.example")
    with pytest.raises(InvalidAbsence), transaction(engine) as session:
        sp.add_absence(session, "cf@sto.example", DEC, DEC, None, "x" * 501, TEAM, NOW)
    assert counts(engine) == before
    assert assignee(engine, ref) == "cf@sto.example"


def test_remove_absence(engine: Engine, ids: dict[str, int]) -> None:
    ref = request(engine, status="approved", supporter="cf@sto.example")
    result = absent(engine, "cf@sto.example", DEC, DEC, "bea@sto.example")
    absence_id = result.absence.id
    assert absence_id is not None
    with transaction(engine) as session:
        removed = sp.remove_absence(session, str(absence_id), TEAM, NOW)
    assert removed.starts_on == DEC
    with Session(engine) as session:
        assert sp.absences(session) == []
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.action == "supporter.present")
        ).one()
    assert audit.subject == "cf@sto.example"
    assert assignee(engine, ref) == "bea@sto.example"  # what was handed over stays
    for bad in (str(absence_id), "zeven"):
        with pytest.raises(UnknownAbsence), transaction(engine) as session:
            sp.remove_absence(session, bad, TEAM, NOW)
    # Present again: the same days can be registered anew.
    absent(engine, "cf@sto.example", DEC, DEC)


def test_every_absence_error_has_a_sentence() -> None:
    from bot.render import Renderer

    errors: list[DomainError] = [
        InvalidAbsence("stand_in", "absent", "2026-12-01/2026-12-10"),
        AbsenceOverlap("Carla", "2026-12-01", "2026-12-02", 3, "2026-11-30", "2026-12-01"),
        UnknownAbsence("9"),
    ]
    for error in errors:
        for lang in ("nl", "en"):
            text = Renderer().render(f"errors.{error.code}", lang, **error.params)
            assert text and "{{" not in text
    nl = Renderer().render("errors.invalid_absence", "nl", **errors[0].params)
    assert "2026-12-01 t/m 2026-12-10" in nl


# ---- availability and capacity -----------------------------------------------------------


def supporter(engine: Engine, email: str) -> Supporter:
    with Session(engine) as session:
        return sp.find_supporter(session, email)


def region(engine: Engine, code: str) -> Region:
    with Session(engine) as session:
        return session.exec(select(Region).where(Region.code == code)).one()


def test_is_available_on_weekdays_holidays_and_absences(
    engine: Engine, ids: dict[str, int]
) -> None:
    christmas(engine)
    with transaction(engine) as session:
        anton = session.get(Supporter, ids["anton"])
        assert anton is not None
        anton.working_days = "ma;wo"
        session.add(anton)
    absent(engine, "cf@sto.example", date(2026, 12, 7), date(2026, 12, 8))
    carla = supporter(engine, "cf@sto.example")
    anton = supporter(engine, "anton@sto.example")
    zeeland = region(engine, "ZEELAND")
    with Session(engine) as session:
        cal = load_calendar(session)

        def why(s: Supporter, day: date, **kw: object) -> str | None:
            return unavailable_reason(session, s, day, calendar=cal, **kw)  # type: ignore[arg-type]

        assert is_available(session, carla, date(2026, 12, 4))
        assert why(carla, date(2026, 12, 5)) == "weekday"  # Saturday
        assert why(carla, date(2026, 12, 7)) == "absent"
        assert why(carla, date(2026, 12, 25)) == "public_holiday"
        assert why(carla, date(2026, 12, 22)) is None
        assert why(carla, date(2026, 12, 22), region=zeeland) == "school_holiday"
        assert why(anton, date(2026, 12, 8)) == "weekday"  # a Tuesday, he works ma;wo
        assert is_available(session, anton, date(2026, 12, 9))


def test_capacity_counts_weekdays_holidays_absences_plans_and_the_month_cap(
    engine: Engine, ids: dict[str, int]
) -> None:
    christmas(engine)
    with transaction(engine) as session:
        for email, cap in (("cf@sto.example", 30), ("bea@sto.example", 8)):
            s = sp.find_supporter(session, email)
            s.max_days_per_month = cap
            session.add(s)
    end = date(2026, 12, 31)
    zeeland = region(engine, "ZEELAND")
    with Session(engine) as session:
        carla = sp.find_supporter(session, "cf@sto.example")
        plain = capacity(session, carla, DEC, end)
        # 23 weekdays in December 2026, less Eerste kerstdag (Friday 25th).
        assert (plain.working_days, plain.free_days) == (22, 22)
        # In ZEELAND the Christmas school holiday starts on the 19th.
        local = capacity(session, carla, DEC, end, region=zeeland)
        assert (local.working_days, local.free_days) == (14, 14)

    absent(engine, "cf@sto.example", date(2026, 12, 7), date(2026, 12, 11))
    absent(engine, "bea@sto.example", date(2026, 12, 7), date(2026, 12, 11))
    for who in ("cf@sto.example", "bea@sto.example"):
        request(
            engine,
            half_days=4,
            status="scheduled",
            supporter=who,
            days=[date(2026, 12, 14), date(2026, 12, 15)],
        )
    with Session(engine) as session:
        carla = sp.find_supporter(session, "cf@sto.example")
        c = capacity(session, carla, DEC, end)
        assert (c.working_days, c.absent_days, c.planned_days, c.free_days) == (22, 5, 2, 15)
        assert c.month_cap_days == 0 and c.fits(15) and not c.fits(16)
        # Bea may work 8 days a month; 2 are planned, so 6 are left of the 15 open days.
        bea = sp.find_supporter(session, "bea@sto.example")
        b = capacity(session, bea, DEC, end)
        assert (b.free_days, b.month_cap_days) == (6, 9)
        # The monthly maximum counts planned days outside the range too.
        late = capacity(session, bea, date(2026, 12, 16), date(2026, 12, 18))
        assert (late.working_days, late.free_days) == (3, 3)
        # Across two months each month has its own maximum.
        two = capacity(session, bea, DEC, date(2027, 1, 31))
        assert two.free_days == 6 + 8


def test_capacity_in_the_bes_region_follows_its_own_holidays(
    engine: Engine, ids: dict[str, int], make_region: RegionFactory
) -> None:
    make_region("BES", tz="America/Kralendijk")
    with transaction(engine) as session:
        bes = session.exec(select(Region).where(Region.code == "BES")).one()
        bes.holiday_zone = None
        session.add(bes)
        session.add(
            SchoolHoliday(
                school_year="2025-2026",
                name="meivakantie",
                zone="alle",
                starts_on=date(2026, 4, 25),
                ends_on=date(2026, 5, 3),
            )
        )
    week = (date(2026, 4, 27), date(2026, 5, 1))  # Monday Koningsdag .. Friday 1 May
    with Session(engine) as session:
        carla = sp.find_supporter(session, "cf@sto.example")
        bes = session.exec(select(Region).where(Region.code == "BES")).one()
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        home = capacity(session, carla, *week)
        there = capacity(session, carla, *week, region=bes)
        zee = capacity(session, carla, *week, region=zeeland)
        cal = load_calendar(session)
        may_day = unavailable_reason(session, carla, date(2026, 5, 1), region=bes, calendar=cal)
    assert home.free_days == 4  # Koningsdag off
    assert there.free_days == 3  # and Dag van de Arbeid, a public holiday on Bonaire
    assert may_day == "region_holiday"
    assert zee.free_days == 0  # meivakantie in the Netherlands; none on Bonaire


def test_an_inactive_supporter_has_no_capacity(engine: Engine, ids: dict[str, int]) -> None:
    with transaction(engine) as session:
        s = sp.find_supporter(session, "anton@sto.example")
        s.active = False
        session.add(s)
    with Session(engine) as session:
        anton = sp.find_supporter(session, ids["anton"])
        assert capacity(session, anton, DEC, DEC + timedelta(days=30)).free_days == 0
        assert not is_available(session, anton, DEC)


# ---- concurrency and the mail version ----------------------------------------------------


def test_absences_registered_at_once_never_overlap_or_cross(
    engine: Engine, ids: dict[str, int]
) -> None:
    """Eight overlapping absences for Carla at once: one wins. And Carla and Bea, each the
    other's stand-in at the same time: only one of them can be away (no deadlock)."""
    from tests.test_concurrency import run_together

    def carla(i: int) -> sp.AbsenceResult:
        start = DEC + timedelta(days=i)
        return absent(engine, "cf@sto.example", start, start + timedelta(days=7))

    outcomes = run_together(8, carla)
    assert sum(isinstance(o, sp.AbsenceResult) for o in outcomes) == 1
    assert all(isinstance(o, sp.AbsenceResult | AbsenceOverlap) for o in outcomes), outcomes

    pairs = [("anton@sto.example", "bea@sto.example"), ("bea@sto.example", "anton@sto.example")]

    def crossed(i: int) -> sp.AbsenceResult:
        who, stand_in = pairs[i % 2]
        return absent(engine, who, DEC, DEC + timedelta(days=4), stand_in)

    outcomes = run_together(6, crossed)
    won = [o for o in outcomes if isinstance(o, sp.AbsenceResult)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, sp.AbsenceResult | DomainError) for o in outcomes), outcomes
    with Session(engine) as session:
        assert (
            len(sp.absences(session, supporter_id=ids["anton"]))
            + len(sp.absences(session, supporter_id=ids["bea"]))
            == 1
        )


def test_a_stand_in_without_slack_is_told_by_mail(engine: Engine, ids: dict[str, int]) -> None:
    from bot.mail.compose import Composer
    from bot.render import default_renderer

    ref = request(engine, status="approved", supporter="cf@sto.example")
    absent(engine, "cf@sto.example", DEC, DEC, "anton@sto.example")
    (note,) = notes(engine, "absence_stand_in")
    assert (note.channel, note.recipient) == ("email", "anton@sto.example")
    mail = Composer(default_renderer(), "ondersteuning@localhost").render(
        note.template, note.language, note.context
    )
    assert mail.subject == "U vervangt Carla Vriend (op dinsdag 1 december 2026)"
    assert "Beste Anton Aalders" in mail.text and ref in mail.text and ref in mail.html


def test_the_visit_hook_runs_in_the_same_transaction(engine: Engine, ids: dict[str, int]) -> None:
    """What the visit planner plugs in sees the new absence, and its failure undoes all."""
    ref = request(engine, status="approved", supporter="cf@sto.example")
    calls: list[tuple[int, date, date, bool]] = []

    def mover(
        session: Session, supporter_id: int, start: date, end: date, by: object, now: object
    ) -> list[int]:
        seen = sp.absent_on(session, supporter_id, start) is not None
        calls.append((supporter_id, start, end, seen))
        return [11, 12]

    with transaction(engine) as session:
        result = sp.add_absence(
            session, "cf@sto.example", DEC, DEC, "bea@sto.example", "", TEAM, NOW, visits=mover
        )
    assert result.visits == 2
    assert calls == [(ids["carla"], DEC, DEC, True)]

    def broken(*_: object) -> list[int]:
        raise InvalidAbsence("visits", "no_slot")

    before = counts(engine)
    with pytest.raises(InvalidAbsence), transaction(engine) as session:
        sp.add_absence(
            session, "bea@sto.example", DEC, DEC, "anton@sto.example", "", TEAM, NOW, visits=broken
        )
    assert counts(engine) == before
    assert assignee(engine, ref) == "bea@sto.example"
