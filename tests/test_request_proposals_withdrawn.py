"""A request that leaves `approved` another way (the team schedules it, or it is cancelled)
takes its open date proposal with it, in the same transaction (SQLite and PostgreSQL).

A proposal mail that has not gone out yet is cancelled with it; a button pressed or a mail
answered later gets a sentence that says what became of the request.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import request_proposals as rp
from models import requests as rq
from models.db import transaction
from models.errors import InvalidDates
from models.request_proposal_state import ProposalStatus
from models.tables import AuditEntry, Notification
from tests.conftest import NOW, TEAM, RegionFactory
from tests.request_proposal_helpers import OPTIONS, World, approved_request, rows, world
from tests.slack_harness import ZEELAND_CONTACT, SlackHarness, ok
from tests.test_request_proposals_channels import slack_request
from tests.test_visits_mail import Post, body
from tests.test_visits_slack import press

LATER = NOW + timedelta(hours=2)
DAYS = [date(2027, 2, 2), date(2027, 2, 3)]  # not one of the options


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


def _propose(engine: Engine, ref: str) -> int:
    with transaction(engine) as session:
        proposal = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW)
        assert proposal.id is not None
        return proposal.id


def _status(engine: Engine, proposal_id: int) -> str:
    with Session(engine) as session:
        return rp.get_proposal(session, proposal_id).status


def _cancel(engine: Engine, ref: str) -> None:
    with transaction(engine) as session:
        rq.cancel(session, ref, TEAM, LATER, reason="school dicht")


def _schedule(engine: Engine, ref: str) -> None:
    with transaction(engine) as session:
        rq.schedule(session, ref, TEAM, LATER, days=DAYS)


@pytest.mark.parametrize(
    ("move", "status", "label"),
    [(_cancel, "cancelled", "geannuleerd"), (_schedule, "scheduled", "ingepland")],
)
def test_the_open_proposal_is_withdrawn_when_the_request_moves_on(
    engine: Engine, w: World, move: object, status: str, label: str
) -> None:
    assert callable(move)
    ref = approved_request(engine, w)
    proposal_id = _propose(engine, ref)
    move(engine, ref)
    assert _status(engine, proposal_id) == ProposalStatus.withdrawn.value
    with Session(engine) as session:
        # The proposal mail had not gone out: it never will.
        [mail] = rows(session, "request_proposal")
        assert mail.status == "cancelled"
        request = rq.get_request(session, ref)
        assert request.status == status
        [entry] = session.exec(
            select(AuditEntry).where(AuditEntry.action == "request.dates_withdrawn")
        ).all()
        assert entry.subject == ref and entry.detail == {"proposal": proposal_id, "status": status}
        proposal = rp.get_proposal(session, proposal_id)
        assert (proposal.decided_by, proposal.decided_at) == (TEAM.name, LATER)
    # Choosing or declining it later is refused with what became of the request.
    for act in (
        lambda s: rp.choose_dates(s, proposal_id, 1, TEAM, LATER),
        lambda s: rp.decline_dates(s, proposal_id, TEAM, LATER),
    ):
        with transaction(engine) as session, pytest.raises(InvalidDates) as caught:
            act(session)
        assert caught.value.params["value"] == status
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        assert request.status == status
        assert rq.days_of(session, request) == ([] if status == "cancelled" else DAYS)
        assert rows(session, "request_dates_declined") == []


def test_choosing_is_not_a_withdrawal(engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    proposal_id = _propose(engine, ref)
    with transaction(engine) as session:
        rp.choose_dates(session, proposal_id, 2, TEAM, LATER)
    with Session(engine) as session:
        proposal = rp.get_proposal(session, proposal_id)
        assert (proposal.status, proposal.chosen) == ("chosen", 2)
        assert rq.days_of(session, rq.get_request(session, ref)) == OPTIONS[1]
        withdrawn = select(AuditEntry).where(AuditEntry.action == "request.dates_withdrawn")
        assert session.exec(withdrawn).all() == []
        # Dates are chosen: a proposal mail not yet sent (to a colleague) is moot as well.
        assert rows(session, "request_proposal")[0].status == "cancelled"


def test_a_declined_proposals_ask_to_the_supporter_is_moot_once_cancelled(
    engine: Engine, w: World
) -> None:
    ref = approved_request(engine, w)
    proposal_id = _propose(engine, ref)
    with transaction(engine) as session:
        rp.decline_dates(session, proposal_id, TEAM, NOW)
    _cancel(engine, ref)
    with Session(engine) as session:
        [ask] = rows(session, "request_dates_declined")
        assert ask.status == "cancelled"
        assert rp.get_proposal(session, proposal_id).status == "declined"  # as it was


def test_a_mail_answer_after_cancelling_is_told_so(
    engine: Engine, w: World, tmp_path: Path
) -> None:
    post = Post(engine, tmp_path)
    ref = approved_request(engine, w)
    proposal_id = _propose(engine, ref)
    proposal = next(m for m in post.deliver() if "Kies de data" in str(m["Subject"]))
    _cancel(engine, ref)
    post.deliver()
    post.reply("Jan Jansen <jan@school.example>", "2", proposal)
    [refused] = post.deliver()
    text = body(refused)
    assert ref in text and "de aanvraag is geannuleerd" in text
    assert _status(engine, proposal_id) == "withdrawn"
    with Session(engine) as session:
        assert rq.get_request(session, ref).status == "cancelled"
        scheduled = session.exec(
            select(Notification).where(col(Notification.template) == "request_scheduled")
        ).all()
        assert scheduled == []


def test_a_button_pressed_after_the_team_scheduled_is_told_so(
    slack: SlackHarness, engine: Engine
) -> None:
    ref, proposal_id = slack_request(engine)
    slack.dispatch()  # the requester has the buttons
    _schedule(engine, ref)
    ok(press(slack, ZEELAND_CONTACT, "request_dates_choose_1", f"{proposal_id}:1"))
    [reply] = slack.replies()
    assert ref in reply["text"] and "de aanvraag is ingepland" in reply["text"]
    with Session(engine) as session:
        assert rq.days_of(session, rq.get_request(session, ref)) == DAYS
        assert rp.get_proposal(session, proposal_id).status == "withdrawn"
