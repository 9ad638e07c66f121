"""Dates for a support request, proposed by its supporter: the domain on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.render import Renderer
from models import people
from models import request_proposals as rp
from models import requests as rq
from models.db import transaction
from models.errors import DomainError, InvalidDates, InvalidSlot, ProposalClosed, UnknownProposal
from models.tables import (
    AuditEntry,
    Notification,
    RequestDay,
    RequestProposal,
    SupporterAbsence,
    SupportRequest,
)
from scheduling.request_dates import suggest_dates
from tests.conftest import NOW, TEAM, RegionFactory
from tests.request_proposal_helpers import OPTIONS, WINDOW, World, approved_request, rows, world

LATER = NOW + timedelta(hours=2)


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


def snapshot(session: Session) -> tuple[int, int, int, int, str]:
    """What a refused call must leave as it was."""
    count = {
        table: session.exec(select(func.count()).select_from(table)).one()
        for table in (RequestProposal, Notification, RequestDay, AuditEntry)
    }
    statuses = ",".join(
        r.status for r in session.exec(select(SupportRequest).order_by(col(SupportRequest.id)))
    )
    return (
        count[RequestProposal],
        count[Notification],
        count[RequestDay],
        count[AuditEntry],
        statuses,
    )


def propose(engine: Engine, ref: str, options: list[list[date]] = OPTIONS) -> int:
    with transaction(engine) as session:
        proposal = rp.propose_dates(session, ref, options, TEAM, NOW)
        assert proposal.id is not None
        return proposal.id


def test_propose_sends_the_options_to_the_requester(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref)
    with Session(engine) as session:
        proposal = rp.get_proposal(session, proposal_id)
        assert proposal.status == "open" and proposal.supporter_id == w.anton
        assert rp.options_of(proposal) == OPTIONS
        [row] = rows(session, "request_proposal")
        assert row.recipient == "jan@school.example" and row.channel == "email"
        assert row.dedupe_key == rp.proposal_key(proposal_id, w.requester)
        assert row.context["options"] == [[d.isoformat() for d in o] for o in OPTIONS]
        assert (row.subject_type, row.context["ref"]) == ("request", ref)
        text = Renderer().render("mail/request_proposal.txt", "nl", **row.context)
        assert "1. dinsdag 12 januari 2027 en woensdag 13 januari 2027" in text
        assert "Anton Aalders" in text and 'met "geen"' in text


def test_without_a_requester_the_region_contacts_get_it(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w, contact=False)
    propose(engine, ref)
    with Session(engine) as session:
        sent = {(r.channel, r.recipient) for r in rows(session, "request_proposal")}
        assert sent == {("email", "jan@school.example"), ("slack", "UELS")}


def test_a_new_proposal_replaces_the_open_one(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    first = propose(engine, ref)
    second = propose(engine, ref, OPTIONS[1:])
    with Session(engine) as session:
        assert rp.get_proposal(session, first).status == "expired"
        assert rp.options_of(rp.get_proposal(session, second)) == OPTIONS[1:]
    with transaction(engine) as session, pytest.raises(ProposalClosed):
        rp.choose_dates(session, first, 1, TEAM, LATER)


@pytest.mark.parametrize(
    ("options", "problem", "value"),
    [
        ([], "no_options", ""),
        ([*OPTIONS, [date(2027, 2, 2), date(2027, 2, 3)]], "too_many_options", "3"),
        ([[date(2027, 1, 12)]], "count", "2"),
        ([[date(2027, 1, 12), date(2027, 1, 13), date(2027, 1, 14)]], "count", "2"),
        ([[date(2027, 1, 12), date(2027, 1, 12)]], "duplicate", "2027-01-12"),
        ([[date(2026, 11, 30), date(2026, 12, 1)]], "past", "2026-11-30"),
        ([[date(2028, 1, 4), date(2028, 1, 5)]], "outside_period", "2028-01-04"),
        ([OPTIONS[0], [date(2027, 1, 13), date(2027, 1, 14)]], "overlap", "2027-01-13"),
    ],
)
def test_bad_options_are_refused_and_change_nothing(
    engine: Engine, w: World, options: list[list[date]], problem: str, value: str
) -> None:
    ref = approved_request(engine, w)
    with Session(engine) as session:
        before = snapshot(session)
    with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
        rp.propose_dates(session, ref, options, TEAM, NOW)
    assert (caught.value.params["problem"], caught.value.params["value"]) == (problem, value)
    with Session(engine) as session:
        assert snapshot(session) == before
    nl = Renderer().render("errors.invalid_dates", "nl", **caught.value.params)
    en = Renderer().render("errors.invalid_dates", "en", **caught.value.params)
    assert "niet geldig" not in nl and "not valid" not in en  # a sentence of its own
    assert value in nl and value in en


def test_only_an_approved_request_with_a_supporter(engine: Engine, w: World) -> None:
    unassigned = approved_request(engine, w, assign=False)
    with transaction(engine) as session:
        submitted = rq.submit(
            session, rq.NewRequest(region="ZEELAND", kind="content", half_days=2), TEAM, NOW
        ).ref
    with Session(engine) as session:
        before = snapshot(session)
    for ref, problem in ((unassigned, "no_supporter"), (submitted, "status")):
        with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
            rp.propose_dates(session, ref, OPTIONS, TEAM, NOW)
        assert caught.value.params["problem"] == problem
    with Session(engine) as session:
        assert snapshot(session) == before


def test_only_the_assigned_supporter_or_the_team(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    with Session(engine) as session:
        bea = people.by_email(session, "bea@sto.example")
        contact = people.by_email(session, "jan@school.example")
        anton = people.by_email(session, "anton@sto.example")
        before = snapshot(session)
    assert bea is not None and contact is not None and anton is not None
    for person in (bea, contact):
        with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
            rp.propose_dates(session, ref, OPTIONS, TEAM, NOW, person=person)
        assert caught.value.params["problem"] == "not_assigned"
    with Session(engine) as session:
        assert snapshot(session) == before
    with transaction(engine) as session:
        proposal = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW, person=anton)
        assert proposal.proposed_by == TEAM.name


def test_choose_schedules_with_days_and_an_invitation(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref)
    with transaction(engine) as session:
        request = rp.choose_dates(session, proposal_id, 2, TEAM, LATER)
        assert request.status == "scheduled"
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        assert rq.days_of(session, request) == OPTIONS[1]
        proposal = rp.get_proposal(session, proposal_id)
        assert (proposal.status, proposal.chosen, proposal.decided_by) == ("chosen", 2, TEAM.name)
        [invite] = rows(session, "request_scheduled")
        assert invite.recipient == "jan@school.example" and invite.channel == "email"
        assert invite.context["dates"] == ["2027-01-19", "2027-01-20"]
        actions = {e.action for e in session.exec(select(AuditEntry)).all()}
        assert {"request.dates_proposed", "request.dates_chosen"} <= actions
    with transaction(engine) as session, pytest.raises(ProposalClosed):
        rp.choose_dates(session, proposal_id, 1, TEAM, LATER)


def test_refused_choices_change_nothing(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref, OPTIONS[:2])
    with transaction(engine) as session:  # Anton falls ill on a day of option 1
        session.add(
            SupporterAbsence(
                supporter_id=w.anton, starts_on=date(2027, 1, 13), ends_on=date(2027, 1, 13)
            )
        )
    with Session(engine) as session:
        before = snapshot(session)
    cases: list[tuple[int, int, type[DomainError], str]] = [
        (proposal_id, 3, InvalidSlot, "no_such_option"),
        (proposal_id, 1, InvalidDates, "taken"),
        (proposal_id + 99, 1, UnknownProposal, ""),
    ]
    for pid, option, error, problem in cases:
        with transaction(engine) as session, pytest.raises(error) as caught:
            rp.choose_dates(session, pid, option, TEAM, LATER)
        assert caught.value.params.get("problem", "") == problem
    late = date(2027, 1, 12)  # on the first day of option 1 it is too late to choose it
    with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
        rp.choose_dates(session, proposal_id, 1, TEAM, NOW.replace(year=2027, month=1, day=12))
    assert caught.value.params["value"] == late.isoformat()
    with Session(engine) as session:
        assert snapshot(session) == before
        assert rp.get_proposal(session, proposal_id).status == "open"


def test_a_cancelled_request_cannot_be_chosen(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref)
    with transaction(engine) as session:
        rq.cancel(session, ref, TEAM, NOW, reason="toch niet")
    with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
        rp.choose_dates(session, proposal_id, 1, TEAM, LATER)
    expected = {"ref": ref, "problem": "status", "option": 0, "value": "cancelled"}
    assert caught.value.params == expected


def test_decline_asks_the_supporter_to_propose_again(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref)
    with transaction(engine) as session:
        rp.decline_dates(session, proposal_id, TEAM, LATER)
    with Session(engine) as session:
        assert rp.get_proposal(session, proposal_id).status == "declined"
        assert rq.get_request(session, ref).status == "approved"
        [row] = rows(session, "request_dates_declined")
        assert (row.channel, row.recipient) == ("email", "anton@sto.example")
        text = Renderer().render("mail/request_dates_declined.txt", "nl", **row.context)
        assert f"sto requests propose {ref}" in text
    with transaction(engine) as session, pytest.raises(ProposalClosed):
        rp.decline_dates(session, proposal_id, TEAM, LATER)
    propose(engine, ref, OPTIONS[2:])  # and the supporter proposes again


def test_suggested_dates_avoid_weekends_absences_and_planned_days(engine: Engine, w: World) -> None:
    other = approved_request(engine, w, half_days=2)
    with transaction(engine) as session:
        rq.schedule(session, other, TEAM, NOW, days=[date(2027, 1, 11)])
        session.add(
            SupporterAbsence(
                supporter_id=w.anton, starts_on=date(2027, 1, 18), ends_on=date(2027, 1, 22)
            )
        )
    ref = approved_request(engine, w, half_days=3)
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        options = suggest_dates(session, request, date(2026, 11, 30))
    assert len(options) == 3
    days = [d for option in options for d in option]
    assert len(set(days)) == 6 and all(len(o) == 2 for o in options)
    for day in days:
        assert WINDOW[0] <= day <= WINDOW[1]
        assert day.weekday() < 5
        assert day != date(2027, 1, 11)
        assert not date(2027, 1, 18) <= day <= date(2027, 1, 22)
    assert options[0][0] == date(2027, 1, 12) and options[-1][-1] == date(2027, 2, 12)
    with transaction(engine) as session:  # what is suggested can be proposed as it is
        rp.propose_dates(session, ref, options, TEAM, NOW)


def test_a_full_month_yields_no_suggestion(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    with transaction(engine) as session:
        session.add(SupporterAbsence(supporter_id=w.anton, starts_on=WINDOW[0], ends_on=WINDOW[1]))
    with Session(engine) as session:
        assert suggest_dates(session, rq.get_request(session, ref), date(2026, 11, 30)) == []


def test_choices_at_once_have_one_winner(engine: Engine, w: World) -> None:
    """Three people press three options at once, while the supporter sends a new proposal:
    the request is scheduled once, on one option, and the rest are refused cleanly."""
    from tests.test_concurrency import run_together

    ref = approved_request(engine, w)
    proposal_id = propose(engine, ref)

    def work(index: int) -> str:
        with transaction(engine) as session:
            if index == 3:
                rp.propose_dates(session, ref, OPTIONS[2:], TEAM, LATER)
                return "proposed"
            rp.choose_dates(session, proposal_id, index + 1, TEAM, LATER)
            return f"chose {index + 1}"

    outcomes = run_together(4, work)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(e, (ProposalClosed, InvalidDates)) for e in errors), errors
    chosen = [o for o in outcomes if isinstance(o, str) and o.startswith("chose")]
    assert len(chosen) <= 1
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        days = rq.days_of(session, request)
        events = rq.events_of(session, request)
        assert [e.to_status for e in events].count("scheduled") == len(chosen)
        if chosen:
            assert request.status == "scheduled" and days == OPTIONS[int(chosen[0][-1]) - 1]
        else:  # the new proposal came first and replaced the one they pressed
            assert request.status == "approved" and days == []
        assert len(session.exec(select(RequestDay)).all()) == len(days)
