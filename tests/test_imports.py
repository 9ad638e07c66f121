"""`sto import regions|contacts|supporters`: validate everything, then write all or nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from bot.render import Renderer
from models import ledger
from models.csvimport import PROBLEMS, ImportReport
from models.db import transaction
from models.imports import import_contacts, import_regions, import_supporters
from models.tables import (
    Allowance,
    AuditEntry,
    Contact,
    LedgerEntry,
    Period,
    Region,
    RegionContact,
    Supporter,
)
from models.types import THEMES, AllowanceKind
from tests.conftest import NOW, TEAM, ensure_periods

ROOT = Path(__file__).resolve().parent.parent

SUPPORTERS_HEADER = (
    "email,name,role,themes,working_days,max_visits_per_day,max_visits_per_week,"
    "max_days_per_month,slack_user_id,language"
)
SUPPORTERS = f"""{SUPPORTERS_HEADER}
cf@sto.example,Carla Friend,critical_friend,regionale-plannen,ma;di;wo;do;vr,2,5,10,UCARLA1,nl
spec@sto.example,Sam Specialist,specialist,inclusie;duurzaamheid,ma;di,1,3,6,,en
"""
REGIONS_HEADER = (
    "code,name,province,timezone,holiday_zone,support_days,cf_visits,critical_friend,source_url"
)
REGIONS = (
    f"{REGIONS_HEADER}\n"
    "ZEELAND,Zeeland,Zeeland,Europe/Amsterdam,zuid,5,4,cf@sto.example,https://example.org/zeeland\n"
    'BES,Caribisch Nederland,"Caribisch Nederland (Bonaire, Sint Eustatius, Saba)",'
    "America/Kralendijk,,4.5,2,,\n"
)
CONTACTS_HEADER = "email,name,regions,slack_user_id,language"


def rows(session: Session, model: type[SQLModel]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def setup_reference(engine: Engine) -> None:
    """Periods 2026 and 2027, two supporters and two regions."""
    with transaction(engine) as session:
        ensure_periods(session)
        assert import_supporters(session, SUPPORTERS, TEAM, NOW).ok
        assert import_regions(session, REGIONS, TEAM, NOW).ok


def granted(session: Session, code: str, period: str, kind: AllowanceKind) -> int:
    region = session.exec(select(Region).where(Region.code == code)).one()
    period_row = session.exec(select(Period).where(Period.code == period)).one()
    allowance = ledger.find_allowance(session, region, period_row, kind)
    return ledger.balance_of(session, allowance).granted


def triples(report: ImportReport) -> list[tuple[int, str, str, str]]:
    return [(p.line, p.column, p.problem, p.value) for p in report.problems]


# --- regions ----------------------------------------------------------------


def test_regions_import_creates_and_grants_open_periods(engine: Engine) -> None:
    setup_reference(engine)
    with transaction(engine) as session:
        bes = session.exec(select(Region).where(Region.code == "BES")).one()
        assert bes.timezone == "America/Kralendijk"
        assert bes.holiday_zone is None
        assert bes.critical_friend_id is None
        assert bes.province == "Caribisch Nederland (Bonaire, Sint Eustatius, Saba)"
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        cf = session.exec(select(Supporter).where(Supporter.email == "cf@sto.example")).one()
        assert zeeland.critical_friend_id == cf.id
        for period in ("2026", "2027"):
            assert granted(session, "ZEELAND", period, AllowanceKind.support_days) == 10
            assert granted(session, "ZEELAND", period, AllowanceKind.cf_visits) == 4
            assert granted(session, "BES", period, AllowanceKind.support_days) == 9
            assert granted(session, "BES", period, AllowanceKind.cf_visits) == 2


def test_bad_lines_are_all_reported_and_nothing_is_written(engine: Engine) -> None:
    with transaction(engine) as session:
        ensure_periods(session)
        assert import_supporters(session, SUPPORTERS, TEAM, NOW).ok
    text = (
        f"{REGIONS_HEADER}\n"  # 1
        "ZEELAND,Zeeland,,Europe/Amsterdam,zuid,5,4,cf@sto.example,\n"  # 2
        "OOST,Oost,,Europe/Amsterdam,oost,5,4,cf@sto.example,\n"  # 3
        '"MULTI","Multi\nline",,Europe/Amsterdam,noord,5,4,,\n'  # 4-5, valid
        "HALF,Half,,Europe/Amsterdam,midden,4.3,4,cf@sto.example,\n"  # 6
        "TZ,Tz,,Mars/Olympus,noord,5,1.5,spec@sto.example,\n"  # 7
        "\n"  # 8, blank
        "zeeland,Zeeland again,,Europe/Amsterdam,zuid,5,4,,\n"  # 9
        ",No code,,Europe/Amsterdam,zuid,5,4,,\n"  # 10
        "X,Extra,,Europe/Amsterdam,zuid,-1,4,nobody@sto.example,,surplus\n"  # 11
        "A B,Spaced,,Europe/Amsterdam,zuid,5,4,,\n"  # 12
    )
    with transaction(engine) as session:
        audits = rows(session, AuditEntry)
        report = import_regions(session, text, TEAM, NOW)
        assert triples(report) == [
            (3, "holiday_zone", "invalid_zone", "oost"),
            (6, "support_days", "not_half_day", "4.3"),
            (7, "timezone", "invalid_timezone", "Mars/Olympus"),
            (7, "cf_visits", "not_whole", "1.5"),
            (7, "critical_friend", "not_critical_friend", "spec@sto.example"),
            (9, "code", "duplicate", "zeeland"),
            (10, "code", "required", ""),
            (11, "", "too_many_values", "surplus"),
            (11, "support_days", "not_positive", "-1"),
            (11, "critical_friend", "unknown_supporter", "nobody@sto.example"),
            (12, "code", "invalid_code", "A B"),
        ]
        assert report.created == report.updated == report.unchanged == 0
        assert rows(session, Region) == 0
        assert rows(session, Allowance) == 0
        assert rows(session, LedgerEntry) == 0
        assert rows(session, AuditEntry) == audits


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("4,5", None),
        ("abc", "invalid_number"),
        ("NaN", "invalid_number"),
        ("0", "not_positive"),
        ("4.25", "not_half_day"),
        ("1e1000000", "too_large"),
    ],
)
def test_support_days_cells(sqlite_engine: Engine, cell: str, problem: str | None) -> None:
    text = REGIONS.replace(",zuid,5,4,", f',zuid,"{cell}",4,')
    with transaction(sqlite_engine) as session:
        ensure_periods(session)
        import_supporters(session, SUPPORTERS, TEAM, NOW)
        report = import_regions(session, text, TEAM, NOW, dry_run=True)
    expected = [] if problem is None else [(2, "support_days", problem, cell)]
    assert triples(report) == expected


def test_missing_columns_are_reported_on_the_header_line(engine: Engine) -> None:
    text = "code,name,timezone\nZEELAND,Zeeland,Europe/Amsterdam\n"
    with transaction(engine) as session:
        report = import_regions(session, text, TEAM, NOW)
    assert [p.column for p in report.problems] == [
        "province",
        "holiday_zone",
        "support_days",
        "cf_visits",
        "critical_friend",
        "source_url",
    ]
    assert {(p.line, p.problem) for p in report.problems} == {(1, "missing_column")}


def test_an_empty_file_lacks_every_column(engine: Engine) -> None:
    with transaction(engine) as session:
        report = import_contacts(session, "", TEAM, NOW)
    assert {p.column for p in report.problems} == set(CONTACTS_HEADER.split(","))


def test_dry_run_reports_counts_and_writes_nothing(engine: Engine) -> None:
    with transaction(engine) as session:
        ensure_periods(session)
        assert import_supporters(session, SUPPORTERS, TEAM, NOW).ok
    with transaction(engine) as session:
        audits = rows(session, AuditEntry)
        report = import_regions(session, REGIONS, TEAM, NOW, dry_run=True)
        assert report.ok and report.dry_run
        assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
        assert report.created_keys == ["ZEELAND", "BES"]
    with transaction(engine) as session:
        assert rows(session, Region) == 0
        assert rows(session, Allowance) == 0
        assert rows(session, AuditEntry) == audits

    with transaction(engine) as session:
        assert import_regions(session, REGIONS, TEAM, NOW).ok
    changed = REGIONS.replace("ZEELAND,Zeeland,", "ZEELAND,Zeeuws-Vlaanderen,")
    with transaction(engine) as session:
        report = import_regions(session, changed, TEAM, NOW, dry_run=True)
        assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    with transaction(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.name == "Zeeland"


def test_importing_the_same_file_twice_changes_nothing(engine: Engine) -> None:
    setup_reference(engine)
    with transaction(engine) as session:
        audits = rows(session, AuditEntry)
        entries = rows(session, LedgerEntry)
        supporters = import_supporters(session, SUPPORTERS, TEAM, NOW)
        regions = import_regions(session, REGIONS, TEAM, NOW)
    assert (supporters.created, supporters.updated, supporters.unchanged) == (0, 0, 2)
    assert (regions.created, regions.updated, regions.unchanged) == (0, 0, 2)
    with transaction(engine) as session:
        assert rows(session, AuditEntry) == audits  # nothing written, nothing audited
        assert rows(session, LedgerEntry) == entries


def test_keys_match_case_insensitively(engine: Engine) -> None:
    setup_reference(engine)
    shouted = REGIONS.replace("ZEELAND,", "zeeland,").replace("cf@sto", "CF@STO")
    with transaction(engine) as session:
        report = import_regions(session, shouted, TEAM, NOW)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
        loud = SUPPORTERS.replace("cf@sto.example", "  CF@Sto.Example ")
        report = import_supporters(session, loud, TEAM, NOW)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
        assert session.exec(select(Supporter.email).order_by(col(Supporter.email))).all() == [
            "cf@sto.example",
            "spec@sto.example",
        ]


def test_a_changed_row_is_updated_and_its_ledger_is_left_alone(engine: Engine) -> None:
    setup_reference(engine)
    changed = REGIONS.replace(
        "ZEELAND,Zeeland,Zeeland,Europe/Amsterdam,zuid,5,4",
        "ZEELAND,Zeeland en Goeree,Zeeland,Europe/Amsterdam,zuid,6.5,3",
    )
    with transaction(engine) as session:
        report = import_regions(session, changed, TEAM, NOW)
        assert report.updated_keys == ["ZEELAND"]
        assert report.unchanged_keys == ["BES"]
        audit = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
        assert audit is not None and audit.action == "import.regions"
        assert audit.detail["updated"] == 1 and audit.detail["created"] == 0
    with transaction(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.name == "Zeeland en Goeree"
        assert zeeland.yearly_support_half_days == 13
        assert zeeland.yearly_cf_visits == 3
        assert granted(session, "ZEELAND", "2027", AllowanceKind.support_days) == 10


def test_semicolons_and_a_byte_order_mark_are_read(engine: Engine) -> None:
    with transaction(engine) as session:
        ensure_periods(session)
        # Dutch Excel quotes the list cells that contain the delimiter.
        excel = "\ufeff" + "\r\n".join(
            [
                SUPPORTERS_HEADER.replace(",", ";"),
                'cf@sto.example;Carla Friend;critical_friend;regionale-plannen;"ma;di;wo;do;vr";'
                "2;5;10;UCARLA1;nl",
                'spec@sto.example;Sam Specialist;specialist;"inclusie;duurzaamheid";"ma;di";'
                "1;3;6;;en",
            ]
        )
        assert import_supporters(session, excel, TEAM, NOW).created == 2
        regions = "\ufeff" + "\r\n".join(
            [
                REGIONS_HEADER.replace(",", ";"),
                "ZEELAND;Zeeland;Zeeland;Europe/Amsterdam;zuid;4,5;4;cf@sto.example;",
            ]
        )
        report = import_regions(session, regions, TEAM, NOW)
        assert report.ok, report.problems
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.yearly_support_half_days == 9
        spec = session.exec(select(Supporter).where(Supporter.email == "spec@sto.example")).one()
        assert spec.working_days == "ma;di"
        assert spec.themes == "inclusie;duurzaamheid"
        # The same people in a comma file are the same rows: nothing changes.
        assert import_supporters(session, SUPPORTERS, TEAM, NOW).unchanged == 2


def test_empty_trailing_cells_are_ignored(engine: Engine) -> None:
    padded = SUPPORTERS.replace(",nl\n", ",nl,,\n").replace(",en\n", ",en,\n")
    with transaction(engine) as session:
        report = import_supporters(session, padded, TEAM, NOW)
        assert report.ok and report.created == 2


def test_bom_with_comma_delimiter(engine: Engine) -> None:
    with transaction(engine) as session:
        report = import_supporters(session, "\ufeff" + SUPPORTERS, TEAM, NOW)
        assert report.ok and report.created == 2


# --- supporters -----------------------------------------------------------


def test_supporter_problems(engine: Engine) -> None:
    text = (
        f"{SUPPORTERS_HEADER}\n"
        "not-an-email,A,critical_friend,,ma,1,1,1,,nl\n"  # 2
        "b@sto.example,B,boss,,ma;za,1,1,1,,nl\n"  # 3
        "c@sto.example,C,specialist,inclusie;knutselen,ma,-1,x,1,,fr\n"  # 4
        "d@sto.example,D,specialist,,,1,1,1,not slack,nl\n"  # 5
        f"e@sto.example,{'E' * 201},specialist,,ma,1,1,5000,,nl\n"  # 6
    )
    with transaction(engine) as session:
        report = import_supporters(session, text, TEAM, NOW)
        assert triples(report) == [
            (2, "email", "invalid_email", "not-an-email"),
            (3, "role", "invalid_role", "boss"),
            (3, "working_days", "invalid_weekday", "za"),
            (4, "themes", "invalid_theme", "knutselen"),
            (4, "max_visits_per_day", "negative", "-1"),
            (4, "max_visits_per_week", "invalid_number", "x"),
            (4, "language", "invalid_language", "fr"),
            (5, "working_days", "required", ""),
            (5, "slack_user_id", "invalid_slack_id", "not slack"),
            (6, "name", "too_long", "E" * 201),
            (6, "max_days_per_month", "too_large", "5000"),
        ]
        assert rows(session, Supporter) == 0


def test_a_critical_friend_of_a_region_keeps_that_role(engine: Engine) -> None:
    setup_reference(engine)
    demoted = SUPPORTERS.replace("Carla Friend,critical_friend", "Carla Friend,specialist")
    with transaction(engine) as session:
        report = import_supporters(session, demoted, TEAM, NOW)
        assert triples(report) == [(2, "role", "still_critical_friend", "specialist")]


def test_a_slack_id_used_by_someone_outside_the_file_is_refused(engine: Engine) -> None:
    setup_reference(engine)
    newcomer = f"{SUPPORTERS_HEADER}\nnew@sto.example,New,specialist,,ma,1,1,1,UCARLA1,nl\n"
    with transaction(engine) as session:
        report = import_supporters(session, newcomer, TEAM, NOW)
        assert triples(report) == [(2, "slack_user_id", "in_use", "UCARLA1")]
    # Moving the id within one file is fine: it leaves Carla before Sam gets it.
    moved = SUPPORTERS.replace(",UCARLA1,", ",,").replace(
        "ma;di,1,3,6,,en", "ma;di,1,3,6,UCARLA1,en"
    )
    with transaction(engine) as session:
        report = import_supporters(session, moved, TEAM, NOW)
        assert report.ok and report.updated == 2
    with transaction(engine) as session:
        spec = session.exec(select(Supporter).where(Supporter.email == "spec@sto.example")).one()
        assert spec.slack_user_id == "UCARLA1"


# --- contacts -------------------------------------------------------------


def test_a_contact_belongs_to_exactly_the_listed_regions(engine: Engine) -> None:
    setup_reference(engine)
    text = (
        f"{CONTACTS_HEADER}\n"
        "Tamara.Bos@Example.org,Tamara Bos,ZEELAND; bes,,nl\n"
        "jan@example.org,Jan,ZEELAND,U0JAN,nl\n"
    )
    with transaction(engine) as session:
        report = import_contacts(session, text, TEAM, NOW)
        assert report.created_keys == ["tamara.bos@example.org", "jan@example.org"]
    with transaction(engine) as session:
        assert _regions_of(session, "tamara.bos@example.org") == ["BES", "ZEELAND"]
        assert import_contacts(session, text, TEAM, NOW).unchanged == 2

    fewer = text.replace("ZEELAND; bes", "BES")
    with transaction(engine) as session:
        report = import_contacts(session, fewer, TEAM, NOW)
        assert report.updated_keys == ["tamara.bos@example.org"]
    with transaction(engine) as session:
        assert _regions_of(session, "tamara.bos@example.org") == ["BES"]
        assert rows(session, RegionContact) == 2


def _regions_of(session: Session, email: str) -> list[str]:
    query = (
        select(Region.code)
        .join(RegionContact, col(RegionContact.region_id) == col(Region.id))
        .join(Contact, col(Contact.id) == col(RegionContact.contact_id))
        .where(Contact.email == email)
        .order_by(col(Region.code))
    )
    return list(session.exec(query).all())


def test_contact_problems(engine: Engine) -> None:
    setup_reference(engine)
    text = (
        f"{CONTACTS_HEADER}\n"
        "a@example.org,A,ZEELAND;ATLANTIS,,nl\n"  # 2
        "b@example.org,B,,,en\n"  # 3
        "A@example.org,A twice,BES,,nl\n"  # 4
        "c@example.org,C,BES,U0SAME,nl\n"  # 5
        "d@example.org,D,BES,u0same,nl\n"  # 6
    )
    with transaction(engine) as session:
        report = import_contacts(session, text, TEAM, NOW)
        assert triples(report) == [
            (2, "regions", "unknown_region", "ATLANTIS"),
            (3, "regions", "required", ""),
            (4, "email", "duplicate", "A@example.org"),
            (6, "slack_user_id", "duplicate", "u0same"),
        ]
        assert rows(session, Contact) == 0


# --- sentences ------------------------------------------------------------


LANGUAGES = ("nl", "en")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_every_problem_code_has_a_sentence(code: str, language: str) -> None:
    sentence = Renderer().render(
        "imports.problem", language, line=7, column="holiday_zone", problem=code, value="oost"
    )
    assert sentence.startswith("Regel 7" if language == "nl" else "Line 7")
    assert f"({code})" not in sentence  # not the fallback


def test_the_problem_codes_in_the_code_and_in_the_templates_agree() -> None:
    used = set()
    for module in ("models/csvimport.py", "models/imports.py", "models/reference.py"):
        used |= set(re.findall(r"Problem\.(\w+)", (ROOT / module).read_text()))
    assert used <= PROBLEMS
    for language in LANGUAGES:
        template = (ROOT / "templates" / language / "imports.j2").read_text()
        assert set(re.findall(r'problem == "(\w+)"', template)) == PROBLEMS


def test_the_sentences_read_well() -> None:
    render = Renderer().render
    nl = render(
        "imports.problem", "nl", line=7, column="holiday_zone", problem="invalid_zone", value="oost"
    )
    assert nl == (
        "Regel 7, kolom holiday_zone: 'oost' is geen vakantieregio; gebruik noord, midden of zuid"
        " (of laat leeg voor Caribisch Nederland)."
    )
    theme = render(
        "imports.problem", "en", line=2, column="themes", problem="invalid_theme", value="x"
    )
    assert all(slug in theme for slug in THEMES)
    assert render("imports.failed", "nl", count=3) == (
        "Niets geïmporteerd: 3 fouten. Verbeter het bestand en probeer opnieuw."
    )
    assert render("imports.failed", "en", count=1).startswith("Nothing imported: 1 error.")
    assert render("imports.summary", "nl", created=2, updated=1, unchanged=74, dry_run=False) == (
        "Geïmporteerd: 2 nieuw, 1 gewijzigd, 74 ongewijzigd."
    )
    assert "nothing was saved" in render(
        "imports.summary", "en", created=2, updated=1, unchanged=74, dry_run=True
    )
