"""Socket Mode end to end, and the Slack app manifest the team pastes.

Socket Mode: our app exactly as `sto run` builds it (bot.slack.app.build_app and
socket_handler, slack-bolt's AsyncSocketModeHandler) connects to a local
WebSocket server through the fake Web API's `apps.connections.open`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

import config
from bot.slack.app import build_app, socket_handler
from bot.slack.deps import SlackDeps
from config.settings import Settings, SlackMode
from models.clock import FixedClock
from models.tables import SupportRequest
from tests.conftest import NOW, RegionFactory
from tests.slack_fake import (
    Ack,
    FakeSlackApi,
    FakeSocketModeServer,
    slash_command_payload,
    view_submission,
)
from tests.slack_harness import TEAM_CHANNEL, ZEELAND_CONTACT, populate, request_form

MANIFEST = Path(config.__file__).parent / "slack-manifest.yaml"


@pytest.fixture
def api(engine: Engine, make_region: RegionFactory) -> Iterator[FakeSlackApi]:
    populate(engine, make_region)
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def server(api: FakeSlackApi) -> Iterator[FakeSocketModeServer]:
    with FakeSocketModeServer() as socket_server:
        api.socket_url = socket_server.url  # apps.connections.open hands this out
        yield socket_server


def _requests(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(SupportRequest)).one())


def test_socket_mode_round_trip(
    api: FakeSlackApi, server: FakeSocketModeServer, engine: Engine
) -> None:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=api.token,
        slack_app_token=api.app_token,
        slack_api_url=api.url,
        slack_team_channel=TEAM_CHANNEL,
    )
    assert settings.slack_mode is SlackMode.socket  # the default with an app token
    deps = SlackDeps(settings=settings, engine=engine, clock=FixedClock(NOW))
    response_url = api.response_url()

    async def scenario() -> tuple[Ack, Ack, Ack]:
        handler = socket_handler(build_app(deps), api.app_token)
        try:
            await asyncio.wait_for(handler.connect_async(), 10)  # type: ignore[no-untyped-call]
            command = server.send_slash_command(
                slash_command_payload(
                    text="saldo", user_id=ZEELAND_CONTACT, response_url=response_url
                )
            )
            command_ack = await server.wait_for_ack_async(command, timeout=10)
            meta = '{"region": "ZEELAND"}'
            too_much = server.send_interactive(
                view_submission(ZEELAND_CONTACT, "request_modal", request_form("5"), meta)
            )
            refused = await server.wait_for_ack_async(too_much, timeout=10)
            fits = server.send_interactive(
                view_submission(ZEELAND_CONTACT, "request_modal", request_form("1,5"), meta)
            )
            booked = await server.wait_for_ack_async(fits, timeout=10)
            return command_ack, refused, booked
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    command_ack, refused, booked = asyncio.run(scenario())

    (opened,) = api.calls_to("apps.connections.open")
    assert opened.token == api.app_token
    # The balance is quick: it rides on the ack's payload, nothing goes to the response URL.
    assert command_ack.delay < 3 and command_ack.payload is not None
    answer = command_ack.payload
    assert "Zeeland" in json.dumps(answer["blocks"]) and "4,5 dag beschikbaar" in json.dumps(
        answer["blocks"]
    )
    assert api.calls_to("response_url") == []

    assert refused.delay < 3
    assert refused.payload is not None
    assert refused.payload["response_action"] == "errors"
    assert "nog 4,5 dag beschikbaar" in refused.payload["errors"]["days"]

    assert booked.delay < 3 and not booked.payload
    assert _requests(engine) == 1


# ---- the manifest -----------------------------------------------------------------------
# PyYAML is not a dependency; the manifest uses a small subset of YAML (block maps,
# block lists, plain and quoted scalars), which this reader understands.


def _tokens(text: str) -> list[tuple[int, str, str]]:
    """(indent, "item" | "entry", text) per line; "- key: v" opens a map item."""
    tokens: list[tuple[int, str, str]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        content = raw.strip()
        if content.startswith("- "):
            rest = content[2:].strip()
            if ": " in rest or rest.endswith(":"):
                tokens += [(indent, "item", ""), (indent + 2, "entry", rest)]
            else:
                tokens.append((indent, "item", rest))
        else:
            tokens.append((indent, "entry", content))
    return tokens


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return {"true": True, "false": False}.get(text, text)


def _parse(tokens: list[tuple[int, str, str]], i: int, indent: int) -> tuple[Any, int]:
    if tokens[i][1] == "item":
        items: list[Any] = []
        while i < len(tokens) and tokens[i][0] == indent and tokens[i][1] == "item":
            if tokens[i][2]:
                items.append(_scalar(tokens[i][2]))
                i += 1
            else:
                value, i = _parse(tokens, i + 1, indent + 2)
                items.append(value)
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(tokens) and tokens[i][0] == indent and tokens[i][1] == "entry":
        key, _, value = tokens[i][2].partition(":")
        i += 1
        if value.strip():
            mapping[key] = _scalar(value)
        elif i < len(tokens) and tokens[i][0] > indent:
            mapping[key], i = _parse(tokens, i, tokens[i][0])
        else:
            mapping[key] = None
    return mapping, i


def load_manifest() -> dict[str, Any]:
    tokens = _tokens(MANIFEST.read_text(encoding="utf-8"))
    manifest, end = _parse(tokens, 0, 0)
    assert end == len(tokens), f"unread manifest line: {tokens[end]}"
    assert isinstance(manifest, dict)
    return manifest


def test_the_manifest_declares_what_the_app_needs() -> None:
    manifest = load_manifest()
    features, settings = manifest["features"], manifest["settings"]

    (command,) = [c for c in features["slash_commands"] if c["command"] == "/sto"]
    assert command["url"].endswith("/slack/events")
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["bot_user"]["display_name"]

    # chat.postMessage / chat.update, conversations.open for DMs, users.info with the email.
    needed = {"commands", "chat:write", "im:write", "users:read", "users:read.email"}
    assert needed <= set(manifest["oauth_config"]["scopes"]["bot"])

    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["socket_mode_enabled"] is True
