"""`sto meetings`: the team's command line for theme meetings (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine

from models import meetings as mt
from models.db import transaction
from models.types import Channel
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM, RegionFactory


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


CREATE = (
    "meetings",
    "create",
    "--title",
    "Techniek in de regio",
    "--start",
    "2027-03-02 10:00",
    "--end",
    "2027-03-02 13:00",
    "--deadline",
    "2027-02-23",
    "--capacity",
    "2",
    "--location",
    "Utrecht",
)


def register(engine: Engine, code: str, n: int, region: str | None = None) -> None:
    with transaction(engine) as session:
        mt.register(
            session,
            code,
            name=f"Persoon {n}",
            email=f"p{n}@school.example",
            region_code=region,
            contact_id=None,
            channel=Channel.email.value,
            by=TEAM,
            now=NOW,
        )


def test_create_list_show_in_dutch(sto: Sto, engine: Engine) -> None:
    result = sto(*CREATE)
    assert result.code == 0, result.err
    assert "TB-2027-01" in result.out
    assert "dinsdag 2 maart 2027 om 10:00" in result.out
    register(engine, "TB-2027-01", 1)
    listed = sto("meetings", "list", "--json").json()
    assert listed[0]["code"] == "TB-2027-01"
    assert listed[0]["seats_left"] == 1
    assert listed[0]["starts_at"] == "2027-03-02T09:00:00+00:00"  # stored in UTC
    assert listed[0]["registration_deadline"] == "2027-02-23T22:59:00+00:00"
    table = sto("meetings", "list")
    assert "Techniek in de regio" in table.out and "1 bijeenkomst." in table.out
    shown = sto("meetings", "show", "tb-2027-01")
    assert shown.code == 0, shown.err
    assert "Aanmelden tot:   dinsdag 23 februari 2027 om 23:59" in shown.out
    assert "p1@school.example" in shown.out


def test_edit_and_cancel(sto: Sto, engine: Engine) -> None:
    sto(*CREATE)
    for n in (1, 2):
        register(engine, "TB-2027-01", n)
    refused = sto("meetings", "edit", "TB-2027-01", "--capacity", "1")
    assert refused.code == 1
    assert "heeft al 2 aanmeldingen" in refused.err
    changed = sto("meetings", "edit", "TB-2027-01", "--location", "Zwolle")
    assert changed.code == 0, changed.err
    assert "versie 1" in changed.out
    assert sto("meetings", "cancel", "TB-2027-01").code == 0
    assert sto("meetings", "list", "--json").json() == []
    again = sto("meetings", "edit", "TB-2027-01", "--location", "Gouda")
    assert again.code == 1 and "geannuleerd" in again.err


def test_bad_input_says_what_is_wrong(sto: Sto) -> None:
    bad_date = sto(*CREATE[:5], "morgen", *CREATE[6:])
    assert bad_date.code == 2 and '"morgen" is geen datum en tijd' in bad_date.err
    reversed_ = sto(*CREATE[:7], "2027-03-02 09:00", *CREATE[8:])
    assert reversed_.code == 1 and "Het einde moet na het begin liggen." in reversed_.err
    unknown = sto("meetings", "show", "TB-1999-01")
    assert unknown.code == 1 and 'geen bijeenkomst met de code "TB-1999-01"' in unknown.err


def test_attendees_csv_and_attend(sto: Sto, engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    sto(*CREATE)
    register(engine, "TB-2027-01", 1, "ZEELAND")
    register(engine, "TB-2027-01", 2)
    register(engine, "TB-2027-01", 3)  # waitlisted: not an attendee
    marked = sto("meetings", "attend", "TB-2027-01", "P1@school.example")
    assert marked.code == 0, marked.err
    assert "aanwezig" in marked.out
    out = sto("meetings", "attendees", "TB-2027-01", "--csv").out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["email"], r["region"], r["attended"]) for r in rows] == [
        ("p1@school.example", "ZEELAND", "True"),
        ("p2@school.example", "", ""),
    ]
    waiting = sto("meetings", "attend", "TB-2027-01", "p3@school.example")
    assert waiting.code == 1 and "geen aanmelding" in waiting.err


def test_english(sto: Sto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STO_LANGUAGE", "en")
    result = sto(*CREATE)
    assert result.code == 0, result.err
    assert "Tuesday 2 March 2027 at 10:00" in result.out
