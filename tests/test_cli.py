"""The `sto` command line, driven as the team types it (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from models import requests as rq
from models.db import transaction
from models.errors import InvalidRequest
from models.tables import LedgerEntry, RequestEvent, SupportRequest
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM, RegionFactory


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_quota_json_contract(sto: Sto, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="4,5")
    make_region("TWENTE", days="5")
    result = sto("quota", "--json")
    assert result.code == 0, result.err
    rows = result.json()
    assert [(r["region"], r["kind"]) for r in rows] == [
        ("TWENTE", "support_days"),
        ("TWENTE", "cf_visits"),
        ("ZEELAND", "support_days"),
        ("ZEELAND", "cf_visits"),
    ]
    zeeland = rows[2]
    assert zeeland == {
        "region": "ZEELAND",
        "name": "Zeeland",
        "period": "2026",
        "kind": "support_days",
        "granted": 4.5,
        "reserved": 0,
        "used": 0,
        "available": 4.5,
    }
    assert isinstance(rows[3]["granted"], int)


def test_quota_table_is_dutch_and_marks_low(sto: Sto, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="1,5")
    result = sto("quota", "ZEELAND")
    assert result.code == 0, result.err
    assert "Beschikbaar" in result.out
    assert "1,5" in result.out and "1.5" not in result.out
    assert "dagen" in result.out and "Saldo 2026" in result.out
    assert "1 met een laag saldo" in result.out


def test_quota_csv_and_period(sto: Sto, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    result = sto("quota", "--csv", "--period", "2027")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0] == "region,name,period,kind,granted,reserved,used,available"
    assert lines[1] == "ZEELAND,Zeeland,2027,support_days,5,0,0,5"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("quota", "NERGENS"), "Regio 'NERGENS' bestaat niet"),
        (("quota", "--period", "1999"), "Periode '1999' bestaat niet. Kies een van: 2026, 2027"),
        (("quota", "--json", "--csv"), "Kies --json of --csv"),
        (("quota", "adjust", "ZEELAND", "0,3", "--reason", "x"), "0,3 dag kan niet"),
        (("quota", "adjust", "ZEELAND", "-9", "--reason", "x"), "Neem hooguit 5 terug"),
        (("quota", "adjust", "ZEELAND", "1", "--reason", " "), "Geef een reden op"),
        (("requests", "submit", "ZEELAND", "-1", "--kind", "process"), "is niet meer dan nul"),
        (("requests", "submit", "ZEELAND", "0,3", "--kind", "process"), "per halve dag"),
        (("requests", "submit", "ZEELAND", "6", "--kind", "process"), "nog 5 dagen beschikbaar"),
        (
            ("requests", "submit", "ZEELAND", "1", "--kind", "koffie"),
            "Soort ondersteuning 'koffie'",
        ),
        (("requests", "submit", "NERGENS", "1", "--kind", "process"), "Regio 'NERGENS'"),
        (("requests", "approve", "STO-2026-9999"), "Aanvraag 'STO-2026-9999' bestaat niet"),
        (("requests", "list", "--status", "klaar"), "Status 'klaar' bestaat niet"),
    ],
)
def test_bad_input_says_what_is_wrong_and_changes_nothing(
    sto: Sto, engine: Engine, make_region: RegionFactory, argv: tuple[str, ...], expected: str
) -> None:
    make_region("ZEELAND", days="5")
    before = _count(engine, LedgerEntry)
    result = sto(*argv)
    assert result.code != 0
    assert expected in result.err
    assert "Traceback" not in result.err
    assert _count(engine, LedgerEntry) == before
    assert _count(engine, SupportRequest) == 0


def test_adjust_grants_and_takes_back(sto: Sto, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    assert sto("quota", "adjust", "zeeland", "1,5", "--reason", "extra").code == 0
    taken = sto("quota", "adjust", "ZEELAND", "-2", "--reason", "correctie")
    assert taken.code == 0, taken.err
    assert "Nu beschikbaar: 4,5 dag" in taken.out
    row = sto("quota", "ZEELAND", "--json").json()[0]
    assert row["granted"] == 4.5 and row["available"] == 4.5


def test_request_lifecycle_from_the_cli(
    sto: Sto, engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    submitted = sto(
        "requests", "submit", "ZEELAND", "1,5", "--kind", "process",
        "--theme", "doorlopende leerlijnen", "--from", "2026-12-07", "--to", "18-12-2026",
    )  # fmt: skip
    assert submitted.code == 0, submitted.err
    assert "STO-2026-0001" in submitted.out and "ingediend" in submitted.out
    assert sto("quota", "ZEELAND", "--json").json()[0]["reserved"] == 1.5

    listed = sto("requests", "list", "--json").json()
    assert listed[0]["ref"] == "STO-2026-0001"
    assert {k: listed[0][k] for k in ("region", "status", "kind", "days", "channel")} == {
        "region": "ZEELAND",
        "status": "submitted",
        "kind": "process",
        "days": 1.5,
        "channel": "cli",
    }
    assert sto("requests", "approve", "sto-2026-0001").code == 0
    again = sto("requests", "approve", "STO-2026-0001")
    assert again.code == 1 and "is goedgekeurd en kan niet meer goedgekeurd worden" in again.err
    scheduled = sto(
        "requests", "schedule", "STO-2026-0001", "--date", "2026-12-08", "--date", "9-12-2026"
    )
    assert scheduled.code == 0, scheduled.err
    done = sto("requests", "complete", "STO-2026-0001", "--used", "1")
    assert done.code == 0, done.err
    row = sto("quota", "ZEELAND", "--json").json()[0]
    assert (row["reserved"], row["used"], row["available"]) == (0, 1, 4)

    shown = sto("requests", "show", "STO-2026-0001", "--json").json()
    assert shown["dates"] == ["2026-12-08", "2026-12-09"]
    assert [h["to"] for h in shown["history"]] == [
        "submitted",
        "approved",
        "scheduled",
        "completed",
    ]
    assert {h["channel"] for h in shown["history"]} == {"cli"}
    text = sto("requests", "show", "STO-2026-0001")
    assert "dinsdag 8 december 2026" in text.out
    assert _count(engine, RequestEvent) == 4


def test_reject_and_cancel_release_days(sto: Sto, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    sto("requests", "submit", "ZEELAND", "2", "--kind", "content")
    sto("requests", "submit", "ZEELAND", "1", "--kind", "strategic")
    assert sto("requests", "reject", "STO-2026-0001").code == 2  # --reason is required
    assert sto("requests", "reject", "STO-2026-0001", "--reason", "past niet").code == 0
    assert sto("requests", "cancel", "STO-2026-0002").code == 0
    row = sto("quota", "ZEELAND", "--json").json()[0]
    assert row["available"] == 5 and row["reserved"] == 0


def test_settings_error_names_the_setting(sto: Sto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STO_SLACK_MODE", "websocket")
    result = sto("quota")
    assert result.code == 2
    assert "STO_SLACK_MODE" in result.err and "'socket' or 'http'" in result.err


def test_complete_refuses_negative_use(
    sto: Sto, engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    sto("requests", "submit", "ZEELAND", "1", "--kind", "content")
    sto("requests", "approve", "STO-2026-0001")
    sto("requests", "schedule", "STO-2026-0001", "--date", "2026-12-08")
    with pytest.raises(InvalidRequest), transaction(engine) as session:
        rq.complete(session, "STO-2026-0001", TEAM, NOW, used_half_days=-1)
    shown = sto("requests", "show", "STO-2026-0001", "--json").json()
    assert (shown["status"], shown["reserved"]) == ("scheduled", 1)
