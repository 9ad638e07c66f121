"""Option "new regions first", and the team registering people: domain and CLI
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from models import meetings as mt
from models.db import transaction
from models.errors import AlreadyRegistered
from models.regions import get_region
from models.tables import Contact, RegionContact
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM, RegionFactory
from tests.test_meetings import cancel, mails, new_meeting, reg, statuses

# person -> region; p1, p2 take the two seats, the rest wait in this order
PEOPLE = {
    1: "ZEELAND",
    2: "ZEELAND",
    3: "ZEELAND",
    4: "TWENTE",
    5: "ZEELAND",
    6: "UTRECHT",
    7: "TWENTE",
}


@pytest.fixture
def regions(make_region: RegionFactory) -> None:
    for code in ("ZEELAND", "TWENTE", "UTRECHT"):
        make_region(code)


def line(engine: Engine, code: str) -> list[str]:
    with Session(engine) as session:
        return [r.email.split("@")[0] for r in mt.waitlist(session, code)]


def fill(engine: Engine, code: str) -> None:
    for n, region in PEOPLE.items():
        reg(engine, code, n, region=region)


@pytest.mark.usefixtures("regions")
def test_new_regions_go_first_fifo_within_each_group(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2, new_regions_first=True)
    fill(engine, code)
    # TWENTE and UTRECHT have nobody registered: p4, p6, p7 first, then p3, p5
    assert line(engine, code) == ["p4", "p6", "p7", "p3", "p5"]
    with pytest.raises(AlreadyRegistered) as told:
        reg(engine, code, 7, region="TWENTE")
    assert told.value.params["place"] == 3  # the place people are told follows that order
    cancel(engine, code, 1)
    assert statuses(engine, code)["p4"] == "registered"  # TWENTE's first
    # TWENTE is no longer new: p7 joins the others; UTRECHT's p6 leads
    assert line(engine, code) == ["p6", "p3", "p5", "p7"]
    cancel(engine, code, 2)  # ZEELAND has nobody now: p3 and p5 are new again, and p3 was first
    assert statuses(engine, code)["p3"] == "registered"
    assert line(engine, code) == ["p6", "p5", "p7"]
    cancel(engine, code, 4)  # TWENTE empty too: p6 and p7 are both new, p6 came first
    assert statuses(engine, code)["p6"] == "registered"
    assert line(engine, code) == ["p7", "p5"]


@pytest.mark.usefixtures("regions")
def test_first_come_first_served_by_default(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2)
    fill(engine, code)
    assert line(engine, code) == ["p3", "p4", "p5", "p6", "p7"]
    cancel(engine, code, 1)
    assert statuses(engine, code)["p3"] == "registered"


@pytest.mark.usefixtures("regions")
def test_switching_the_option_tells_nobody(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2)
    fill(engine, code)
    with transaction(engine) as session:
        meeting = mt.edit_meeting(session, code, new_regions_first=True, by=TEAM, now=NOW)
        assert meeting.sequence == 0 and meeting.new_regions_first
    assert mails(engine, "meeting_changed") == []
    assert line(engine, code) == ["p4", "p6", "p7", "p3", "p5"]


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


CREATE = (
    "meetings", "create", "--title", "Techniek in de regio", "--start", "2027-03-02 10:00",
    "--end", "2027-03-02 13:00", "--deadline", "2027-02-23", "--capacity", "2",
    "--location", "Utrecht",
)  # fmt: skip


@pytest.mark.usefixtures("regions")
def test_cli_option_on_create_and_edit(sto: Sto) -> None:
    assert sto(*CREATE, "--new-regions-first").code == 0
    assert (
        "Wachtlijst:      regio's waarvan nog niemand" in sto("meetings", "show", "TB-2027-01").out
    )
    assert sto("meetings", "show", "TB-2027-01", "--json").json()["new_regions_first"] is True
    fifo = sto("meetings", "edit", "TB-2027-01", "--fifo")
    assert fifo.code == 0, fifo.err
    assert "geen bericht" in fifo.out
    shown = sto("meetings", "show", "TB-2027-01", "--json").json()
    assert shown["new_regions_first"] is False and shown["sequence"] == 0
    assert "niets gewijzigd" in sto("meetings", "edit", "TB-2027-01", "--fifo").out


@pytest.mark.usefixtures("regions")
def test_the_team_registers_and_unregisters_people(sto: Sto, engine: Engine) -> None:
    with transaction(engine) as session:
        contact = Contact(email="bea@school.example", name="Bea", language="en")
        session.add(contact)
        session.flush()
        twente = get_region(session, "TWENTE")
        assert twente.id is not None and contact.id is not None
        session.add(RegionContact(region_id=twente.id, contact_id=contact.id))
    sto(*CREATE)
    first = sto("meetings", "register", "TB-2027-01", "--name", "Anna", "--email",
                "Anna@School.example", "--region", "zeeland")  # fmt: skip
    assert first.code == 0, first.err
    assert "anna@school.example is aangemeld voor TB-2027-01; er is nog 1 plaats vrij" in first.out
    # a known contact: their only region and language come with them
    bea = sto(
        "meetings", "register", "TB-2027-01", "--name", "Bea", "--email", "bea@school.example"
    )
    assert bea.code == 0, bea.err
    waiting = sto("meetings", "register", "TB-2027-01", "--name", "Cees", "--email",
                  "cees@school.example")  # fmt: skip
    assert "cees@school.example staat op de wachtlijst van TB-2027-01, op plaats 1." in waiting.out
    again = sto("meetings", "register", "TB-2027-01", "--name", "Cees", "--email",
                "cees@school.example")  # fmt: skip
    assert again.code == 1 and "al op de wachtlijst" in again.err
    bad = sto("meetings", "register", "TB-2027-01", "--name", "X", "--email", "x@y.example",
              "--region", "ATLANTIS")  # fmt: skip
    assert bad.code == 1 and "ATLANTIS" in bad.err
    people = sto("meetings", "show", "TB-2027-01", "--json").json()["registrations"]
    assert [(p["email"], p["region"], p["channel"]) for p in people] == [
        ("anna@school.example", "ZEELAND", "cli"),
        ("bea@school.example", "TWENTE", "cli"),
        ("cees@school.example", "", "cli"),
    ]
    assert [m.language for m in mails(engine, "meeting_registered")] == ["nl", "en"]
    gone = sto("meetings", "unregister", "TB-2027-01", "--email", "ANNA@school.example")
    assert gone.code == 0, gone.err
    assert "anna@school.example is afgemeld voor TB-2027-01" in gone.out
    assert "Van de wachtlijst heeft Cees een plaats gekregen." in gone.out
    assert [m.recipient for m in mails(engine, "meeting_unregistered")] == ["anna@school.example"]
    twice = sto("meetings", "unregister", "TB-2027-01", "--email", "anna@school.example")
    assert twice.code == 1 and "Er is geen aanmelding van anna@school.example" in twice.err


@pytest.mark.usefixtures("regions")
def test_counts_per_region(sto: Sto, engine: Engine) -> None:
    one = new_meeting(engine, capacity=4)
    two = new_meeting(engine, capacity=1)
    cancelled = new_meeting(engine, capacity=5)
    for n, region in ((1, "ZEELAND"), (2, "ZEELAND"), (3, "TWENTE"), (4, None)):
        reg(engine, one, n, region=region)
    reg(engine, two, 1, region="ZEELAND")
    reg(engine, two, 5, region="TWENTE")  # waitlisted
    reg(engine, cancelled, 6, region="UTRECHT")
    with transaction(engine) as session:
        mt.mark_attended(session, one, "p1@school.example", by=TEAM, now=NOW)
        mt.cancel_meeting(session, cancelled, by=TEAM, now=NOW)
    overview = sto("meetings", "regions", "--json").json()
    assert overview == [
        {"region": "TWENTE", "name": "Twente", "meetings": 1, "registrations": 1,
         "waitlisted": 1, "attended": 0},
        {"region": "UTRECHT", "name": "Utrecht", "meetings": 0, "registrations": 0,
         "waitlisted": 0, "attended": 0},
        {"region": "ZEELAND", "name": "Zeeland", "meetings": 2, "registrations": 3,
         "waitlisted": 0, "attended": 1},
        {"region": "", "name": "", "meetings": 1, "registrations": 1,
         "waitlisted": 0, "attended": 0},
    ]  # fmt: skip
    assert sto("meetings", "regions", "--period", "2026", "--json").json()[2]["meetings"] == 0
    assert sto("meetings", "regions", "--period", "2027", "--json").json() == overview
    rows = list(csv.DictReader(io.StringIO(sto("meetings", "regions", "--csv").out)))
    assert rows[2] == {"region": "ZEELAND", "name": "Zeeland", "meetings": "2",
                       "registrations": "3", "waitlisted": "0", "attended": "1"}  # fmt: skip
    table = sto("meetings", "regions").out
    assert "ZEELAND" in table and "(geen regio)" in table
    unknown = sto("meetings", "regions", "--period", "1999")
    assert unknown.code == 1 and "1999" in unknown.err
    shown = sto("meetings", "show", one)
    assert "Bijeenkomsten" in shown.out and "(geen regio)" in shown.out
    per_region = sto("meetings", "show", one, "--json").json()["regions"]
    assert [(r["region"], r["registrations"], r["attended"]) for r in per_region] == [
        ("TWENTE", 1, 0),
        ("ZEELAND", 2, 1),
        ("", 1, 0),
    ]
