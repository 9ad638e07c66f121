"""Visits in the domain: choose, decline, cancel, confirm, absences; the ledger and the
reminder rows with their due times (CET/CEST and the BES time zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from models import ledger
from models import visits as vs
from models.db import transaction
from models.errors import InsufficientBalance, InvalidSlot, ProposalClosed, VisitState
from models.periods import get_period
from models.tables import Region, SupporterAbsence, Visit, VisitProposal
from models.types import AllowanceKind
from scheduling import planner
from tests.conftest import NOW, TEAM, RegionFactory
from tests.visit_helpers import CF_SLACK, CONTACT_SLACK, World, proposed_visit, rows, world

D = date
OPTIONS = (D(2027, 3, 30), D(2027, 4, 1), D(2027, 4, 2))  # Tue, Thu, Fri around the DST change


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


def balance(session: Session, region_id: int) -> ledger.Balance:
    region = session.get(Region, region_id)
    assert region is not None
    allowance = ledger.find_allowance(
        session, region, get_period(session, "2027"), AllowanceKind.cf_visits
    )
    return ledger.balance_of(session, allowance)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_choosing_schedules_reserves_and_writes_invitations_and_reminders(
    engine: Engine, w: World
) -> None:
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with transaction(engine) as session:
        visit = vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
        assert visit.status == "scheduled" and visit.day == D(2027, 4, 1)
        assert visit.sequence == 1
    with Session(engine) as session:
        b = balance(session, w.zeeland)
        assert (b.granted, b.reserved, b.used, b.available) == (4, 1, 0, 3)
        proposal = session.get(VisitProposal, proposal_id)
        assert proposal is not None and proposal.status == "chosen" and proposal.chosen == 2
        invites = rows(session, "visit_scheduled")
        assert sorted(r.recipient for r in invites) == [
            "carla@sto.example",
            "zee2@school.example",
            "zee@school.example",
        ]
        assert {r.channel for r in invites} == {"email"}
        assert all(
            r.context["sequence"] == 1 and r.context["dates"] == ["2027-04-01"] for r in invites
        )
        reminders = rows(session, "visit_reminder")
        # Thursday 1 April 2027: 7 days before is 25 March, still CET (UTC+1);
        # 1 day before is 31 March, CEST (UTC+2) since 28 March. Both at 09:00 local.
        due = {(r.recipient, r.context["days_before"]): r.due_at for r in reminders}
        assert due == {
            (CONTACT_SLACK, 7): utc(2027, 3, 25, 8),
            ("zee2@school.example", 7): utc(2027, 3, 25, 8),
            (CF_SLACK, 7): utc(2027, 3, 25, 8),
            (CONTACT_SLACK, 1): utc(2027, 3, 31, 7),
            ("zee2@school.example", 1): utc(2027, 3, 31, 7),
            (CF_SLACK, 1): utc(2027, 3, 31, 7),
        }
        assert {r.channel for r in reminders if r.recipient == CF_SLACK} == {"slack"}
        [question] = rows(session, "visit_confirm_question")
        assert question.recipient == CF_SLACK
        assert question.due_at == utc(2027, 4, 2, 7)  # Friday, the next working day, 09:00 CEST
        about = {(r.subject_type, r.subject_id) for r in rows(session) if r.channel != "home"}
        assert about == {("visit", visit_id)}  # (App Home refreshes are about nothing)


def test_bes_reminders_are_at_nine_in_kralendijk(engine: Engine, w: World) -> None:
    _, proposal_id = proposed_visit(engine, w.bes, w.cf_bes, OPTIONS)
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
    with Session(engine) as session:
        reminders = rows(session, "visit_reminder")
        # America/Kralendijk is UTC-4 all year (no DST): 09:00 there is 13:00 UTC.
        assert {(r.context["days_before"], r.due_at) for r in reminders} == {
            (7, utc(2027, 3, 25, 13)),
            (1, utc(2027, 3, 31, 13)),
        }
        assert {r.recipient for r in reminders} == {"bes@school.example", "bas@sto.example"}
        [question] = rows(session, "visit_confirm_question")
        assert question.due_at == utc(2027, 4, 2, 13)
        assert question.channel == "email"


def test_the_question_after_a_visit_skips_a_public_holiday(engine: Engine, w: World) -> None:
    # Monday 26 April 2027; Tuesday 27 April is King's Day.
    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, (D(2027, 4, 26),))
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 1, TEAM, NOW)
    with Session(engine) as session:
        [question] = rows(session, "visit_confirm_question")
        assert question.due_at == utc(2027, 4, 28, 7)


def test_a_late_choice_writes_no_reminder_in_the_past(engine: Engine, w: World) -> None:
    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    late = utc(2027, 3, 27, 12)  # after the 7-day reminder of 1 April
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, late)
    with Session(engine) as session:
        assert {r.context["days_before"] for r in rows(session, "visit_reminder")} == {1}


def test_wrong_choices_change_nothing(engine: Engine, w: World) -> None:
    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with pytest.raises(InvalidSlot) as bad, transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 4, TEAM, NOW)
    assert bad.value.params["problem"] == "no_such_option"
    with pytest.raises(InvalidSlot) as past, transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 1, TEAM, utc(2027, 3, 30, 12))
    assert past.value.params["problem"] == "past"
    with Session(engine) as session:
        assert balance(session, w.zeeland).reserved == 0
        assert rows(session, "visit_reminder") == []
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 1, TEAM, NOW)
    with pytest.raises(ProposalClosed), transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)


def test_a_full_day_of_the_supporter_is_refused(engine: Engine, w: World) -> None:
    # Carla makes one visit a day: two visits offered the same day, the second is refused.
    day = (D(2027, 3, 30),)
    _, first = proposed_visit(engine, w.zeeland, w.cf, day, number=1)
    _, second = proposed_visit(engine, w.zeeland, w.cf, day, number=2)
    with transaction(engine) as session:
        vs.choose_slot(session, first, 1, TEAM, NOW)
    with pytest.raises(InvalidSlot) as taken, transaction(engine) as session:
        vs.choose_slot(session, second, 1, TEAM, NOW)
    assert taken.value.params["problem"] == "taken"


def test_no_visit_without_balance(engine: Engine, w: World) -> None:
    with transaction(engine) as session:
        allowance = ledger.find_allowance(
            session,
            session.get(Region, w.zeeland),  # type: ignore[arg-type]
            get_period(session, "2027"),
            AllowanceKind.cf_visits,
        )
        assert allowance.id is not None
        ledger.adjust(session, allowance.id, -4, TEAM, NOW, reason="test")
    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with pytest.raises(InsufficientBalance), transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 1, TEAM, NOW)
    with Session(engine) as session:
        visit = session.get(Visit, session.get(VisitProposal, proposal_id).visit_id)  # type: ignore[union-attr]
        assert visit is not None and visit.status == "proposed"
        assert rows(session, "visit_scheduled") == []


def test_decline_proposes_new_days_and_then_none(engine: Engine, w: World) -> None:
    window = (D(2027, 3, 1), D(2027, 4, 30))
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, window=window)
    with transaction(engine) as session:
        new = vs.decline(session, proposal_id, TEAM, NOW, planner.find_slots)
        assert new is not None and new.reason == "declined"
        new_slots = vs.slots_of(new)
        new_id = new.id
    assert len(new_slots) == 3 and not set(new_slots) & set(OPTIONS)
    assert all(window[0] <= d <= window[1] and d.weekday() < 5 for d in new_slots)
    with Session(engine) as session:
        old = session.get(VisitProposal, proposal_id)
        assert old is not None and old.status == "declined"
        sent = rows(session, "visit_proposal")
        assert len(sent) == 4  # two contacts, two proposals
        assert {r.context["proposal_id"] for r in sent} == {proposal_id, new_id}
    with transaction(engine) as session:  # Carla is away for the rest of the year
        session.add(
            SupporterAbsence(supporter_id=w.cf, starts_on=D(2027, 1, 1), ends_on=D(2027, 12, 31))
        )
    with transaction(engine) as session:
        assert new_id is not None
        assert vs.decline(session, new_id, TEAM, NOW, planner.find_slots) is None
    with Session(engine) as session:
        assert len(rows(session, "visit_no_slots")) == 2
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "proposed"


def test_cancel_releases_cancels_reminders_and_withdraws_the_invitation(
    engine: Engine, w: World
) -> None:
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
    with transaction(engine) as session:
        visit = vs.cancel_visit(session, visit_id, TEAM, NOW, reason="ziek")
        assert visit.status == "cancelled" and visit.sequence == 2
    with Session(engine) as session:
        assert balance(session, w.zeeland).available == 4
        assert {r.status for r in rows(session, "visit_reminder")} == {"cancelled"}
        assert {r.status for r in rows(session, "visit_confirm_question")} == {"cancelled"}
        assert {r.status for r in rows(session, "visit_scheduled")} == {"cancelled"}
        withdrawn = rows(session, "visit_cancelled")
        assert len(withdrawn) == 3 and {r.status for r in withdrawn} == {"pending"}
        assert {r.context["sequence"] for r in withdrawn} == {2}
    with pytest.raises(VisitState), transaction(engine) as session:
        vs.cancel_visit(session, visit_id, TEAM, NOW)


def test_cancelling_a_proposed_visit_sends_no_cancellation(engine: Engine, w: World) -> None:
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with transaction(engine) as session:
        vs.cancel_visit(session, visit_id, TEAM, NOW)
    with Session(engine) as session:
        assert rows(session, "visit_cancelled") == []
        proposal = session.get(VisitProposal, proposal_id)
        assert proposal is not None and proposal.status == "expired"
    with pytest.raises(ProposalClosed), transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 1, TEAM, NOW)


@pytest.mark.parametrize("took_place", [True, False])
def test_confirm_consumes_or_releases(engine: Engine, w: World, took_place: bool) -> None:
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
    after = utc(2027, 4, 1, 15)
    with transaction(engine) as session:
        visit = vs.confirm_visit(session, visit_id, TEAM, after, took_place=took_place)
        assert visit.status == ("completed" if took_place else "cancelled")
    with Session(engine) as session:
        b = balance(session, w.zeeland)
        assert (b.reserved, b.used) == ((0, 1) if took_place else (0, 0))
        assert {r.status for r in rows(session, "visit_confirm_question")} == {"cancelled"}
    with pytest.raises(VisitState), transaction(engine) as session:
        vs.confirm_visit(session, visit_id, TEAM, after + timedelta(days=1))


def test_an_absence_moves_the_visits_it_hits(engine: Engine, w: World) -> None:
    window = (D(2027, 3, 1), D(2027, 4, 30))
    hit, p1 = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, number=1, window=window)
    spared, p2 = proposed_visit(
        engine, w.zeeland, w.cf, (D(2027, 6, 1),), number=2, window=(D(2027, 5, 1), D(2027, 6, 30))
    )
    with transaction(engine) as session:
        vs.choose_slot(session, p1, 2, TEAM, NOW)
        vs.choose_slot(session, p2, 1, TEAM, NOW)
    away = (D(2027, 3, 29), D(2027, 4, 9))
    with transaction(engine) as session:
        session.add(SupporterAbsence(supporter_id=w.cf, starts_on=away[0], ends_on=away[1]))
        session.flush()
        moved = planner.reschedule_for_absence(session, w.cf, away[0], away[1], TEAM, NOW)
    assert moved == [hit]
    with Session(engine) as session:
        visit = session.get(Visit, hit)
        other = session.get(Visit, spared)
        assert visit is not None and visit.status == "proposed"
        assert other is not None and other.status == "scheduled"
        assert balance(session, w.zeeland).reserved == 1
        proposal = vs.open_proposal(session, hit)
        assert proposal is not None and proposal.reason == "absence"
        assert all(not away[0] <= d <= away[1] for d in vs.slots_of(proposal))
        pending = [r for r in rows(session, "visit_reminder", "pending") if r.subject_id == hit]
        assert pending == []
        assert len(rows(session, "visit_reminder", "pending")) == 6  # the spared visit's
    with transaction(engine) as session:
        assert proposal.id is not None
        again = vs.choose_slot(session, proposal.id, 1, TEAM, NOW)
        assert again.sequence == 2  # the invitation is updated in place


def test_simultaneous_answers_schedule_once(engine: Engine, w: World) -> None:
    """Eight people press a slot of one proposal at once, and two other proposals offer
    Carla (one visit a day) the same day: one winner each time, one reserved visit each."""
    from tests.test_concurrency import run_together

    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, number=1)
    day = (D(2027, 5, 4),)
    _, second = proposed_visit(engine, w.zeeland, w.cf, day, number=2)
    _, third = proposed_visit(engine, w.zeeland, w.cf, day, number=3)

    def press(index: int) -> int:
        with transaction(engine) as session:
            return vs.choose_slot(session, proposal_id, 1 + index % 3, TEAM, NOW).day.toordinal()

    outcomes = run_together(8, press)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert all(isinstance(o, ProposalClosed) for o in outcomes if not isinstance(o, int))

    def same_day(index: int) -> int:
        with transaction(engine) as session:
            return vs.choose_slot(session, (second, third)[index], 1, TEAM, NOW).number

    outcomes = run_together(2, same_day)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert sum(isinstance(o, InvalidSlot) for o in outcomes) == 1
    with Session(engine) as session:
        assert balance(session, w.zeeland).reserved == 2
        assert len(rows(session, "visit_confirm_question")) == 2


def test_a_slot_in_a_new_absence_is_refused(engine: Engine, w: World) -> None:
    _, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS)
    with transaction(engine) as session:
        session.add(
            SupporterAbsence(supporter_id=w.cf, starts_on=D(2027, 4, 1), ends_on=D(2027, 4, 1))
        )
    with pytest.raises(InvalidSlot) as taken, transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
    assert taken.value.params["problem"] == "taken"
    with transaction(engine) as session:
        assert vs.choose_slot(session, proposal_id, 3, TEAM, NOW).day == D(2027, 4, 2)


def test_sto_supporters_absent_moves_the_visit_and_its_day_counts_as_planned(
    engine: Engine,
    w: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From outside: the team registers an absence on the command line; the visit on one of
    its days asks the region for a new day, in the same transaction as the absence."""
    from models import supporters as sp
    from tests.cli_helpers import Sto

    window = (D(2027, 3, 1), D(2027, 4, 30))
    hit, p1 = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, number=1, window=window)
    with transaction(engine) as session:
        chosen = vs.choose_slot(session, p1, 2, TEAM, NOW).day
        assert sp.visit_days(session, w.cf, chosen, chosen) == {chosen: f"visit:{hit}"}
    sto = Sto(engine, capsys, monkeypatch, NOW)
    result = sto(
        "supporters", "absent", "carla@sto.example",
        "--from", chosen.isoformat(), "--to", chosen.isoformat(), "--reason", "ziek",
    )  # fmt: skip
    assert result.code == 0, result.err
    with Session(engine) as session:
        visit = session.get(Visit, hit)
        assert visit is not None and visit.status == "proposed"
        proposal = vs.open_proposal(session, hit)
        assert proposal is not None and proposal.reason == "absence"
        assert chosen not in vs.slots_of(proposal)
        assert sp.visit_days(session, w.cf, chosen, chosen) == {}
