"""`sto visits`: plan, apply, list, choose, decline, cancel, confirm (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import Region, Visit, VisitProposal
from tests.cli_helpers import Sto
from tests.conftest import NOW, RegionFactory
from tests.visit_helpers import World, rows, world


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


def test_plan_shows_a_table_and_the_evenness_and_changes_nothing(
    sto: Sto, engine: Engine, w: World
) -> None:
    result = sto("visits", "plan", "--period", "2027")
    assert result.code == 0, result.err
    assert "ZEELAND" in result.out and "BES" in result.out
    assert "Carla Vriend" in result.out and "Bas Bonaire" in result.out
    assert "Periode 2027: 8 bezoeken gepland voor 2 regio's." in result.out
    assert "Gelijkmatigheid" in result.out
    with Session(engine) as session:
        assert session.exec(select(Visit)).all() == []
        assert rows(session) == []


def test_plan_csv_and_json_for_scripts(sto: Sto, w: World) -> None:
    out = sto("visits", "plan", "--period", "2027", "--csv")
    assert out.code == 0, out.err
    table = list(csv.DictReader(io.StringIO(out.out)))
    assert len(table) == 8
    assert {r["region"] for r in table} == {"ZEELAND", "BES"}
    assert all(r["status"] == "planned" and r["day"] and r["option_2"] for r in table)
    assert sorted(int(r["number"]) for r in table if r["region"] == "BES") == [1, 2, 3, 4]
    data = sto("visits", "plan", "--period", "2027", "--json").json()
    assert data["period"] == "2027" and len(data["visits"]) == 8 and data["unplaced"] == []
    assert set(data["evenness"]) >= {"mean_offset", "max_offset", "max_gap_deviation"}
    assert data["proposals_sent"] == 0


def test_a_region_without_critical_friend_is_reported(
    sto: Sto, engine: Engine, w: World, make_region: RegionFactory
) -> None:
    make_region("TWENTE")
    result = sto("visits", "plan", "--period", "2027")
    assert result.code == 0, result.err
    assert result.out.count("Niet gepland: TWENTE") == 4
    assert "de regio heeft geen critical friend" in result.out
    data = sto("visits", "plan", "--period", "2027", "--json").json()
    assert {u["reason"] for u in data["unplaced"]} == {"no_critical_friend"}


def test_apply_sends_proposals_once(sto: Sto, engine: Engine, w: World) -> None:
    result = sto("visits", "plan", "--period", "2027", "--apply")
    assert result.code == 0, result.err
    assert "8 voorstellen verstuurd" in result.out
    with Session(engine) as session:
        visits = session.exec(select(Visit)).all()
        assert len(visits) == 8 and {v.status for v in visits} == {"proposed"}
        proposals = session.exec(select(VisitProposal)).all()
        assert len(proposals) == 8
        assert all(p.slot_2 and p.slot_3 for p in proposals)
        sent = rows(session, "visit_proposal")
        # ZEELAND: one contact on Slack and one by mail; BES: one by mail.
        assert len(sent) == 4 * 2 + 4
        assert {r.channel for r in sent} == {"slack", "email"}
    again = sto("visits", "plan", "--period", "2027", "--apply")
    assert again.code == 0
    assert "niets meer te plannen" in again.out
    with Session(engine) as session:
        assert len(session.exec(select(Visit)).all()) == 8
        assert len(rows(session, "visit_proposal")) == 12


def test_list_filters_and_json(sto: Sto, engine: Engine, w: World) -> None:
    sto("visits", "plan", "--period", "2027", "--apply", "--region", "zeeland")
    listed = sto("visits", "list", "--json").json()
    assert len(listed) == 4 and {v["region"] for v in listed} == {"ZEELAND"}
    assert all(len(v["slots"]) == 3 and v["status"] == "proposed" for v in listed)
    table = sto("visits", "list", "--region", "ZEELAND", "--period", "2027")
    assert table.code == 0 and "voorgesteld" in table.out
    assert sto("visits", "list", "--status", "scheduled", "--json").json() == []
    assert "Geen bezoeken gevonden" in sto("visits", "list", "--region", "BES").out
    bad = sto("visits", "list", "--status", "later")
    assert bad.code == 2 and "proposed, scheduled" in bad.err
    unknown = sto("visits", "list", "--region", "NERGENS")
    assert unknown.code == 1 and "NERGENS" in unknown.err


def test_choose_cancel_and_errors_from_the_command_line(sto: Sto, engine: Engine, w: World) -> None:
    sto("visits", "plan", "--period", "2027", "--apply", "--region", "ZEELAND")
    first = sto("visits", "list", "--json").json()[0]
    chosen = sto("visits", "choose", str(first["proposal"]), "2")
    assert chosen.code == 0, chosen.err
    assert "ingepland" in chosen.out
    again = sto("visits", "choose", str(first["proposal"]), "1")
    assert again.code == 1 and "niet meer open" in again.err
    listed = sto("visits", "list", "--status", "scheduled", "--json").json()
    assert [v["day"] for v in listed] == [first["slots"][1]]
    early = sto("visits", "confirm", str(first["id"]))
    assert early.code == 1 and "vóór de bezoekdag" in early.err
    cancelled = sto("visits", "cancel", str(first["id"]), "--reason", "ziek")
    assert cancelled.code == 0 and "geannuleerd" in cancelled.out
    assert sto("visits", "cancel", str(first["id"])).code == 1
    assert sto("visits", "cancel", "999").code == 1
    second = sto("visits", "list", "--status", "proposed", "--json").json()[0]
    assert sto("visits", "choose", str(second["proposal"]), "4").code == 1
    declined = sto("visits", "decline", str(second["proposal"]))
    assert declined.code == 0 and "nieuw voorstel" in declined.out
    with Session(engine) as session:
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert region.id == w.zeeland


def test_english(sto: Sto, w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STO_LANGUAGE", "en")
    result = sto("visits", "plan", "--period", "2027")
    assert result.code == 0, result.err
    assert "Evenness" in result.out and "8 visits planned for 2 regions" in result.out


def test_apply_names_the_regions_nobody_can_answer_for(
    sto: Sto, engine: Engine, w: World, make_region: RegionFactory
) -> None:
    twente = make_region("TWENTE")
    with Session(engine) as session:
        region = session.get(Region, twente.id)
        assert region is not None
        region.critical_friend_id = w.cf_bes
        session.add(region)
        session.commit()
    result = sto("visits", "plan", "--period", "2027", "--apply", "--region", "TWENTE")
    assert result.code == 0, result.err
    assert "TWENTE heeft geen contactpersoon" in result.err
    listed = sto("visits", "list", "--region", "TWENTE", "--json").json()
    assert len(listed) == 4
