"""The team's buttons and a contact's `/sto mijn`, end to end in HTTP mode.

Reject (with the reason modal), assign a supporter, and cancel from `/sto mijn`:
signed requests in, Web API calls out, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import ledger
from models.regions import get_region
from models.tables import Period, Supporter, SupportRequest
from models.types import AllowanceKind
from tests.conftest import RegionFactory
from tests.slack_fake import block_actions, interaction_body, state_text
from tests.slack_harness import (
    COORDINATOR,
    TEAM_CHANNEL,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    ok,
    populate,
    request_form,
    running,
)

ZEELAND = '{"region": "ZEELAND"}'
TWENTE = '{"region": "TWENTE"}'
DM = "D" + ZEELAND_CONTACT


@pytest.fixture
def slack(engine: Engine, make_region: RegionFactory) -> Iterator[SlackHarness]:
    """The shared `slack` (tests/conftest.py), plus one more supporter before the start."""
    populate(engine, make_region)
    with Session(engine) as session:  # a specialist whose name sorts before the critical friend
        session.add(Supporter(email="anton@sto.example", name="Anton Aalders", role="specialist"))
        session.commit()
    with running(engine) as harness:
        yield harness


def book(slack: SlackHarness, user: str, meta: str, days: str, **more: Any) -> str:
    """Submit the request modal; returns the new request's reference."""
    response = ok(slack.submit(user, "request_modal", request_form(days, **more), meta))
    assert response.body in ("", "{}"), response.body
    with Session(slack.engine) as session:
        newest = select(SupportRequest).order_by(col(SupportRequest.id).desc())
        found = session.exec(newest).first()
        assert found is not None
        return found.ref


def available(engine: Engine, code: str) -> Decimal:
    with Session(engine) as session:
        region = get_region(session, code)
        period = session.exec(select(Period).where(Period.code == "2026")).one()
        allowance = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
        return ledger.balance_of(session, allowance).amount("available")


def request(engine: Engine, ref: str) -> SupportRequest:
    with Session(engine) as session:
        return session.exec(select(SupportRequest).where(SupportRequest.ref == ref)).one()


def until_assigned(engine: Engine, ref: str, timeout: float = 5.0) -> None:
    """Listeners act after the ack: wait until a supporter is on the request."""
    deadline = time.monotonic() + timeout
    while request(engine, ref).assigned_supporter_id is None:
        assert time.monotonic() < deadline, f"{ref} has no supporter after {timeout}s"
        time.sleep(0.02)


def posted_card(slack: SlackHarness, ref: str) -> str:
    """Deliver the outbox; returns the ts of the team's card about `ref`."""
    slack.dispatch()
    for call in slack.api.calls_to("chat.postMessage"):
        if call.args["channel"] == TEAM_CHANNEL and call.args["text"].startswith(ref) and call.ok:
            return str(call.response["ts"])
    raise AssertionError(f"no card for {ref}")


def dms(slack: SlackHarness) -> list[str]:
    return [
        str(c.args["text"])
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == DM and c.ok
    ]


def click(slack: SlackHarness, user: str, action: str, value: str, ts: str, **kw: Any) -> str:
    """Click in a message; returns the path of the click's own response_url."""
    url = slack.api.response_url()
    payload = block_actions(
        user, action, value, message_ts=ts, channel_id=TEAM_CHANNEL, response_url=url, **kw
    )
    ok(slack.post(interaction_body(payload)))
    return urlparse(url).path


def said(slack: SlackHarness, path: str) -> list[str]:
    """What the app answered through one click's response_url."""
    return [str(c.args.get("text")) for c in slack.api.calls_to("response_url") if c.path == path]


# ---- reject ----------------------------------------------------------------------------


def test_reject_asks_a_reason_releases_the_days_and_tells_the_requester(
    slack: SlackHarness, engine: Engine
) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "1,5")
    assert available(engine, "ZEELAND") == Decimal("3")
    ts = posted_card(slack, ref)

    click(slack, COORDINATOR, "request_reject", ref, ts)
    view = slack.api.wait_for("views.open")[0].args["view"]
    assert view["callback_id"] == "reject_modal"
    assert view["close"]["text"] == "Annuleren" and view["submit"]["text"] == "Afwijzen"
    meta = view["private_metadata"]
    assert json.loads(meta)["ref"] == ref

    empty = ok(
        slack.submit(COORDINATOR, "reject_modal", {"reason": {"value": state_text("  ")}}, meta)
    )
    assert empty.json()["response_action"] == "errors"
    assert "Geef een reden op" in empty.json()["errors"]["reason"]
    assert request(engine, ref).status == "submitted"

    reason = {"reason": {"value": state_text("Geen capaciteit in december")}}
    done = ok(slack.submit(COORDINATOR, "reject_modal", reason, meta))
    assert done.body in ("", "{}")
    assert request(engine, ref).status == "rejected"
    assert available(engine, "ZEELAND") == Decimal("4.5")

    assert slack.dispatch() == 2
    rejected = [t for t in dms(slack) if "afgewezen" in t]
    assert len(rejected) == 1
    assert ref in rejected[0] and "Geen capaciteit in december" in rejected[0]
    update = slack.api.wait_for("chat.update")[-1].args
    assert update["ts"] == ts and update["channel"] == TEAM_CHANNEL
    card = json.dumps(update["blocks"])
    assert "afgewezen" in card
    assert "request_approve" not in card and "request_reject" not in card


def test_only_the_team_gets_the_reject_modal(slack: SlackHarness, engine: Engine) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    ts = posted_card(slack, ref)

    click(slack, ZEELAND_CONTACT, "request_reject", ref, ts)
    refusal = slack.replies()[0]
    assert "ondersteuningsteam" in refusal["text"]
    assert refusal.get("response_type") == "ephemeral"
    # A barrier: the team's own click opens the modal, the contact's never did.
    click(slack, COORDINATOR, "request_reject", ref, ts)
    opened = slack.api.wait_for("views.open")
    assert len(opened) == 1

    # Nor can a contact submit a reject modal they got hold of.
    meta = opened[0].args["view"]["private_metadata"]
    reason = {"reason": {"value": state_text("zelf afgewezen")}}
    forged = ok(slack.submit(ZEELAND_CONTACT, "reject_modal", reason, meta)).json()
    assert "ondersteuningsteam" in forged["errors"]["reason"]
    assert request(engine, ref).status == "submitted"
    assert available(engine, "ZEELAND") == Decimal("3.5")


def test_rejecting_twice_explains_instead_of_failing(slack: SlackHarness, engine: Engine) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    meta = json.dumps({"ref": ref, "channel": TEAM_CHANNEL, "ts": "1.0"})
    reason = {"reason": {"value": state_text("dubbel")}}
    ok(slack.submit(COORDINATOR, "reject_modal", reason, meta))
    again = ok(slack.submit(COORDINATOR, "reject_modal", reason, meta)).json()
    assert "afgewezen" in again["errors"]["reason"]
    assert available(engine, "ZEELAND") == Decimal("4.5")


# ---- assign ----------------------------------------------------------------------------


def test_assign_puts_the_chosen_supporter_on_the_request(
    slack: SlackHarness, engine: Engine
) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    ts = posted_card(slack, ref)
    card = next(
        c.args["blocks"]
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == TEAM_CHANNEL
    )
    select_ = next(
        e
        for block in card
        if block["type"] == "actions"
        for e in block["elements"]
        if e["action_id"] == "request_assign"
    )
    options = select_["options"]
    assert options[0]["value"] == f"{ref}|cf@sto.example"  # the critical friend first
    assert "critical friend" in options[0]["text"]["text"]
    assert options[1]["value"] == f"{ref}|anton@sto.example"
    assert all("coord@" not in o["value"] for o in options)  # coordinators don't do the work

    kw: dict[str, Any] = {"action_type": "static_select"}
    click(slack, ZEELAND_CONTACT, "request_assign", options[1]["value"], ts, **kw)
    assert "ondersteuningsteam" in slack.replies()[0]["text"]
    assert request(engine, ref).assigned_supporter_id is None

    click(slack, COORDINATOR, "request_assign", options[0]["value"], ts, **kw)
    until_assigned(engine, ref)
    with Session(engine) as session:
        cf = session.exec(select(Supporter).where(Supporter.email == "cf@sto.example")).one()
    assert request(engine, ref).assigned_supporter_id == cf.id

    slack.dispatch()
    assert any("Carla Vriend" in t and ref in t for t in dms(slack))
    update = slack.api.wait_for("chat.update")[-1].args
    assert update["ts"] == ts
    assert "Carla Vriend" in json.dumps(update["blocks"])
    assert len(slack.replies()) == 1  # the contact's refusal only


# ---- /sto mijn and cancel ---------------------------------------------------------------


def _mine_buttons(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b["accessory"]
        for b in reply["blocks"]
        if b.get("accessory", {}).get("action_id") == "request_cancel"
    ]


@pytest.mark.parametrize("word", ["mijn", "mine"])
def test_mine_lists_the_regions_open_requests_with_a_confirmed_cancel(
    slack: SlackHarness, word: str
) -> None:
    first = book(slack, ZEELAND_CONTACT, ZEELAND, "1", theme="leerlijnen")
    second = book(slack, ZEELAND_CONTACT, ZEELAND, "0,5")
    other = book(slack, TWENTE_CONTACT, TWENTE, "2")

    ok(slack.command(word, ZEELAND_CONTACT))
    reply = slack.replies()[0]
    text = json.dumps(reply["blocks"])
    assert first in text and second in text and "leerlijnen" in text
    assert other not in text and "TWENTE" not in text
    buttons = _mine_buttons(reply)
    assert [b["value"] for b in buttons] == [first, second]
    for button in buttons:
        assert button["confirm"]["confirm"]["text"]
        assert button["value"] in button["confirm"]["text"]["text"]


def test_mine_without_requests_says_so(slack: SlackHarness) -> None:
    ok(slack.command("mijn", TWENTE_CONTACT))
    assert "geen lopende aanvragen" in slack.replies()[0]["text"] + json.dumps(
        slack.replies()[0]["blocks"]
    )


def test_cancel_from_mine_releases_the_days_and_tells_the_contact(
    slack: SlackHarness, engine: Engine
) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "2")
    slack.dispatch()
    assert available(engine, "ZEELAND") == Decimal("2.5")

    path = click(slack, ZEELAND_CONTACT, "request_cancel", ref, "1700000000.000900")
    slack.until_status(ref, "cancelled")
    assert available(engine, "ZEELAND") == Decimal("4.5")
    slack.replies()
    assert said(slack, path) == [f"{ref} is nu geannuleerd."]

    ok(slack.command("saldo", ZEELAND_CONTACT))
    assert "4,5 dag beschikbaar" in json.dumps(slack.replies(2)[1]["blocks"])

    assert slack.dispatch() == 2
    cancelled = [t for t in dms(slack) if "geannuleerd" in t]
    assert len(cancelled) == 1 and ref in cancelled[0]


def test_a_contact_of_another_region_cannot_cancel(slack: SlackHarness, engine: Engine) -> None:
    ref = book(slack, ZEELAND_CONTACT, ZEELAND, "1")

    refused = click(slack, TWENTE_CONTACT, "request_cancel", ref, "1700000000.000900")
    slack.replies()
    assert request(engine, ref).status == "submitted"
    assert available(engine, "ZEELAND") == Decimal("3.5")
    # A barrier: once the owner's own cancel is answered, the refused one had long finished.
    owner = click(slack, ZEELAND_CONTACT, "request_cancel", ref, "1700000000.000900")
    slack.until_status(ref, "cancelled")
    slack.replies(2)
    assert said(slack, owner) == [f"{ref} is nu geannuleerd."]
    (refusal,) = said(slack, refused)  # the refusal, and no false "cancelled"
    assert "eigen regio" in refusal
