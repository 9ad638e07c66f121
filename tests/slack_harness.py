"""The Slack channel under test: our Bolt app in HTTP mode against the fake Slack.

The app is built exactly as `sto run` builds it (bot.slack.app), served by a
real aiohttp server, and fed requests signed as Slack signs them. Its Web API
calls go to FakeSlackApi through STO_SLACK_API_URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.slack.app import add_http_route, build_app
from bot.slack.deps import SlackDeps
from bot.slack.notifier import SlackNotifier
from config.settings import Settings
from models import homes as home_refresh
from models.clock import FixedClock
from models.db import transaction
from models.tables import Contact, Region, RegionContact, Supporter, SupportRequest
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, RegionFactory
from tests.slack_fake import (
    SIGNING_SECRET,
    FakeSlackApi,
    ThreadedAppServer,
    block_actions,
    interaction_body,
    post_signed,
    slash_command_body,
    state_date,
    state_select,
    state_text,
    view_submission,
)

TEAM_CHANNEL = "CTEAM"
ZEELAND_CONTACT = "UZEE"  # contact of ZEELAND
TWENTE_CONTACT = "UTWE"  # contact of TWENTE
COORDINATOR = "UTEAM"  # a team member
CRITICAL_FRIEND = "UCF"  # ZEELAND's critical friend (not team)


def people(engine: Engine) -> None:
    """Contacts, a critical friend and a coordinator with Slack ids (regions must exist)."""
    with transaction(engine) as session:
        cf = Supporter(
            email="cf@sto.example", name="Carla Vriend", role="critical_friend",
            slack_user_id=CRITICAL_FRIEND,
        )  # fmt: skip
        team = Supporter(
            email="coord@sto.example", name="Coby Ordina", role="coordinator",
            slack_user_id=COORDINATOR,
        )  # fmt: skip
        session.add_all([cf, team])
        session.flush()
        for code, user, email, name in (
            ("ZEELAND", ZEELAND_CONTACT, "zee@school.example", "Zeger Zeeuw"),
            ("TWENTE", TWENTE_CONTACT, "twe@school.example", "Tineke Twent"),
        ):
            found = session.exec(select(Region).where(Region.code == code)).one()
            if code == "ZEELAND":
                found.critical_friend_id = cf.id
                session.add(found)
            contact = Contact(email=email, name=name, slack_user_id=user)
            session.add(contact)
            session.flush()
            assert found.id is not None and contact.id is not None
            session.add(RegionContact(region_id=found.id, contact_id=contact.id))


def populate(engine: Engine, make_region: RegionFactory) -> None:
    """The regions the Slack tests use (ZEELAND 4,5 days, TWENTE 5) and their people."""
    make_region("ZEELAND", days="4,5")
    make_region("TWENTE", days="5")
    people(engine)


def request_form(
    days: str,
    *,
    kind: str = "process",
    theme: str | None = None,
    description: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """The request modal's state values, as Slack submits them (None: left empty)."""
    return {
        "kind": {"value": state_select(kind)},
        "days": {"value": state_text(days)},
        "theme": {"value": state_text(theme)},
        "from": {"value": state_date(start)},
        "to": {"value": state_date(end)},
        "description": {"value": state_text(description)},
    }


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def ok(response: Response) -> Response:
    """Every request is answered 200 within Slack's 3 seconds."""
    assert response.status == 200, response.body
    assert response.seconds < 3
    return response


def show_ack_message(api: FakeSlackApi, body: str, response: Response) -> None:
    """What Slack does with a slash command's ack that carries a message: show it."""
    form = dict(parse_qsl(body))
    if "command" not in form or response.status != 200 or not response.body.strip():
        return
    # Bolt acks a text-only message as plain text, which Slack shows as it is.
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    if not content_type.startswith("application/json"):
        api.shown_in_ack(form.get("response_url", ""), {"text": response.body})
        return
    message = response.json()
    if isinstance(message, dict) and ("text" in message or "blocks" in message):
        api.shown_in_ack(form.get("response_url", ""), message)


@dataclass
class SlackHarness:
    engine: Engine
    api: FakeSlackApi
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))
    server: ThreadedAppServer | None = None
    app: AsyncApp | None = None
    deps: SlackDeps | None = None

    def start(self) -> None:
        settings = Settings(
            database_url=self.engine.url.render_as_string(hide_password=False),
            slack_bot_token=self.api.token,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.api.url,
            slack_team_channel=TEAM_CHANNEL,
            slack_mode="http",
        )
        self.deps = SlackDeps(settings=settings, engine=self.engine, clock=self.clock)
        self.app = build_app(self.deps)
        web_app = web.Application()
        add_http_route(web_app, self.app)
        self.server = ThreadedAppServer(web_app)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.base + "/slack/events"

    def post(self, body: str, **kwargs: Any) -> Response:
        started = time.monotonic()
        status, headers, text = post_signed(self.url, body, SIGNING_SECRET, **kwargs)
        response = Response(status, dict(headers), text, time.monotonic() - started)
        show_ack_message(self.api, body, response)
        return response

    def command(self, text: str, user: str) -> Response:
        body = slash_command_body(text=text, user_id=user, response_url=self.api.response_url())
        return self.post(body)

    def click(self, user: str, action_id: str, value: str, **kwargs: Any) -> Response:
        payload = block_actions(
            user, action_id, value, response_url=self.api.response_url(), **kwargs
        )
        return self.post(interaction_body(payload))

    def submit(
        self, user: str, callback_id: str, values: dict[str, Any], meta: str = ""
    ) -> Response:
        return self.post(interaction_body(view_submission(user, callback_id, values, meta)))

    def replies(self, count: int = 1) -> list[dict[str, Any]]:
        """What the app said through response URLs (ephemeral answers), oldest first."""
        return [c.args for c in self.api.wait_for("response_url", count=count)]

    def until_status(self, ref: str, status: str, timeout: float = 5.0) -> None:
        """Listeners act after the ack: wait until the request got where it should."""
        deadline = time.monotonic() + timeout
        while True:
            with Session(self.engine) as session:
                found = session.exec(
                    select(SupportRequest).where(SupportRequest.ref == ref)
                ).first()
                if found is not None and found.status == status:
                    return
                now_status = found.status if found else None
            assert time.monotonic() < deadline, f"{ref} is {now_status}, not {status}"
            time.sleep(0.02)

    def dispatch(self, *, homes: bool = False) -> int:
        """Deliver the outbox now, as the running process would after a wake-up; with
        `homes` the App Home refreshes too, as a few seconds later (left waiting
        otherwise, so that counts of messages stay counts of messages)."""
        assert self.deps is not None and self.app is not None
        notifier = SlackNotifier(self.deps, self.app.client)
        if homes:
            channels = {"slack": notifier, "team": notifier, "home": notifier}
            clock = FixedClock(self.clock.now() + home_refresh.DELAY)
            dispatcher = Dispatcher(self.engine, channels, clock)
        else:
            dispatcher = Dispatcher(self.engine, {"slack": notifier, "team": notifier}, self.clock)

        async def drain() -> int:
            total = 0
            while handled := await dispatcher.run_once():
                total += handled
            return total

        return asyncio.run(drain())


@contextmanager
def running(engine: Engine) -> Iterator[SlackHarness]:
    """The fake Slack and our app serving HTTP in front of it, stopped on the way out."""
    with FakeSlackApi() as api:
        harness = SlackHarness(engine, api)
        harness.start()
        try:
            yield harness
        finally:
            harness.stop()
