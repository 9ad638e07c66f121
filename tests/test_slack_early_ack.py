"""EarlyAckApp: Slack gets the ack the moment a listener acks; the work goes on after.

A real aiohttp server in front of the app, requests signed as Slack signs them,
the Web API at the fake Slack.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import add_http_route
from bot.slack.early_ack import EarlyAckApp
from tests.slack_fake import (
    SIGNING_SECRET,
    FakeSlackApi,
    ThreadedAppServer,
    block_actions,
    event_body,
    interaction_body,
    post_signed,
)


class Seen:
    def __init__(self) -> None:
        self.finished = threading.Event()
        self.events: list[str] = []


@pytest.fixture
def served() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    with FakeSlackApi() as api:
        app = EarlyAckApp(
            client=AsyncWebClient(token=api.token, base_url=api.url),
            signing_secret=SIGNING_SECRET,
            process_before_response=True,
            raise_error_for_unhandled_request=False,
        )

        @app.action("slow")
        async def slow(ack: AsyncAck) -> None:
            await ack()
            await asyncio.sleep(1.0)  # work after the ack: Slack must not wait for it
            seen.finished.set()

        @app.action("fails_first")
        async def fails_first(ack: AsyncAck) -> None:
            raise RuntimeError("before the ack")

        @app.action("fails_after")
        async def fails_after(ack: AsyncAck) -> None:
            await ack()
            raise RuntimeError("after the ack")

        @app.event("app_home_opened")
        async def home(event: dict[str, Any]) -> None:
            await asyncio.sleep(0.5)
            seen.events.append(event["user"])
            seen.finished.set()

        web_app = web.Application()
        add_http_route(web_app, app)
        with ThreadedAppServer(web_app) as server:
            yield server.base + "/slack/events", seen


def _click(url: str, action_id: str) -> tuple[int, float]:
    started = time.monotonic()
    status, _, _ = post_signed(url, interaction_body(block_actions("U1", action_id, "x")))
    return status, time.monotonic() - started


def test_the_ack_leaves_before_the_work_after_it_is_done(served: tuple[str, Seen]) -> None:
    url, seen = served
    status, seconds = _click(url, "slow")
    assert status == 200 and seconds < 0.5
    assert not seen.finished.is_set()  # still working when Slack had its answer
    assert seen.finished.wait(5)


def test_an_event_is_acked_at_once_and_handled_after(served: tuple[str, Seen]) -> None:
    url, seen = served
    started = time.monotonic()
    body = event_body({"type": "app_home_opened", "user": "U2", "tab": "home"})
    status, _, _ = post_signed(url, body)
    assert status == 200 and time.monotonic() - started < 0.4
    assert seen.finished.wait(5) and seen.events == ["U2"]


def test_a_listener_failing_before_its_ack_gets_bolts_error_answer(
    served: tuple[str, Seen],
) -> None:
    url, _ = served
    status, seconds = _click(url, "fails_first")
    assert status == 500 and seconds < 3


def test_a_listener_failing_after_its_ack_is_logged(
    served: tuple[str, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    with caplog.at_level(logging.ERROR, logger="sto.slack"):
        status, _ = _click(url, "fails_after")
        assert status == 200
        deadline = time.monotonic() + 5
        while "failed after its ack" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "Slack listener fails_after failed after its ack" in caplog.text
