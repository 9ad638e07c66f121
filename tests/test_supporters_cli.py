"""`sto supporters`: list, show, absences with a stand-in, and ranking (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import SupporterAbsence
from tests.cli_helpers import Sto
from tests.conftest import NOW, RegionFactory
from tests.supporters_helpers import assignee, request, team


@pytest.fixture
def sto(
    engine: Engine,
    make_region: RegionFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Sto:
    make_region("ZEELAND", days="10")
    team(engine)
    return Sto(engine, capsys, monkeypatch, NOW)


def absences(engine: Engine) -> list[SupporterAbsence]:
    with Session(engine) as session:
        return list(session.exec(select(SupporterAbsence)).all())


def test_list_and_show(sto: Sto) -> None:
    table = sto("supporters", "list")
    assert table.code == 0, table.err
    assert "Carla Vriend" in table.out and "4 ondersteuners." in table.out
    rows = sto("supporters", "list", "--json").json()
    carla = next(r for r in rows if r["email"] == "cf@sto.example")
    assert carla["critical_friend_of"] == ["ZEELAND"]
    assert carla["themes"] == ["doorlopende-leerlijnen", "regionale-plannen"]
    assert carla["working_days"] == ["ma", "di", "wo", "do", "vr"]
    # 30 Nov .. 27 Dec 2026: Monday 30 November, then 15 December weekdays of which
    # at most 8 (her monthly maximum).
    assert carla["free_days"] == 1 + 8 and carla["open_requests"] == 0

    shown = sto("supporters", "show", "CF@sto.example")
    assert shown.code == 0, shown.err
    assert "Critical friend: ZEELAND" in shown.out and "doorlopende-leerlijnen" in shown.out
    missing = sto("supporters", "show", "nobody@sto.example")
    assert missing.code == 1 and "nobody@sto.example" in missing.err


def test_absent_hands_over_and_present_removes(sto: Sto, engine: Engine) -> None:
    ref = request(engine, status="approved", supporter="cf@sto.example")
    done = sto(
        "supporters",
        "absent",
        "cf@sto.example",
        "--from",
        "7-12-2026",
        "--to",
        "2026-12-11",
        "--stand-in",
        "bea@sto.example",
        "--reason",
        "cursus",
    )
    assert done.code == 0, done.err
    assert "Carla Vriend is afwezig van maandag 7 december 2026 t/m vrijdag 11 december" in done.out
    assert f"Bea Bakker neemt 1 aanvraag over: {ref}." in done.out
    assert assignee(engine, ref) == "bea@sto.example"

    listed = sto("supporters", "absences", "--json").json()
    assert [
        (a["supporter"], a["starts_on"], a["ends_on"], a["stand_in"], a["reason"]) for a in listed
    ] == [("cf@sto.example", "2026-12-07", "2026-12-11", "bea@sto.example", "cursus")]
    shown = sto("supporters", "show", "cf@sto.example", "--json").json()
    assert [a["id"] for a in shown["absences"]] == [listed[0]["id"]]
    table = sto("supporters", "absences")
    assert "Carla Vriend" in table.out and "1 afwezigheid." in table.out

    removed = sto("supporters", "present", str(listed[0]["id"]))
    assert removed.code == 0, removed.err
    assert "is verwijderd" in removed.out
    assert absences(engine) == []
    again = sto("supporters", "present", str(listed[0]["id"]))
    assert again.code == 1 and "bestaat niet" in again.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-12-11", "--to", "2026-12-07"), "eindigt vóór ze begint"),
        (("--from", "11 december", "--to", "2026-12-12"), "'11 december' is geen datum"),
        (
            ("--from", "2026-12-07", "--to", "2026-12-08", "--stand-in", "cf@sto.example"),
            "eigen vervanger",
        ),
        (
            ("--from", "2026-12-07", "--to", "2026-12-08", "--stand-in", "x@sto.example"),
            "x@sto.example",
        ),
    ],
)
def test_bad_absences_say_what_is_wrong_and_change_nothing(
    sto: Sto, engine: Engine, args: tuple[str, ...], message: str
) -> None:
    result = sto("supporters", "absent", "cf@sto.example", *args)
    assert result.code != 0
    assert message in result.err
    assert absences(engine) == []


def test_an_overlapping_absence_is_refused(sto: Sto, engine: Engine) -> None:
    first = ("supporters", "absent", "cf@sto.example", "--from", "2026-12-07", "--to", "2026-12-11")
    assert sto(*first).code == 0
    clash = sto(
        "supporters", "absent", "cf@sto.example", "--from", "2026-12-10", "--to", "2026-12-14"
    )
    assert clash.code == 1
    assert "al afwezig van 2026-12-07 t/m 2026-12-11" in clash.err
    assert len(absences(engine)) == 1


def test_rank_shows_the_options_with_their_reasons(sto: Sto, engine: Engine) -> None:
    from datetime import date

    ref = request(engine, theme="leerlijnen", start=date(2026, 12, 1), end=date(2026, 12, 18))
    table = sto("supporters", "rank", ref)
    assert table.code == 0, table.err
    assert f"Wie kan {ref} (Zeeland, thema leerlijnen) het best uitvoeren?" in table.out
    lines = [line for line in table.out.splitlines() if line.strip()[:1].isdigit()]
    assert [line.split("│")[1].strip() for line in lines] == [
        "Carla Vriend",
        "Bea Bakker",
        "Anton Aalders",
    ]
    assert "critical friend van Zeeland, en het thema past" in table.out
    data = sto("supporters", "rank", ref, "--json").json()
    assert data["start"] == "2026-12-01" and data["needed_days"] == 1
    assert [c["email"] for c in data["candidates"]] == [
        "cf@sto.example",
        "bea@sto.example",
        "anton@sto.example",
    ]
    assert data["candidates"][0]["reasons"][0] == {
        "code": "critical_friend",
        "region": "ZEELAND",
        "region_name": "Zeeland",
    }
    unknown = sto("supporters", "rank", "STO-2026-9999")
    assert unknown.code == 1 and "STO-2026-9999" in unknown.err


def test_help_is_dutch_by_default(sto: Sto) -> None:
    result = sto("supporters", "--help")
    assert result.code == 0
    assert "afwezigheid" in result.out.lower()
