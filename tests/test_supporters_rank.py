"""Ranking supporters for a request: the order and the reasons for it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.render import Renderer
from models import requests as rq
from models import supporters as sp
from models.db import transaction
from scheduling import ranking
from scheduling.ranking import Candidate, matching_theme, slug
from tests.conftest import NOW, TEAM, RegionFactory
from tests.supporters_helpers import add_supporter, request, team

TODAY = date(2026, 11, 30)
DEC1, DEC18 = date(2026, 12, 1), date(2026, 12, 18)


@pytest.fixture
def ids(engine: Engine, make_region: RegionFactory) -> dict[str, int]:
    make_region("ZEELAND", days="20")
    return team(engine)


def ranked(engine: Engine, ref: str, today: date = TODAY) -> list[Candidate]:
    with Session(engine) as session:
        return ranking.rank(session, rq.get_request(session, ref), today)


def names(found: list[Candidate]) -> list[str]:
    return [c.name.split()[0] for c in found]


def codes(c: Candidate) -> list[str]:
    return [r.code for r in c.reasons]


def test_the_critical_friend_comes_first_when_the_theme_fits(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(engine, theme="Doorlopende leerlijnen", start=DEC1, end=DEC18)
    found = ranked(engine, ref)
    assert names(found) == ["Carla", "Bea", "Anton"]  # coordinators do not do the work
    carla, bea, anton = found
    assert codes(carla) == ["critical_friend", "expertise", "capacity", "open_assignments"]
    assert carla.reasons[0].params["region"] == "ZEELAND"
    assert codes(bea) == ["expertise", "capacity", "open_assignments"]
    assert bea.reasons[0].params == {"theme": "doorlopende-leerlijnen"}
    assert codes(anton)[0] == "other_expertise"
    assert anton.reasons[0].params["themes"] == ["techniekpromotie"]
    assert carla.theme_match and bea.theme_match and anton.theme_match is False
    capacity = carla.reasons[2].params
    assert capacity == {"free": 8, "needed": 1, "start": "2026-12-01", "end": "2026-12-18"}


def test_expertise_beats_the_critical_friend_when_the_theme_does_not_fit(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(engine, theme="techniekpromotie", start=DEC1, end=DEC18)
    found = ranked(engine, ref)
    assert names(found) == ["Anton", "Bea", "Carla"]  # Bea and Carla tie; by name
    assert codes(found[2])[:2] == ["critical_friend_other_theme", "other_expertise"]


def test_without_a_theme_the_critical_friend_leads_then_capacity_then_spread(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(engine, start=DEC1, end=DEC18)
    assert names(ranked(engine, ref)) == ["Carla", "Anton", "Bea"]
    assert codes(ranked(engine, ref)[0])[:2] == ["critical_friend", "no_theme"]

    # A fair spread: Anton gets two open requests, Bea one; Bea moves up.
    for who in ("anton@sto.example", "anton@sto.example", "bea@sto.example"):
        request(engine, supporter=who)
    found = ranked(engine, ref)
    assert names(found) == ["Carla", "Bea", "Anton"]
    assert [c.open_assignments for c in found] == [0, 1, 2]
    assert found[2].reasons[-1].params == {"count": 2}

    # Capacity comes before the spread: Bea away for the whole window drops below Anton.
    with transaction(engine) as session:
        sp.add_absence(session, "bea@sto.example", DEC1, DEC18, None, "", TEAM, NOW)
    found = ranked(engine, ref)
    assert names(found) == ["Carla", "Anton", "Bea"]
    bea = found[2]
    assert bea.free_days == 0 and "no_capacity" in codes(bea) and "absent" in codes(bea)
    assert next(r for r in bea.reasons if r.code == "absent").params["days"] == 14


def test_some_room_ranks_between_enough_and_none(engine: Engine, ids: dict[str, int]) -> None:
    dirk = add_supporter(engine, "dirk@sto.example", "Dirk Dekker", working_days="ma")
    # Three days needed in one week: Dirk works Mondays only, Anton is away all week.
    ref = request(engine, half_days=6, start=date(2026, 12, 7), end=date(2026, 12, 11))
    with transaction(engine) as session:
        sp.add_absence(
            session, "anton@sto.example", date(2026, 12, 7), date(2026, 12, 11), None, "", TEAM, NOW
        )
    found = ranked(engine, ref)
    assert names(found) == ["Carla", "Bea", "Dirk", "Anton"]
    by_name = {c.supporter_id: c for c in found}
    assert "capacity_short" in codes(by_name[dirk])
    assert by_name[dirk].free_days == 1 and by_name[dirk].needed_days == 3
    assert "no_capacity" in codes(by_name[ids["anton"]])


def test_the_request_itself_does_not_count_against_its_supporter(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(
        engine,
        status="scheduled",
        supporter="bea@sto.example",
        days=[date(2026, 12, 8)],
    )
    found = {c.name: c for c in ranked(engine, ref)}
    bea = found["Bea Bakker"]
    assert bea.open_assignments == 0
    # Its own day is not taken: the window is the scheduled day, and Bea is free on it.
    assert (bea.capacity.start, bea.capacity.end, bea.free_days) == (
        date(2026, 12, 8),
        date(2026, 12, 8),
        1,
    )


def test_the_window_without_a_preferred_period_is_four_weeks_from_today(
    engine: Engine, ids: dict[str, int]
) -> None:
    ref = request(engine)
    with Session(engine) as session:
        found = rq.get_request(session, ref)
        assert ranking.window(session, found, TODAY) == (TODAY, date(2026, 12, 27))
        # Late in the year it stops at the end of the request's period.
        assert ranking.window(session, found, date(2026, 12, 20)) == (
            date(2026, 12, 20),
            date(2026, 12, 31),
        )
    later = request(engine, start=date(2026, 11, 30), end=date(2027, 1, 15))
    with Session(engine) as session:
        found = rq.get_request(session, later)
        assert ranking.window(session, found, date(2026, 12, 3)) == (
            date(2026, 12, 3),
            date(2027, 1, 15),
        )


def test_theme_matching() -> None:
    assert slug("Loopbaanoriëntatie & LOB") == "loopbaanorientatie-lob"
    themes = ["doorlopende-leerlijnen", "loopbaanorientatie"]
    assert matching_theme("Loopbaanoriëntatie", themes) == "loopbaanorientatie"
    assert matching_theme("leerlijnen", themes) == "doorlopende-leerlijnen"
    assert matching_theme("doorlopende leerlijnen vmbo-mbo", themes) == "doorlopende-leerlijnen"
    assert matching_theme("", themes) is None
    assert matching_theme("lijn", themes) is None  # too short to mean a theme
    assert matching_theme("techniekpromotie", themes) is None


def test_every_reason_has_a_sentence_in_both_languages(engine: Engine, ids: dict[str, int]) -> None:
    add_supporter(engine, "dirk@sto.example", "Dirk Dekker", working_days="ma")
    with transaction(engine) as session:
        sp.find_supporter(session, "anton@sto.example").max_days_per_month = 2
    first = request(
        engine, half_days=6, theme="techniekpromotie", start=TODAY, end=date(2026, 12, 4)
    )
    second = request(engine, half_days=6, start=date(2026, 12, 7), end=date(2026, 12, 11))
    with transaction(engine) as session:
        sp.add_absence(session, "bea@sto.example", DEC1, DEC1, None, "", TEAM, NOW)
        sp.add_absence(
            session, "bea@sto.example", date(2026, 12, 7), date(2026, 12, 11), None, "", TEAM, NOW
        )
    seen: set[str] = set()
    renderer = Renderer()
    for ref in (first, second):
        for c in ranked(engine, ref):
            for r in c.reasons:
                seen.add(r.code)
                for lang in ("nl", "en"):
                    text = renderer.render("supporters.reason", lang, code=r.code, p=r.params)
                    assert text and text != r.code
            label = renderer.render("supporters.option", "nl", name=c.name, items=c.reasons)
            assert label.startswith(c.name + " · ")
    assert seen == {
        "critical_friend",
        "critical_friend_other_theme",
        "no_theme",
        "expertise",
        "other_expertise",
        "capacity",
        "capacity_short",
        "no_capacity",
        "absent",
        "month_cap",
        "open_assignments",
    }
