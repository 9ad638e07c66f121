"""Visit proposals in Slack: a DM with a button per slot, pressed (signed) against the fake
Slack API; the supporter's question after the visit with yes / no."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import Region, Supporter, Visit, VisitProposal
from tests.slack_harness import (
    CRITICAL_FRIEND,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    Response,
    SlackHarness,
    ok,
)
from tests.visit_helpers import proposed_visit, rows

OPTIONS = (date(2027, 3, 30), date(2027, 4, 1), date(2027, 4, 2))


def zeeland_visit(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        cf = session.exec(select(Supporter).where(Supporter.slack_user_id == CRITICAL_FRIEND)).one()
        assert region.id is not None and cf.id is not None
    return proposed_visit(
        engine, region.id, cf.id, OPTIONS, window=(date(2027, 3, 1), date(2027, 4, 30))
    )


def dm_to(slack: SlackHarness, user: str) -> list[dict[str, Any]]:
    return [
        c.args
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == "D" + user and c.ok
    ]


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return [(e["action_id"], e["value"]) for a in actions for e in a["elements"]]


def press(slack: SlackHarness, user: str, action: str, value: str) -> Response:
    """A button pressed in the user's DM with the assistant (so Slack gives a response URL)."""
    return slack.click(user, action, value, message_ts="1700000000.000100", channel_id="D" + user)


def wait_for(engine: Engine, visit_id: int, status: str, timeout: float = 5.0) -> Visit:
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            visit = session.get(Visit, visit_id)
            assert visit is not None
            if visit.status == status:
                return visit
        assert time.monotonic() < deadline, f"visit {visit_id} is {visit.status}, not {status}"
        time.sleep(0.02)


def test_the_contact_picks_a_slot_with_a_button(slack: SlackHarness, engine: Engine) -> None:
    visit_id, proposal_id = zeeland_visit(engine)
    assert slack.dispatch() == 1
    [message] = dm_to(slack, ZEELAND_CONTACT)
    assert "Carla Vriend" in message["text"] and "1 april 2027" in message["text"]
    assert buttons(message) == [
        ("visit_choose_1", f"{proposal_id}:1"),
        ("visit_choose_2", f"{proposal_id}:2"),
        ("visit_choose_3", f"{proposal_id}:3"),
        ("visit_decline", str(proposal_id)),
    ]
    labels = [
        e["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert labels[1] == "donderdag 1 april 2027" and labels[3] == "Geen van deze"
    ok(press(slack, ZEELAND_CONTACT, "visit_choose_2", f"{proposal_id}:2"))
    visit = wait_for(engine, visit_id, "scheduled")
    assert visit.day == date(2027, 4, 1)
    [reply] = slack.replies()
    assert "donderdag 1 april 2027" in reply["text"]
    assert reply["replace_original"] is True  # the buttons are gone
    with Session(engine) as session:
        invites = rows(session, "visit_scheduled")
        assert {r.recipient for r in invites} == {"zee@school.example", "cf@sto.example"}
        assert len(rows(session, "visit_reminder")) == 4


def test_another_regions_contact_may_not_choose(slack: SlackHarness, engine: Engine) -> None:
    visit_id, proposal_id = zeeland_visit(engine)
    ok(press(slack, TWENTE_CONTACT, "visit_choose_1", f"{proposal_id}:1"))
    [reply] = slack.replies()
    assert "ZEELAND" in reply["text"]
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "proposed"
        assert rows(session, "visit_scheduled") == []


def test_none_of_these_brings_new_slots(slack: SlackHarness, engine: Engine) -> None:
    visit_id, proposal_id = zeeland_visit(engine)
    ok(press(slack, ZEELAND_CONTACT, "visit_decline", str(proposal_id)))
    [reply] = slack.replies()
    assert "nieuwe momenten" in reply["text"]
    with Session(engine) as session:
        proposals = session.exec(
            select(VisitProposal).where(VisitProposal.visit_id == visit_id)
        ).all()
        assert [p.status for p in proposals] == ["declined", "open"]
        new = proposals[1]
    assert slack.dispatch() == 2
    second = dm_to(slack, ZEELAND_CONTACT)[-1]
    assert buttons(second)[0] == ("visit_choose_1", f"{new.id}:1")
    assert "Geen van de vorige momenten paste" in second["text"]
    # The old proposal's buttons no longer work.
    ok(press(slack, ZEELAND_CONTACT, "visit_choose_1", f"{proposal_id}:1"))
    assert "niet meer open" in slack.replies(2)[-1]["text"]


def test_the_supporter_confirms_the_visit_took_place(slack: SlackHarness, engine: Engine) -> None:
    visit_id, proposal_id = zeeland_visit(engine)
    ok(press(slack, ZEELAND_CONTACT, "visit_choose_2", f"{proposal_id}:2"))
    wait_for(engine, visit_id, "scheduled")
    slack.dispatch()  # the proposal; reminders and the question are not due yet
    assert dm_to(slack, CRITICAL_FRIEND) == []
    slack.clock.set(datetime(2027, 4, 2, 7, 0, tzinfo=UTC))  # Friday 09:00 in Zeeland
    slack.dispatch()
    messages = dm_to(slack, CRITICAL_FRIEND)
    question = next(m for m in messages if m.get("blocks"))
    assert "plaatsgevonden" in question["text"]
    assert buttons(question) == [
        ("visit_took_place", str(visit_id)),
        ("visit_not_held", str(visit_id)),
    ]
    assert len(messages) == 3  # two reminders (7 days, 1 day) and the question
    # The contact may not confirm for the supporter.
    ok(press(slack, ZEELAND_CONTACT, "visit_took_place", str(visit_id)))
    assert "ondersteuningsteam" in slack.replies(2)[-1]["text"]
    ok(press(slack, CRITICAL_FRIEND, "visit_took_place", str(visit_id)))
    wait_for(engine, visit_id, "completed")
