"""App Home follows the data wherever it changes: the CLI (another process), meetings,
visits; one refresh per person for a burst; nothing waits for ever without Slack."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import homes, ledger
from models import meetings as mt
from models import requests as rq
from models import visits as vs
from models.db import transaction
from models.periods import get_period
from models.tables import Allowance, Notification, Region
from models.types import AllowanceKind
from scheduling.jobs import PeriodicJobs
from scheduling.rules import JOBS
from tests.cli_helpers import Sto, run_until
from tests.conftest import NOW, TEAM, RegionFactory
from tests.slack_harness import (
    COORDINATOR,
    CRITICAL_FRIEND,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    populate,
)
from tests.visit_helpers import proposed_visit

ZEELAND_HOMES = {ZEELAND_CONTACT, CRITICAL_FRIEND, COORDINATOR}


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


def waiting(engine: Engine) -> list[Notification]:
    """The App Home refreshes not yet delivered."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(
                    Notification.channel == "home",
                    col(Notification.status).in_(["pending", "sending"]),
                )
                .order_by(col(Notification.id))
            ).all()
        )


def published(slack: SlackHarness) -> list[str]:
    """Whose App Home was published, in order."""
    return [str(c.args["user_id"]) for c in slack.api.calls_to("views.publish")]


def home_of(slack: SlackHarness, user: str) -> str:
    return json.dumps(slack.api.home_views[user]["blocks"], ensure_ascii=False)


def test_a_cli_adjustment_refreshes_the_region_and_the_team(
    slack: SlackHarness, sto: Sto, engine: Engine
) -> None:
    assert waiting(engine) == []
    result = sto("quota", "adjust", "ZEELAND", "1", "--reason", "extra dag")
    assert result.code == 0, result.err
    assert sorted(n.recipient for n in waiting(engine)) == sorted(ZEELAND_HOMES)

    assert slack.dispatch(homes=True) == 3
    assert sorted(published(slack)) == sorted(ZEELAND_HOMES)  # not Twente's contact
    assert "5,5 dag beschikbaar" in home_of(slack, ZEELAND_CONTACT)
    assert "5,5 dag beschikbaar" in home_of(slack, CRITICAL_FRIEND)
    assert "5,5 dag beschikbaar" in home_of(slack, COORDINATOR)
    assert waiting(engine) == []

    assert sto("quota", "adjust", "TWENTE", "-1", "--reason", "correctie").code == 0
    slack.dispatch(homes=True)
    assert sorted(published(slack)[3:]) == sorted([TWENTE_CONTACT, COORDINATOR])
    assert "4 dagen beschikbaar" in home_of(slack, TWENTE_CONTACT)
    team = home_of(slack, COORDINATOR)
    assert team.index("Twente") < team.index("Zeeland")  # lowest available first, still


def test_a_burst_for_one_region_is_one_publish_per_person(
    slack: SlackHarness, sto: Sto, engine: Engine
) -> None:
    for n in range(12):  # twelve transactions, as twelve commands one after the other
        assert sto("quota", "adjust", "ZEELAND", "0,5", "--reason", f"stap {n}").code == 0
    assert len(waiting(engine)) == 3  # one waiting row per person, however many changes

    slack.dispatch(homes=True)
    assert sorted(published(slack)) == sorted(ZEELAND_HOMES)
    assert "10,5 dag beschikbaar" in home_of(slack, COORDINATOR)


def test_many_regions_in_one_transaction_refresh_the_team_once(
    slack: SlackHarness, engine: Engine
) -> None:
    with transaction(engine) as session:
        period = get_period(session, "2026")
        for allowance in session.exec(
            select(Allowance).where(
                Allowance.period_id == period.id,
                Allowance.kind == AllowanceKind.support_days.value,
            )
        ).all():
            assert allowance.id is not None
            for _ in range(5):
                ledger.adjust(session, allowance.id, 1, TEAM, NOW, reason="burst")
    assert sorted(n.recipient for n in waiting(engine)) == sorted([*ZEELAND_HOMES, TWENTE_CONTACT])
    slack.dispatch(homes=True)
    assert sorted(published(slack)) == sorted([*ZEELAND_HOMES, TWENTE_CONTACT])


def test_rows_that_wait_together_are_published_once(slack: SlackHarness, engine: Engine) -> None:
    """Rows added beside a locked one (or by separate runs) are covered by one publish."""
    with transaction(engine) as session:
        for key in ("a", "b", "c"):
            session.add(
                Notification(
                    dedupe_key=f"home:{COORDINATOR}:{key}",
                    template=homes.TEMPLATE,
                    channel="home",
                    recipient=COORDINATOR,
                    due_at=NOW,
                    created_at=NOW,
                )
            )
    assert slack.dispatch(homes=True) == 3  # claimed together: the first publish covers both
    assert published(slack) == [COORDINATOR]
    with Session(engine) as session:
        statuses = sorted(
            n.status
            for n in session.exec(select(Notification).where(Notification.channel == "home"))
        )
    assert statuses == ["cancelled", "cancelled", "sent"]


def test_a_new_meeting_refreshes_the_team_only(slack: SlackHarness, sto: Sto) -> None:
    created = sto(
        "meetings", "create", "--title", "Techniek in de regio", "--start", "2027-03-02 10:00",
        "--end", "2027-03-02 13:00", "--deadline", "2027-02-23", "--capacity", "20",
        "--location", "Utrecht",
    )  # fmt: skip
    assert created.code == 0, created.err
    slack.dispatch(homes=True)
    assert published(slack) == [COORDINATOR]
    team = home_of(slack, COORDINATOR)
    assert "TB-2027-01" in team and "0/20 aangemeld" in team

    with transaction(slack.engine) as session:
        mt.register(
            session, "TB-2027-01", name="Zeger Zeeuw", email="zee@school.example",
            region_code="ZEELAND", contact_id=None, channel="email", by=TEAM, now=NOW,
        )  # fmt: skip
    slack.dispatch(homes=True)
    assert published(slack) == [COORDINATOR, COORDINATOR]
    assert "1/20 aangemeld" in home_of(slack, COORDINATOR)

    with transaction(slack.engine) as session:
        mt.cancel_meeting(session, "TB-2027-01", by=TEAM, now=NOW)
    slack.dispatch(homes=True)
    assert published(slack) == [COORDINATOR] * 3
    assert "TB-2027-01" not in home_of(slack, COORDINATOR)


def test_a_chosen_visit_refreshes_the_homes_of_its_region(
    slack: SlackHarness, engine: Engine
) -> None:
    with Session(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.id is not None and zeeland.critical_friend_id is not None
        region_id, friend_id = zeeland.id, zeeland.critical_friend_id
    wednesday = date(2026, 12, 2)  # NOW is Monday 30 November 2026
    _, proposal = proposed_visit(engine, region_id, friend_id, (wednesday,))
    slack.dispatch(homes=True)  # the proposal itself shows in no home
    assert published(slack) == []

    with transaction(engine) as session:
        visit = vs.choose_slot(session, proposal, 1, TEAM, NOW)
    slack.dispatch(homes=True)
    assert sorted(published(slack)) == sorted(ZEELAND_HOMES)
    line = "woensdag 2 december 2026: bezoek 1 van de critical friend · Zeeland · Carla Vriend"
    assert line in home_of(slack, COORDINATOR)  # the team's week
    contact = home_of(slack, ZEELAND_CONTACT)  # and the region's upcoming visits
    assert "Bezoeken van de critical friend* (1)" in contact and line in contact
    assert line in home_of(slack, CRITICAL_FRIEND)

    assert visit.id is not None
    with transaction(engine) as session:
        vs.cancel_visit(session, visit.id, TEAM, NOW, reason="ziek")
    slack.dispatch(homes=True)
    assert sorted(published(slack)[3:]) == sorted(ZEELAND_HOMES)
    contact = home_of(slack, ZEELAND_CONTACT)
    assert "Bezoeken van de critical friend*: nog niets gepland" in contact
    assert "bezoek 1" not in home_of(slack, COORDINATOR)


def test_a_request_change_refreshes_each_home_once(slack: SlackHarness) -> None:
    """The request's announcement and its ledger entry ask in one transaction: one row each."""
    with transaction(slack.engine) as session:
        rq.submit(
            session,
            rq.NewRequest(region="ZEELAND", kind="process", half_days=2, requester_contact_id=None),
            TEAM,
            NOW,
        )
    assert slack.dispatch(homes=True) == 1 + 3  # the team's card, three homes
    assert sorted(published(slack)) == sorted(ZEELAND_HOMES)


def test_a_savepoint_rolled_back_does_not_swallow_a_later_refresh(
    slack: SlackHarness, engine: Engine
) -> None:
    with transaction(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.id is not None
        try:
            with session.begin_nested():
                homes.region_changed(session, zeeland.id, NOW)
                raise RuntimeError("the first command of a mail fails")
        except RuntimeError:
            pass
        homes.region_changed(session, zeeland.id, NOW)  # the second one succeeds
    assert sorted(n.recipient for n in waiting(engine)) == sorted(ZEELAND_HOMES)


def test_without_slack_the_rows_stay_bounded(sto: Sto, engine: Engine, slack: SlackHarness) -> None:
    """Without `sto run`, many changes leave one row per person (the Slack app here only
    provides the people; nothing is dispatched)."""
    for n in range(5):
        assert sto("quota", "adjust", "ZEELAND", "1", "--reason", f"r{n}").code == 0
        assert sto("quota", "adjust", "TWENTE", "1", "--reason", f"r{n}").code == 0
    assert len(waiting(engine)) == 4
    assert slack.api.calls_to("views.publish") == []


def test_a_home_refresh_never_falls_back_to_mail(slack: SlackHarness, engine: Engine) -> None:
    """A user Slack does not know: the refresh fails for good, and no mail is written."""
    slack.api.fail("views.publish", "user_not_found", times=3)
    with transaction(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.id is not None
        homes.region_changed(session, zeeland.id, NOW)
    slack.dispatch(homes=True)
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
    assert {n.channel for n in rows} == {"home"}
    assert {n.status for n in rows} == {"failed"}


def test_sto_run_without_slack_settles_the_refreshes(
    engine: Engine,
    make_region: RegionFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sto run` without SLACK_BOT_TOKEN: the refreshes are cancelled as not applicable,
    none waits for ever and none becomes a mail."""
    populate(engine, make_region)
    now = datetime.now(UTC) - timedelta(minutes=1)  # `sto run` keeps the real time
    cli = Sto(engine, capsys, monkeypatch, now)
    assert cli("quota", "adjust", "ZEELAND", "1", "--reason", "extra").code == 0
    made = {n.id for n in waiting(engine)}
    assert len(made) == 3

    # Only these rows: the real day's periodic jobs (the early refresh of every home)
    # may add rows of their own meanwhile.
    run_until(engine, tmp_path, lambda: not made & {n.id for n in waiting(engine)})
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
    assert not [n for n in rows if n.dedupe_key.startswith("home:") and n.channel != "home"]
    assert not [n for n in rows if n.template == homes.TEMPLATE and n.channel != "home"]
    ours = [n for n in rows if n.id in made]
    assert {n.status for n in ours} == {"cancelled"}
    assert {n.last_error for n in ours} == {"not applicable: slack off"}


def test_a_change_committed_during_delivery_is_not_lost(
    slack: SlackHarness, sto: Sto, engine: Engine
) -> None:
    """A change joins a waiting row only while it holds that row: the dispatcher cannot
    publish the home from before the change and settle the row the change counted on."""
    assert sto("quota", "adjust", "ZEELAND", "1", "--reason", "eerst").code == 0  # rows wait
    changed, go = threading.Event(), threading.Event()

    def change() -> None:
        with transaction(engine) as session:
            zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
            allowance = ledger.find_allowance(
                session, zeeland, get_period(session, "2026"), AllowanceKind.support_days
            )
            assert allowance.id is not None
            ledger.adjust(session, allowance.id, 2, TEAM, NOW, reason="tijdens het bezorgen")
            changed.set()
            assert go.wait(30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        writer = pool.submit(change)
        assert changed.wait(30)
        # On PostgreSQL the dispatcher skips the rows this change holds; on SQLite it
        # waits for the write lock. Either way nothing is published from before it.
        delivering = pool.submit(slack.dispatch, homes=True)
        time.sleep(0.5)
        before = list(published(slack))
        go.set()
        writer.result(timeout=30)
        delivering.result(timeout=30)
    assert before == []
    slack.dispatch(homes=True)
    assert sorted(published(slack)) == sorted(ZEELAND_HOMES)  # once each, after the change
    assert "6,5 dag beschikbaar" in home_of(slack, COORDINATOR)  # 4,5 + 1 + 1 (2 half days)


# --- the calendar moves on: the early refresh of every home --------------------------------


def tick(slack: SlackHarness, at: datetime) -> list[tuple[str, int]]:
    """The periodic jobs at `at` (time travel), on the Slack app's clock."""
    slack.clock.set(at)
    jobs = PeriodicJobs(slack.engine, slack.clock, JOBS, timezone="Europe/Amsterdam", holder="t")
    return [(r.job, r.written) for r in jobs.tick() if r.job == "home_refresh"]


EVERYONE = sorted([ZEELAND_CONTACT, TWENTE_CONTACT, CRITICAL_FRIEND, COORDINATOR])


def test_every_home_is_refreshed_early_each_working_day(
    slack: SlackHarness, engine: Engine
) -> None:
    """The team's "this week" turns with the week and a contact's upcoming visits drop a
    day that passed, though no data changed: a job at 06:00 (STO_TIMEZONE) on working
    days publishes every home again, once per day."""
    with Session(engine) as session:
        zeeland = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        assert zeeland.id is not None and zeeland.critical_friend_id is not None
        region_id, friend_id = zeeland.id, zeeland.critical_friend_id
    wednesday = date(2026, 12, 9)  # next week: NOW is Monday 30 November 2026
    _, proposal = proposed_visit(engine, region_id, friend_id, (wednesday,))
    with transaction(engine) as session:
        vs.choose_slot(session, proposal, 1, TEAM, NOW)
    slack.dispatch(homes=True)
    line = "woensdag 9 december 2026: bezoek 1 van de critical friend · Zeeland · Carla Vriend"
    assert line not in home_of(slack, COORDINATOR)  # not this week
    assert line in home_of(slack, ZEELAND_CONTACT)  # upcoming
    before = len(published(slack))

    # Monday 7 December, 05:59 in Amsterdam (04:59 UTC): not yet.
    assert tick(slack, datetime(2026, 12, 7, 4, 59, tzinfo=UTC)) == []
    # 06:00: every Slack user's home, the next week's visit now in the team's week.
    assert tick(slack, datetime(2026, 12, 7, 5, 0, tzinfo=UTC)) == [("home_refresh", 4)]
    assert sorted(n.recipient for n in waiting(engine)) == EVERYONE
    assert tick(slack, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)) == []  # once a day
    slack.dispatch(homes=True)
    assert sorted(published(slack)[before:]) == EVERYONE
    assert line in home_of(slack, COORDINATOR)
    assert "7 december 2026" in home_of(slack, COORDINATOR)

    # Thursday 10 December: the visit's day has passed, the contact's home drops it.
    before = len(published(slack))
    assert tick(slack, datetime(2026, 12, 10, 5, 0, tzinfo=UTC)) == [("home_refresh", 4)]
    slack.dispatch(homes=True)
    assert sorted(published(slack)[before:]) == EVERYONE
    assert line not in home_of(slack, ZEELAND_CONTACT)
    assert "Bezoeken van de critical friend*: nog niets gepland" in home_of(slack, ZEELAND_CONTACT)

    # No working day, no refresh: Saturday, and Christmas Day.
    assert tick(slack, datetime(2026, 12, 12, 5, 0, tzinfo=UTC)) == []
    assert tick(slack, datetime(2026, 12, 25, 5, 0, tzinfo=UTC)) == []


def test_the_early_refresh_follows_summer_time_and_joins_a_waiting_row(
    slack: SlackHarness, sto: Sto, engine: Engine
) -> None:
    """06:00 in Amsterdam is 04:00 UTC in summer; a person whose refresh already waits
    gets no second row."""
    assert tick(slack, datetime(2027, 6, 1, 3, 59, tzinfo=UTC)) == []
    sto.clock.set(datetime(2027, 6, 1, 3, 59, 30, tzinfo=UTC))
    assert sto("quota", "adjust", "TWENTE", "1", "--reason", "extra").code == 0
    assert sorted(n.recipient for n in waiting(engine)) == sorted([TWENTE_CONTACT, COORDINATOR])
    assert tick(slack, datetime(2027, 6, 1, 4, 0, tzinfo=UTC)) == [("home_refresh", 4)]
    assert sorted(n.recipient for n in waiting(engine)) == EVERYONE  # one row each


# --- imports change who sees what --------------------------------------------------------

REGIONS_HEADER = (
    "code,name,province,timezone,holiday_zone,support_days,cf_visits,critical_friend,source_url"
)
CONTACTS_HEADER = "email,name,regions,slack_user_id,language"
SUPPORTERS_HEADER = (
    "email,name,role,themes,working_days,max_visits_per_day,max_visits_per_week,"
    "max_days_per_month,slack_user_id,language"
)


def imported(sto: Sto, tmp_path: Path, what: str, *lines: str, dry_run: bool = False) -> None:
    path = tmp_path / f"{what}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = sto("import", what, str(path), *(["--dry-run"] if dry_run else []))
    assert result.code == 0, result.err


def test_a_contacts_import_refreshes_the_homes_of_the_contacts_it_changes(
    slack: SlackHarness, sto: Sto, engine: Engine, tmp_path: Path
) -> None:
    """A contact who now also works for TWENTE, a new contact, a Slack id that moves: their
    homes (the old id's too, which now belongs to nobody) and nobody else's."""
    contacts = (
        CONTACTS_HEADER,
        "zee@school.example,Zeger Zeeuw,ZEELAND;TWENTE,UZEE,nl",
        "twe@school.example,Tineke Twent,TWENTE,UTWE2,nl",
        "nieuw@school.example,Nina Nieuw,TWENTE,UNEW,en",
    )
    imported(sto, tmp_path, "contacts", *contacts, dry_run=True)
    assert waiting(engine) == []  # a dry run changes nothing, not even a home
    imported(sto, tmp_path, "contacts", *contacts)
    assert sorted(n.recipient for n in waiting(engine)) == [
        "UNEW",
        TWENTE_CONTACT,
        "UTWE2",
        ZEELAND_CONTACT,
    ]

    slack.dispatch(homes=True)
    assert sorted(published(slack)) == ["UNEW", TWENTE_CONTACT, "UTWE2", ZEELAND_CONTACT]
    assert "Uw regio's*: TWENTE, ZEELAND" in home_of(slack, ZEELAND_CONTACT)
    assert "*Your region*: TWENTE" in home_of(slack, "UNEW")
    assert "Uw regio*: TWENTE" in home_of(slack, "UTWE2")
    assert "niet bekend bij de STO-assistent" in home_of(slack, TWENTE_CONTACT)

    imported(sto, tmp_path, "contacts", *contacts)  # the same file again changes nothing
    assert waiting(engine) == []


def test_a_regions_import_refreshes_the_old_and_the_new_critical_friend(
    slack: SlackHarness, sto: Sto, engine: Engine, tmp_path: Path
) -> None:
    imported(
        sto, tmp_path, "regions", REGIONS_HEADER,
        "ZEELAND,Zeeland,,Europe/Amsterdam,zuid,4.5,4,,",
        "TWENTE,Twente,,Europe/Amsterdam,zuid,5,4,cf@sto.example,",
    )  # fmt: skip
    # Everyone who saw ZEELAND (its friend is no longer Carla) or sees TWENTE now.
    assert sorted(n.recipient for n in waiting(engine)) == sorted(
        [ZEELAND_CONTACT, TWENTE_CONTACT, CRITICAL_FRIEND, COORDINATOR]
    )
    slack.dispatch(homes=True)
    friend = home_of(slack, CRITICAL_FRIEND)
    assert "Uw regio*: TWENTE" in friend and "Zeeland" not in friend


def test_a_supporters_import_refreshes_their_own_the_teams_and_their_regions_homes(
    slack: SlackHarness, sto: Sto, engine: Engine, tmp_path: Path
) -> None:
    """Carla (ZEELAND's critical friend) gets a new Slack id: her old and new home, the
    team's (its week names her) and ZEELAND's contact (her visits)."""
    imported(
        sto, tmp_path, "supporters", SUPPORTERS_HEADER,
        "cf@sto.example,Carla Vriend,critical_friend,,ma;di;wo;do;vr,2,5,10,UCF2,nl",
    )  # fmt: skip
    assert sorted(n.recipient for n in waiting(engine)) == sorted(
        [ZEELAND_CONTACT, CRITICAL_FRIEND, "UCF2", COORDINATOR]
    )
    slack.dispatch(homes=True)
    assert "Uw regio*: ZEELAND" in home_of(slack, "UCF2")
    assert "niet bekend bij de STO-assistent" in home_of(slack, CRITICAL_FRIEND)
