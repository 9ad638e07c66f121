"""The Slack channel under pressure: forged and stale requests, retries, 429s, concurrency.

HTTP mode end to end (tests/slack_harness.py) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from models import ledger
from models.regions import get_region
from models.tables import (
    InboundMessage,
    LedgerEntry,
    Notification,
    Period,
    RequestEvent,
    SupportRequest,
)
from models.types import AllowanceKind
from tests.slack_fake import (
    SIGNING_SECRET,
    app_home_opened,
    block_actions,
    event_body,
    interaction_body,
    post_signed,
    sign,
    slash_command_body,
    view_submission,
)
from tests.slack_harness import (
    COORDINATOR,
    TEAM_CHANNEL,
    ZEELAND_CONTACT,
    Response,
    SlackHarness,
    ok,
    request_form,
)

ZEELAND = '{"region": "ZEELAND"}'
DM = "D" + ZEELAND_CONTACT


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def rows(engine: Engine) -> dict[str, int]:
    """Everything a booking or a click would change."""
    tables = (SupportRequest, LedgerEntry, Notification, InboundMessage, RequestEvent)
    return {t.__name__: count(engine, t) for t in tables}


def available(engine: Engine, code: str) -> Decimal:
    with Session(engine) as session:
        region = get_region(session, code)
        period = session.exec(select(Period).where(Period.code == "2026")).one()
        allowance = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
        return ledger.balance_of(session, allowance).amount("available")


def reserved(engine: Engine, code: str) -> Decimal:
    with Session(engine) as session:
        region = get_region(session, code)
        period = session.exec(select(Period).where(Period.code == "2026")).one()
        allowance = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
        return ledger.balance_of(session, allowance).amount("reserved")


def forged(slack: SlackHarness, body: str, secret: str) -> Response:
    """Post `body` signed with another secret than the app's."""
    started = time.monotonic()
    status, headers, text = post_signed(slack.url, body, secret)
    return Response(status, headers, text, time.monotonic() - started)


def submission(days: str = "1") -> str:
    submitted = view_submission(ZEELAND_CONTACT, "request_modal", request_form(days), ZEELAND)
    return interaction_body(submitted)


# ---- signatures -------------------------------------------------------------------------


def test_a_forged_signature_gets_401_and_changes_nothing(
    slack: SlackHarness, engine: Engine
) -> None:
    before = rows(engine)
    booking = forged(slack, submission(), "not-the-signing-secret")
    assert booking.status == 401 and booking.seconds < 3
    body = slash_command_body(
        text="aanvragen", user_id=ZEELAND_CONTACT, response_url=slack.api.response_url()
    )
    command = forged(slack, body, "guessed")
    assert command.status == 401 and command.seconds < 3
    assert rows(engine) == before
    # A barrier: a genuine command is answered; the forged ones never reached a listener.
    ok(slack.command("saldo", ZEELAND_CONTACT))
    slack.replies()
    assert [c.method for c in slack.api.calls if c.method != "auth.test"] == ["response_url"]


def test_a_stale_timestamp_gets_401_and_changes_nothing(
    slack: SlackHarness, engine: Engine
) -> None:
    before = rows(engine)
    six_minutes_ago = int(time.time()) - 6 * 60
    stale = slack.post(submission(), timestamp=six_minutes_ago)  # a replay, correctly signed
    assert stale.status == 401 and stale.seconds < 3
    assert rows(engine) == before
    fresh = ok(slack.post(submission()))
    assert fresh.body in ("", "{}")
    assert count(engine, SupportRequest) == 1


def test_a_request_without_signature_headers_gets_401(slack: SlackHarness, engine: Engine) -> None:
    before = rows(engine)
    plain = urllib.request.Request(
        slack.url,
        data=submission().encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(plain, timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    assert rows(engine) == before


def test_the_signature_covers_the_body(slack: SlackHarness, engine: Engine) -> None:
    """A signature taken from one body does not carry another (Slack's headers, replayed)."""
    headers = sign(SIGNING_SECRET, submission("0,5"))
    tampered = slack.post(submission("4"), headers=headers)
    assert tampered.status == 401
    assert count(engine, SupportRequest) == 0


# ---- retries ----------------------------------------------------------------------------


def test_a_repeated_view_submission_books_once(slack: SlackHarness, engine: Engine) -> None:
    body = submission("1,5")
    first = ok(slack.post(body))
    again = ok(slack.post(body, retry_num=1, retry_reason="http_timeout"))
    assert first.body in ("", "{}") and again.body in ("", "{}")
    assert count(engine, SupportRequest) == 1
    assert available(engine, "ZEELAND") == Decimal("3")
    assert slack.dispatch() == 2  # one DM and one card: said once


def test_a_repeated_block_action_acts_once(slack: SlackHarness, engine: Engine) -> None:
    ok(slack.post(submission("1")))
    slack.dispatch()
    card = slack.api.wait_for("chat.postMessage", count=2)
    ts = next(str(c.response["ts"]) for c in card if c.args["channel"] == TEAM_CHANNEL)
    payload = block_actions(
        COORDINATOR,
        "request_approve",
        "STO-2026-0001",
        message_ts=ts,
        channel_id=TEAM_CHANNEL,
        response_url=slack.api.response_url(),
    )
    body = interaction_body(payload)  # the same trigger_id, delivered twice
    ok(slack.post(body))
    ok(slack.post(body))
    slack.until_status("STO-2026-0001", "approved")
    # A barrier: a later click by the same person is handled after both deliveries.
    ok(
        slack.click(
            COORDINATOR,
            "request_assign",
            "STO-2026-0001|cf@sto.example",
            message_ts=ts,
            channel_id=TEAM_CHANNEL,
            action_type="static_select",
        )
    )
    deadline = time.monotonic() + 5
    while count(engine, InboundMessage) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    with Session(engine) as session:
        approvals = session.exec(
            select(RequestEvent).where(RequestEvent.to_status == "approved")
        ).all()
    assert len(approvals) == 1
    # The repeat said nothing either: no "already approved" error, no second message.
    assert slack.api.calls_to("response_url") == []
    assert count(engine, InboundMessage) == 3  # the booking, one approval, the assign


def test_a_retried_app_home_event_is_harmless(slack: SlackHarness, engine: Engine) -> None:
    ok(slack.post(submission("1")))
    before = rows(engine)
    body = event_body(app_home_opened(ZEELAND_CONTACT))
    ok(slack.post(body))
    ok(slack.post(body, retry_num=1, retry_reason="http_timeout"))
    # A barrier: another user's event is handled after the two deliveries above.
    ok(slack.post(event_body(app_home_opened(COORDINATOR))))
    published = slack.api.wait_for("views.publish", count=2)
    assert sorted(c.args["user_id"] for c in published) == sorted([ZEELAND_CONTACT, COORDINATOR])
    assert "STO-2026-0001" in json.dumps(slack.api.home_views[ZEELAND_CONTACT]["blocks"])
    after = rows(engine)
    assert after.pop("InboundMessage") == before.pop("InboundMessage") + 2  # by event_id
    assert after == before  # nothing booked, nothing said


# ---- rate limits -----------------------------------------------------------------------


def test_a_429_during_dispatch_is_waited_out_and_the_dm_arrives_once(
    slack: SlackHarness, engine: Engine
) -> None:
    ok(slack.post(submission("1")))
    slack.api.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    assert slack.dispatch() == 2
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    posts = slack.api.calls_to("chat.postMessage")
    assert sum(c.limited for c in posts) == 1
    delivered = [c for c in posts if c.args["channel"] == DM and c.ok]
    assert len(delivered) == 1 and "STO-2026-0001" in delivered[0].args["text"]
    assert len([c for c in posts if c.args["channel"] == TEAM_CHANNEL and c.ok]) == 1
    with Session(engine) as session:
        # (App Home refreshes wait: `dispatch()` delivers messages only)
        statuses = session.exec(
            select(Notification.status).where(Notification.channel != "home")
        ).all()
    assert statuses and set(statuses) == {"sent"}


# ---- concurrency ------------------------------------------------------------------------


def test_concurrent_submissions_never_overdraw(slack: SlackHarness, engine: Engine) -> None:
    """Ten contacts' clicks at once, a day each, against 4,5 days: four fit, six are told."""
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: ok(slack.post(submission("1"))), range(10)))
    booked = [a for a in answers if a.body in ("", "{}")]
    refused = [a.json() for a in answers if a.body not in ("", "{}")]
    assert len(booked) == 4 and len(refused) == 6
    for answer in refused:
        assert answer["response_action"] == "errors"
        assert "nog" in answer["errors"]["days"] and "beschikbaar" in answer["errors"]["days"]
    assert count(engine, SupportRequest) == 4
    assert reserved(engine, "ZEELAND") == Decimal("4")
    assert available(engine, "ZEELAND") == Decimal("0.5")


def test_concurrent_mixed_sizes_fill_exactly(slack: SlackHarness, engine: Engine) -> None:
    sizes = ["1,5", "2", "0,5", "1", "2,5", "1,5", "0,5", "3", "1", "2"]
    with ThreadPoolExecutor(max_workers=len(sizes)) as pool:
        answers = list(pool.map(lambda days: ok(slack.post(submission(days))), sizes))
    fitted = [
        Decimal(days.replace(",", "."))
        for days, a in zip(sizes, answers, strict=True)
        if a.body in ("", "{}")
    ]
    assert sum(fitted) == reserved(engine, "ZEELAND") <= Decimal("4.5")
    assert available(engine, "ZEELAND") >= 0
    assert available(engine, "ZEELAND") == Decimal("4.5") - sum(fitted)
    left = available(engine, "ZEELAND")
    for days, answer in zip(sizes, answers, strict=True):
        if answer.body not in ("", "{}"):
            # Refused only what did not fit at the moment it was decided: more than is left now.
            assert Decimal(days.replace(",", ".")) > left
            assert "beschikbaar" in answer.json()["errors"]["days"]


def test_a_submission_finished_after_slacks_deadline_keeps_nothing(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack has told the person it failed: the booking must not stay behind, so a retry
    does not book twice. (The budget is made negative: every submission is 'too late'.)"""
    import bot.slack.deps

    before = rows(engine)
    monkeypatch.setattr(bot.slack.deps, "ACK_BUDGET", -1.0)
    response = slack.post(submission("1,5"))
    assert response.status != 200 or response.body not in ("", "{}")  # never a plain ack
    assert rows(engine) == {**before, "InboundMessage": before["InboundMessage"]}
    assert available(engine, "ZEELAND") == Decimal("4.5")
    monkeypatch.setattr(bot.slack.deps, "ACK_BUDGET", 2.5)
    ok(slack.post(submission("1,5")))  # the person tries again, in time: booked once
    assert count(engine, SupportRequest) == 1
    assert available(engine, "ZEELAND") == Decimal("3")
