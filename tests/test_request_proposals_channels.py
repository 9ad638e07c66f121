"""Dates for a request through the channels: `sto requests propose | choose | decline-dates`,
a signed button press in Slack, and an answer "2" by mail (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from models import request_proposals as rp
from models import requests as rq
from models.db import transaction
from models.tables import Contact, RequestProposal
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM, RegionFactory
from tests.request_proposal_helpers import OPTIONS, World, approved_request, rows, world
from tests.slack_harness import (
    CRITICAL_FRIEND,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    ok,
)
from tests.test_visits_mail import Post, body, calendar, event
from tests.test_visits_slack import buttons, dm_to, press

# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


def test_cli_propose_choose(sto: Sto, engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    result = sto(
        "requests", "propose", ref, "--option", "2027-01-12,2027-01-13",
        "--option", "19-01-2027,20-01-2027",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"Voorstel 1 voor {ref} is verstuurd naar jan@school.example" in result.out
    assert "2. dinsdag 19 januari 2027 en woensdag 20 januari 2027" in result.out
    result = sto("requests", "choose", "1", "2")
    assert result.code == 0, result.err
    assert f"{ref} is ingepland op dinsdag 19 januari 2027 en woensdag 20 januari 2027" in (
        result.out
    )
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        assert request.status == "scheduled"
        assert rq.days_of(session, request) == OPTIONS[1]
    result = sto("requests", "choose", "1", "1")
    assert result.code == 1 and "niet meer open" in result.err


def test_cli_suggest_and_decline(sto: Sto, engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    result = sto("requests", "propose", ref, "--suggest")
    assert result.code == 0, result.err
    assert "1. maandag 11 januari 2027 en dinsdag 12 januari 2027" in result.out
    assert "3. donderdag 11 februari 2027 en vrijdag 12 februari 2027" in result.out
    result = sto("requests", "decline-dates", "1")
    assert result.code == 0, result.err
    assert "afgewezen" in result.out
    with Session(engine) as session:
        assert [p.status for p in session.exec(select(RequestProposal)).all()] == ["declined"]
        assert len(rows(session, "request_dates_declined")) == 1


def test_cli_refuses_bad_input_and_changes_nothing(sto: Sto, engine: Engine, w: World) -> None:
    ref = approved_request(engine, w)
    result = sto("requests", "propose", ref)
    assert result.code == 2 and "--suggest" in result.err
    result = sto("requests", "propose", ref, "--option", "2027-01-12")
    assert result.code == 1 and "precies 2 verschillende dagen" in result.err
    result = sto("requests", "propose", ref, "--option", "morgen,overmorgen")
    assert result.code == 2 and "'morgen' is geen datum" in result.err
    result = sto("requests", "choose", "7", "1")
    assert result.code == 1 and "Voorstel 7 bestaat niet" in result.err
    with Session(engine) as session:
        assert session.exec(select(RequestProposal)).all() == []
        assert rows(session, "request_proposal") == []


# --- Slack -----------------------------------------------------------------------------------


def slack_request(engine: Engine) -> tuple[str, int]:
    """ZEELAND's approved request from its contact, assigned to Carla, with dates proposed."""
    with transaction(engine) as session:
        query = select(Contact).where(Contact.slack_user_id == ZEELAND_CONTACT)
        contact = session.exec(query).one()
        new = rq.NewRequest(
            region="ZEELAND",
            kind="process",
            half_days=3,
            preferred_from=date(2027, 1, 11),
            preferred_to=date(2027, 2, 12),
            requester_contact_id=contact.id,
        )
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        rq.assign(session, ref, TEAM, NOW, supporter_email="cf@sto.example")
        proposal = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW)
        assert proposal.id is not None
        return ref, proposal.id


def test_the_requester_picks_dates_with_a_button(slack: SlackHarness, engine: Engine) -> None:
    ref, proposal_id = slack_request(engine)
    slack.dispatch()
    message = next(m for m in dm_to(slack, ZEELAND_CONTACT) if m.get("blocks"))
    assert "Carla Vriend" in message["text"] and "19 januari 2027" in message["text"]
    assert buttons(message) == [
        ("request_dates_choose_1", f"{proposal_id}:1"),
        ("request_dates_choose_2", f"{proposal_id}:2"),
        ("request_dates_choose_3", f"{proposal_id}:3"),
        ("request_dates_decline", str(proposal_id)),
    ]
    # Neither the supporter nor another region's contact may choose for ZEELAND.
    for user in (CRITICAL_FRIEND, TWENTE_CONTACT):
        ok(press(slack, user, "request_dates_choose_1", f"{proposal_id}:1"))
    refusals = slack.replies(2)
    assert all("ZEELAND" in r["text"] for r in refusals)
    with Session(engine) as session:
        assert rq.get_request(session, ref).status == "approved"

    ok(press(slack, ZEELAND_CONTACT, "request_dates_choose_2", f"{proposal_id}:2"))
    slack.until_status(ref, "scheduled")
    reply = slack.replies(3)[-1]
    assert "19 januari 2027" in reply["text"] and reply["replace_original"] is True
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        assert rq.days_of(session, request) == OPTIONS[1]
        assert rp.get_proposal(session, proposal_id).status == "chosen"
        [scheduled] = rows(session, "request_scheduled")
        assert scheduled.recipient == ZEELAND_CONTACT
        assert scheduled.context["dates"] == ["2027-01-19", "2027-01-20"]
        decided_by = rp.get_proposal(session, proposal_id).decided_by
        assert decided_by == f"Zeger Zeeuw (slack:{ZEELAND_CONTACT})"


def test_none_of_these_in_slack_asks_the_supporter(slack: SlackHarness, engine: Engine) -> None:
    ref, proposal_id = slack_request(engine)
    ok(press(slack, ZEELAND_CONTACT, "request_dates_decline", str(proposal_id)))
    [reply] = slack.replies()
    assert "nieuwe data" in reply["text"]
    with Session(engine) as session:
        assert rp.get_proposal(session, proposal_id).status == "declined"
        assert rq.get_request(session, ref).status == "approved"
    slack.dispatch()
    _assigned, to_carla = dm_to(slack, CRITICAL_FRIEND)  # the assignment, then this
    assert f"/sto voorstellen {ref}" in to_carla["text"]  # in Slack: Slack's way, no CLI
    assert "sto requests" not in to_carla["text"]
    assert buttons(to_carla) == [("request_dates_propose", ref)]


# --- mail ------------------------------------------------------------------------------------


def test_answer_two_by_mail_schedules_with_an_invitation(
    engine: Engine, w: World, tmp_path: Path
) -> None:
    post = Post(engine, tmp_path)
    ref = approved_request(engine, w)
    post.deliver()  # what submitting, approving and assigning wrote
    with transaction(engine) as session:
        proposal_id = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW).id
    [proposal] = post.deliver()
    assert proposal["To"].addresses[0].addr_spec == "jan@school.example"
    assert ref in str(proposal["Subject"]) and "Kies de data" in str(proposal["Subject"])
    text = body(proposal)
    assert "2. dinsdag 19 januari 2027 en woensdag 20 januari 2027" in text
    assert 'met "geen"' in text

    post.reply("Jan Jansen <jan@school.example>", "iets anders", proposal)
    [unclear] = post.deliver()
    assert "1, 2 of 3" in body(unclear)

    post.reply("Jan Jansen <jan@school.example>", "2", proposal)
    with Session(engine) as session:
        request = rq.get_request(session, ref)
        assert request.status == "scheduled"
        assert rq.days_of(session, request) == OPTIONS[1]
        assert rp.get_proposal(session, proposal_id or 0).decided_by == "mail:jan@school.example"
    [confirmation] = post.deliver()
    assert confirmation["To"].addresses[0].addr_spec == "jan@school.example"
    assert str(calendar(confirmation)["METHOD"]) == "REQUEST"
    starts = sorted(e.decoded("DTSTART") for e in calendar(confirmation).walk("VEVENT"))
    assert starts[0] == date(2027, 1, 19)
    assert event(confirmation)["DTSTART"].params["VALUE"] == "DATE"

    post.reply("Jan Jansen <jan@school.example>", "1", proposal)  # too late: it is chosen
    [refused] = post.deliver()
    assert "niet meer open" in body(refused)
    with Session(engine) as session:
        assert rq.days_of(session, rq.get_request(session, ref)) == OPTIONS[1]


def test_answer_none_by_mail_asks_the_supporter_and_thanks_the_requester(
    engine: Engine, w: World, tmp_path: Path
) -> None:
    post = Post(engine, tmp_path)
    ref = approved_request(engine, w)
    with transaction(engine) as session:
        contact = session.get(Contact, w.requester)
        assert contact is not None
        contact.language = "en"
        session.add(contact)
    post.deliver()
    with transaction(engine) as session:
        proposal_id = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW).id
    [proposal] = post.deliver()
    assert "Choose the dates" in str(proposal["Subject"])
    assert "2. Tuesday 19 January 2027 and Wednesday 20 January 2027" in body(proposal)
    post.reply("jan@school.example", "None of these", proposal)
    mails = post.deliver()
    thanks = next(m for m in mails if m["To"].addresses[0].addr_spec == "jan@school.example")
    assert thanks["In-Reply-To"] is not None and "propose new dates" in body(thanks)
    to_anton = next(m for m in mails if m["To"].addresses[0].addr_spec == "anton@sto.example")
    assert f"sto requests propose {ref}" in body(to_anton)
    with Session(engine) as session:
        assert rp.get_proposal(session, proposal_id or 0).status == "declined"
        assert rq.get_request(session, ref).status == "approved"
