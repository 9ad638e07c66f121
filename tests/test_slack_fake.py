"""The fake Slack behaves like Slack where the Slack channel's tests rely on it.

Checked with the real clients: slack_sdk's WebClient and AsyncWebClient (with their
rate-limit retry handlers), SignatureVerifier, the aiohttp Socket Mode client, and
bolt's AsyncApp in HTTP mode and in Socket Mode. Async scenarios run under
`asyncio.run` inside plain test functions.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.slack_fake import (
    FORM,
    JSON,
    SIGNING_SECRET,
    Ack,
    FakeSlackApi,
    FakeSocketModeServer,
    ThreadedAppServer,
    app_home_opened,
    block_actions,
    event_body,
    event_payload,
    interaction_body,
    post_signed,
    post_signed_async,
    sign,
    signature,
    slash_command_body,
    slash_command_payload,
    state_date,
    state_select,
    state_text,
    url_verification_body,
    view_submission,
)

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Nieuwe aanvraag*"}}]
MODAL = {
    "type": "modal",
    "callback_id": "aanvraag",
    "title": {"type": "plain_text", "text": "Aanvraag"},
    "blocks": BLOCKS,
    "private_metadata": "regio=7",
}
TS = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture
def api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def socket_server(api: FakeSlackApi) -> Iterator[FakeSocketModeServer]:
    with FakeSocketModeServer() as server:
        api.socket_url = server.url
        yield server


def sync_client(api: FakeSlackApi, **kwargs: Any) -> WebClient:
    return WebClient(base_url=api.url, token=kwargs.pop("token", api.token), **kwargs)


def async_client(api: FakeSlackApi, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(base_url=api.url, token=kwargs.pop("token", api.token), **kwargs)


# ---- Web API ---------------------------------------------------------------------------


def test_url_ends_with_slash_and_the_client_calls_methods_under_it(api: FakeSlackApi) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", api.url)
    sync_client(api).auth_test()
    (call,) = api.calls
    assert call.path == "/api/auth.test"


def test_auth_test_answers_the_bot(api: FakeSlackApi) -> None:
    answer = sync_client(api).auth_test()
    assert answer["ok"] is True
    assert answer["user_id"] == api.bot_user_id
    assert answer["bot_id"] == api.bot_id
    assert answer["team_id"] == api.team_id
    assert answer["url"].startswith("https://")


def test_async_client_posts_and_updates_a_message(api: FakeSlackApi) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = async_client(api)
        posted = await client.chat_postMessage(channel="C1", text="Nieuwe aanvraag", blocks=BLOCKS)
        updated = await client.chat_update(
            channel="C1", ts=posted["ts"], text="Goedgekeurd", blocks=[]
        )
        return dict(posted.data), dict(updated.data)  # type: ignore[arg-type]

    posted, updated = asyncio.run(scenario())
    assert posted["ok"] is True
    assert posted["channel"] == "C1"
    assert TS.match(posted["ts"])
    assert posted["message"]["blocks"] == BLOCKS
    assert posted["message"]["bot_id"] == api.bot_id
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Goedgekeurd"
    assert api.messages[posted["ts"]]["text"] == "Goedgekeurd"
    assert api.messages[posted["ts"]]["channel"] == "C1"

    post, update = api.calls
    assert (post.method, update.method) == ("chat.postMessage", "chat.update")
    assert post.args["blocks"] == BLOCKS  # JSON body, decoded
    assert post.headers["authorization"] == f"Bearer {api.token}"
    assert post.headers["content-type"].startswith(JSON)
    assert post.token == api.token


def test_message_timestamps_are_unique_and_increasing(api: FakeSlackApi) -> None:
    client = sync_client(api)
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(3)]
    stamps.append(client.chat_postEphemeral(channel="C1", user="U1", text="x")["message_ts"])
    stamps.append(client.chat_postMessage(channel="C2", text="y")["ts"])
    assert all(TS.match(ts) for ts in stamps)
    assert [Decimal(ts) for ts in stamps] == sorted({Decimal(ts) for ts in stamps})


def test_delete_removes_the_message(api: FakeSlackApi) -> None:
    client = sync_client(api)
    ts = client.chat_postMessage(channel="C1", text="weg ermee")["ts"]
    answer = client.chat_delete(channel="C1", ts=ts)
    assert (answer["channel"], answer["ts"]) == ("C1", ts)
    assert ts not in api.messages


def test_strict_mode_refuses_unknown_messages_and_views(api: FakeSlackApi) -> None:
    client = sync_client(api)
    assert client.chat_update(channel="C1", ts="1.000001", text="x")["ok"]  # lenient default
    api.strict = True
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel="C1", ts="1.000002", text="x")
    assert info.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as info:
        client.chat_delete(channel="C1", ts="1.000002")
    assert info.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as info:
        client.views_update(view_id="V404", view=MODAL)
    assert info.value.response["error"] == "not_found"


def test_missing_text_and_channel_are_refused(api: FakeSlackApi) -> None:
    client = sync_client(api)
    with pytest.raises(SlackApiError) as info:
        client.api_call("chat.postMessage", json={"channel": "C1"})
    assert info.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as info:
        client.api_call("chat.postMessage", json={"text": "x"})
    assert info.value.response["error"] == "channel_not_found"


def test_form_encoded_calls_are_parsed_and_json_fields_decoded(api: FakeSlackApi) -> None:
    client = sync_client(api)
    client.api_call(
        "chat.postMessage",
        data={"channel": "C1", "text": "x", "blocks": json.dumps(BLOCKS), "unfurl_links": "0"},
    )
    opened = client.api_call("views.open", data={"trigger_id": "1.2.3", "view": json.dumps(MODAL)})
    post, views_open = api.calls
    assert post.headers["content-type"].startswith(FORM)
    assert post.args == {"channel": "C1", "text": "x", "blocks": BLOCKS, "unfurl_links": "0"}
    assert views_open.args["view"] == MODAL
    assert opened["view"]["callback_id"] == "aanvraag"


def test_query_string_arguments_are_recorded(api: FakeSlackApi) -> None:
    api.users["U1"] = {"email": "a@school.example"}

    async def scenario() -> None:
        await async_client(api).users_info(user="U1")  # a GET, arguments in the query

    asyncio.run(scenario())
    (call,) = api.calls
    assert call.http_method == "GET"
    assert call.args == {"user": "U1"}


def test_broken_json_and_broken_handlers_are_answered_not_crashed(api: FakeSlackApi) -> None:
    request = urllib.request.Request(
        api.url + "chat.postMessage",
        data=b"{not json",
        headers={"Content-Type": JSON, "Authorization": f"Bearer {api.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"ok": False, "error": "invalid_json"}
    api.on("reactions.add", lambda args: {"ok": True, "x": args["missing"]})
    with pytest.raises(SlackApiError) as info:
        sync_client(api).reactions_add(channel="C1", timestamp="1.000001", name="tada")
    assert info.value.response["error"] == "fake_handler_failed"
    assert "missing" in info.value.response["detail"]


def test_conversations_open_and_posting_to_a_user_use_the_dm(api: FakeSlackApi) -> None:
    client = sync_client(api)
    assert client.conversations_open(users="U1")["channel"]["id"] == "DU1"
    assert client.chat_postMessage(channel="U1", text="hoi")["channel"] == "DU1"


def test_views_open_update_push_and_publish(api: FakeSlackApi) -> None:
    async def scenario() -> None:
        client = async_client(api)
        opened = (await client.views_open(trigger_id="1.2.3", view=MODAL))["view"]
        assert re.fullmatch(r"V\w+", opened["id"])
        assert opened["callback_id"] == "aanvraag"
        assert opened["private_metadata"] == "regio=7"
        assert opened["blocks"] == BLOCKS
        assert opened["root_view_id"] == opened["id"]
        assert opened["state"] == {"values": {}}

        changed = {**MODAL, "blocks": []}
        updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)
        assert updated["view"]["id"] == opened["id"]
        assert updated["view"]["blocks"] == []
        assert updated["view"]["hash"] != opened["hash"]  # a new hash per version
        with pytest.raises(SlackApiError) as info:  # the view changed since `opened`
            await client.views_update(view_id=opened["id"], hash="0.stale", view=MODAL)
        assert info.value.response["error"] == "hash_conflict"

        pushed = await client.views_push(trigger_id="1.2.4", view=MODAL)
        assert pushed["view"]["id"] != opened["id"]

        home = {"type": "home", "blocks": BLOCKS}
        first = (await client.views_publish(user_id="U1", view=home))["view"]
        again = (await client.views_publish(user_id="U1", view=home))["view"]
        assert first["type"] == "home"
        assert again["id"] == first["id"]  # one home view per user

    asyncio.run(scenario())
    assert api.home_views["U1"]["blocks"] == BLOCKS
    assert [c.method for c in api.calls] == [
        "views.open",
        "views.update",
        "views.update",
        "views.push",
        "views.publish",
        "views.publish",
    ]


def test_views_open_needs_a_trigger_id(api: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as info:
        sync_client(api).api_call("views.open", json={"view": MODAL})
    assert info.value.response["error"] == "invalid_arguments"


def test_users_info_answers_the_configured_profile(api: FakeSlackApi) -> None:
    api.users["U1"] = {"email": "juf.jansen@school.example", "real_name": "Anna Jansen"}
    client = sync_client(api)
    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1"
    assert user["real_name"] == "Anna Jansen"
    assert user["tz"] == "Europe/Amsterdam"
    assert user["profile"]["email"] == "juf.jansen@school.example"
    assert user["profile"]["real_name"] == "Anna Jansen"
    assert "display_name" in user["profile"]

    found = client.users_lookupByEmail(email="JUF.JANSEN@school.example")
    assert found["user"]["id"] == "U1"

    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U404")
    assert info.value.response["error"] == "user_not_found"
    with pytest.raises(SlackApiError) as info:
        client.users_lookupByEmail(email="nobody@school.example")
    assert info.value.response["error"] == "users_not_found"


def test_a_wrong_token_is_refused_as_invalid_auth(api: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as info:
        sync_client(api, token="xoxb-wrong").chat_postMessage(channel="C1", text="x")
    assert info.value.response["error"] == "invalid_auth"

    async def scenario() -> None:
        with pytest.raises(SlackApiError) as info:
            await async_client(api, token="xoxb-wrong").auth_test()
        assert info.value.response["error"] == "invalid_auth"

    asyncio.run(scenario())
    assert [c.ok for c in api.calls] == [False, False]
    assert not api.messages


def test_the_app_token_only_opens_connections(api: FakeSlackApi) -> None:
    client = sync_client(api, token=api.app_token)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as info:
        sync_client(api).apps_connections_open(app_token=api.token)
    assert info.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as info:  # no socket server wired up
        sync_client(api).apps_connections_open(app_token=api.app_token)
    assert info.value.response["error"] == "fake_socket_url_not_set"
    api.socket_url = "ws://127.0.0.1:1/link/"
    assert sync_client(api).apps_connections_open(app_token=api.app_token)["url"] == api.socket_url


def test_no_token_is_not_authed(api: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as info:
        WebClient(base_url=api.url).chat_postMessage(channel="C1", text="x")
    assert info.value.response["error"] == "not_authed"


def test_rate_limit_is_retried_by_the_async_retry_handler(api: FakeSlackApi) -> None:
    api.rate_limit("chat.postMessage", times=1, retry_after=0)

    async def scenario() -> str:
        client = async_client(api, retry_handlers=[AsyncRateLimitErrorRetryHandler()])
        answer = await client.chat_postMessage(channel="C1", text="na de limiet")
        return str(answer["ts"])

    ts = asyncio.run(scenario())
    limited, passed = api.calls_to("chat.postMessage")
    assert limited.limited and limited.status == 429
    assert limited.response == {"ok": False, "error": "ratelimited"}
    assert not passed.limited and passed.response["ts"] == ts
    assert api.messages[ts]["text"] == "na de limiet"


def test_rate_limit_is_retried_by_the_sync_retry_handler(api: FakeSlackApi) -> None:
    api.rate_limit("users.info", times=1, retry_after=0)
    api.users["U1"] = {"email": "a@school.example"}
    client = sync_client(api, retry_handlers=[RateLimitErrorRetryHandler()])
    assert client.users_info(user="U1")["user"]["profile"]["email"] == "a@school.example"
    assert [c.limited for c in api.calls_to("users.info")] == [True, False]


def test_rate_limit_without_a_retry_handler_surfaces_retry_after(api: FakeSlackApi) -> None:
    api.rate_limit("chat.update", times=2, retry_after=7)
    client = sync_client(api)
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            client.chat_update(channel="C1", ts="1.000001", text="x")
        assert info.value.response.status_code == 429
        assert info.value.response["error"] == "ratelimited"
        assert info.value.response.headers["retry-after"] in ("7", ["7"])
    assert client.chat_update(channel="C1", ts="1.000001", text="x")["ok"]


def test_fail_answers_the_error_then_recovers(api: FakeSlackApi) -> None:
    api.fail("chat.postMessage", error="channel_not_found", times=1)
    api.fail("chat.postMessage", error="not_in_channel")
    client = sync_client(api)
    errors = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(channel="C1", text="x")
        errors.append(info.value.response["error"])
    assert errors == ["channel_not_found", "not_in_channel"]
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_custom_handlers_and_unknown_methods(api: FakeSlackApi) -> None:
    api.on("conversations.members", lambda args: {"ok": True, "members": ["U1", "U2"]})
    client = sync_client(api)
    assert client.conversations_members(channel="C1")["members"] == ["U1", "U2"]
    assert client.api_call("reactions.add", json={"name": "white_check_mark"})["ok"] is True


def test_wait_for_blocks_until_the_call_arrives(api: FakeSlackApi) -> None:
    worker = threading.Thread(
        target=lambda: sync_client(api).chat_postMessage(channel="C1", text="later")
    )
    worker.start()
    try:
        (call,) = api.wait_for("chat.postMessage", count=1, timeout=5)
    finally:
        worker.join(5)
    assert call.args["text"] == "later"


def test_wait_for_times_out_naming_what_arrived(api: FakeSlackApi) -> None:
    sync_client(api).auth_test()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"chat\.update.*auth\.test"):
        api.wait_for("chat.update", timeout=0.2)
    assert time.monotonic() - started < 2


def test_reset_forgets_calls_and_plans_but_keeps_configuration(api: FakeSlackApi) -> None:
    api.users["U1"] = {"email": "a@school.example"}
    api.fail("auth.test")
    client = sync_client(api)
    client.chat_postMessage(channel="C1", text="x")
    api.reset()
    assert api.calls == [] and api.messages == {}
    assert client.auth_test()["ok"]
    assert client.users_info(user="U1")["ok"]


def test_response_url_posts_are_recorded(api: FakeSlackApi) -> None:
    url = api.response_url()
    response = WebhookClient(url).send(text="Je aanvraag is ingediend", response_type="ephemeral")
    assert response.status_code == 200
    (call,) = api.calls_to("response_url")
    assert call.args == {"text": "Je aanvraag is ingediend", "response_type": "ephemeral"}
    assert url.endswith(call.path)


def test_async_context_manager_and_async_wait(api: FakeSlackApi) -> None:
    async def scenario() -> None:
        async with FakeSlackApi() as other:
            client = async_client(other)
            task = asyncio.create_task(client.chat_postMessage(channel="C1", text="x"))
            (call,) = await other.wait_for_async("chat.postMessage")
            await task
            assert call.args["text"] == "x"

    asyncio.run(scenario())


# ---- signing and request bodies -----------------------------------------------------


def test_signature_verifier_accepts_what_sign_produces() -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    for body in (
        slash_command_body(),
        interaction_body(block_actions("U1", "goedkeuren", "42", "1700000000.000100", "C1")),
        event_body(app_home_opened("U1")),
        url_verification_body("uitdaging"),
    ):
        headers = sign(SIGNING_SECRET, body)
        assert verifier.is_valid_request(body, headers)
        assert verifier.is_valid(
            body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        )
        assert headers["X-Slack-Signature"] == verifier.generate_signature(
            timestamp=headers["X-Slack-Request-Timestamp"], body=body
        )


def test_signature_verifier_rejects_tampering_and_stale_timestamps() -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    body = slash_command_body(text="saldo")
    headers = sign(SIGNING_SECRET, body)
    assert not verifier.is_valid_request(body.replace("saldo", "reset"), headers)
    assert not verifier.is_valid_request(body, sign("another-secret", body))
    stale = sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 5 * 60 - 30)
    assert not verifier.is_valid_request(body, stale)
    fresh_enough = sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 60)
    assert verifier.is_valid_request(body, fresh_enough)


def test_signature_matches_slacks_documented_example() -> None:
    # Slack's "Verifying requests from Slack" walkthrough: secret, timestamp, body, signature.
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert (
        signature("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)
        == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_content_types_follow_the_body() -> None:
    assert sign("s", slash_command_body())["Content-Type"] == FORM
    assert sign("s", interaction_body({"type": "block_actions"}))["Content-Type"] == FORM
    assert sign("s", event_body({"type": "app_mention"}))["Content-Type"] == JSON
    assert sign("s", "{}", content_type="text/plain")["Content-Type"] == "text/plain"


def test_slash_command_body_has_every_field_slack_sends() -> None:
    body = slash_command_body(command="/sto", text="saldo regio 7", user_id="U9", channel_id="C9")
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert set(fields) == {
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    }
    assert "command=%2Fsto" in body and "text=saldo+regio+7" in body
    assert (fields["user_id"], fields["channel_id"], fields["text"]) == (
        "U9",
        "C9",
        "saldo regio 7",
    )
    assert fields["is_enterprise_install"] == "false"
    assert slash_command_payload()["trigger_id"] != slash_command_payload()["trigger_id"]


def test_interaction_and_event_bodies_round_trip() -> None:
    clicked = block_actions("U1", "goedkeuren", "aanvraag-42", "1700000000.000100", "C7")
    assert json.loads(parse_qs(interaction_body(clicked))["payload"][0]) == clicked
    assert clicked["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C7",
        "is_ephemeral": False,
    }
    assert clicked["actions"][0]["value"] == "aanvraag-42"
    in_modal = block_actions("U1", "kies", "x", view={"id": "V1", "type": "modal"})
    assert in_modal["container"] == {"type": "view", "view_id": "V1"}

    submitted = view_submission(
        "U1",
        "aanvraag",
        {"datum": {"d": state_date("2026-12-01")}, "regio": {"r": state_select("7")}},
        private_metadata="42",
    )
    assert submitted["view"]["callback_id"] == "aanvraag"
    assert submitted["view"]["state"]["values"]["datum"]["d"]["selected_date"] == "2026-12-01"
    assert submitted["view"]["state"]["values"]["regio"]["r"]["selected_option"]["value"] == "7"

    event = json.loads(event_body(app_home_opened("U1"), event_id="Ev1", event_time=1700000000))
    assert event["type"] == "event_callback"
    assert (event["event_id"], event["event_time"]) == ("Ev1", 1700000000)
    assert event["event"]["type"] == "app_home_opened"
    assert {"team_id", "api_app_id", "authorizations"} <= event.keys()
    assert event_payload({"type": "x"})["event_id"] != event_payload({"type": "x"})["event_id"]
    assert json.loads(url_verification_body("abc")) == {
        "token": "verification-token",
        "challenge": "abc",
        "type": "url_verification",
    }


async def _echo(request: web.Request) -> web.Response:
    body = await request.text()
    verified = SignatureVerifier(SIGNING_SECRET).is_valid_request(body, dict(request.headers))
    return web.json_response(
        {"body": body, "headers": {k.lower(): v for k, v in request.headers.items()}},
        status=200 if verified else 401,
    )


@pytest.fixture
def echo_server() -> Iterator[ThreadedAppServer]:
    app = web.Application()
    app.router.add_post("/slack/events", _echo)
    with ThreadedAppServer(app) as server:
        yield server


def test_post_signed_sends_what_slack_sends(echo_server: ThreadedAppServer) -> None:
    url = echo_server.base + "/slack/events"
    body = event_body({"type": "app_mention", "text": "hoi"})
    status, headers, text = post_signed(
        url, body, SIGNING_SECRET, retry_num=1, retry_reason="http_timeout"
    )
    assert status == 200
    assert headers["content-type"].startswith(JSON)
    seen = json.loads(text)
    assert seen["body"] == body
    assert seen["headers"]["content-type"] == JSON
    assert seen["headers"]["x-slack-retry-num"] == "1"
    assert seen["headers"]["x-slack-retry-reason"] == "http_timeout"
    assert seen["headers"]["x-slack-signature"].startswith("v0=")

    status, _, _ = post_signed(url, slash_command_body(), "wrong-secret")
    assert status == 401  # returned, not raised
    status, _, _ = post_signed(url, body, SIGNING_SECRET, timestamp=int(time.time()) - 3600)
    assert status == 401

    async def scenario() -> tuple[int, dict[str, str], str]:
        return await post_signed_async(url, slash_command_body(), SIGNING_SECRET)

    status, _, text = asyncio.run(scenario())
    assert status == 200
    assert json.loads(text)["headers"]["content-type"] == FORM


def test_bolt_http_mode_accepts_the_signed_requests(api: FakeSlackApi) -> None:
    """The bodies and signatures pass bolt's own verification and routing."""
    app = AsyncApp(client=async_client(api), signing_secret=SIGNING_SECRET)

    @app.command("/sto")
    async def command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(f"saldo voor {command['user_id']}: {command['text']}")

    @app.action("goedkeuren")
    async def approve(ack: AsyncAck, body: dict[str, Any], say: AsyncSay) -> None:
        await ack()
        await say(f"goedgekeurd: {body['actions'][0]['value']}")

    @app.view("aanvraag")
    async def submit(ack: AsyncAck, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        if not values["aantal"]["a"]["value"]:
            await ack(response_action="errors", errors={"aantal": "Vul een aantal in"})
        else:
            await ack()

    with ThreadedAppServer(app.web_app()) as server:
        url = server.base + "/slack/events"
        status, _, text = post_signed(url, slash_command_body(text="regio 7", user_id="U3"))
        assert (status, text) == (200, "saldo voor U3: regio 7")

        clicked = block_actions("U1", "goedkeuren", "aanvraag-42", "1700000000.000100", "C1")
        status, _, _ = post_signed(url, interaction_body(clicked))
        assert status == 200
        (said,) = api.wait_for("chat.postMessage")
        assert (said.args["channel"], said.args["text"]) == ("C1", "goedgekeurd: aanvraag-42")

        empty = view_submission("U1", "aanvraag", {"aantal": {"a": state_text(None)}})
        status, _, text = post_signed(url, interaction_body(empty))
        assert status == 200
        assert json.loads(text) == {
            "response_action": "errors",
            "errors": {"aantal": "Vul een aantal in"},
        }

        status, _, text = post_signed(url, url_verification_body("uitdaging-123"))
        assert (status, json.loads(text)) == (200, {"challenge": "uitdaging-123"})

        status, _, _ = post_signed(url, slash_command_body(), "wrong-secret")
        assert status == 401


# ---- Socket Mode ---------------------------------------------------------------------


def test_socket_mode_round_trip_with_slack_sdk(
    api: FakeSlackApi, socket_server: FakeSocketModeServer
) -> None:
    requests: list[SocketModeRequest] = []

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        requests.append(request)
        answer = {"text": f"saldo: {request.payload['text']}"}
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id, answer))

    async def scenario() -> Ack:
        client = SocketModeClient(app_token=api.app_token, web_client=async_client(api))
        client.socket_mode_request_listeners.append(on_request)
        try:
            await asyncio.wait_for(client.connect(), 10)  # type: ignore[no-untyped-call]
            envelope_id = socket_server.send_slash_command(slash_command_payload(text="regio 7"))
            return await socket_server.wait_for_ack_async(envelope_id, timeout=10)
        finally:
            await client.close()  # type: ignore[no-untyped-call]

    ack = asyncio.run(scenario())
    assert ack.payload == {"text": "saldo: regio 7"}
    assert ack.delay < 3
    (request,) = requests
    assert request.type == "slash_commands"
    assert request.accepts_response_payload is True
    assert request.payload["command"] == "/sto"
    (opened,) = api.calls_to("apps.connections.open")
    assert opened.token == api.app_token
    hello = socket_server.sent[0]
    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": api.app_id}
    assert hello["num_connections"] == 1


def test_socket_mode_client_reconnects_after_disconnect(
    api: FakeSlackApi, socket_server: FakeSocketModeServer
) -> None:
    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    async def scenario() -> Ack:
        client = SocketModeClient(app_token=api.app_token, web_client=async_client(api))
        client.socket_mode_request_listeners.append(on_request)
        try:
            await asyncio.wait_for(client.connect(), 10)  # type: ignore[no-untyped-call]
            socket_server.send_disconnect("refresh_requested")
            await socket_server.wait_connected_async(count=2, timeout=10)
            clicked = block_actions("U1", "goedkeuren", "42", "1700000000.000100", "C1")
            return await socket_server.wait_for_ack_async(
                socket_server.send_interactive(clicked), timeout=10
            )
        finally:
            await client.close()  # type: ignore[no-untyped-call]

    ack = asyncio.run(scenario())
    assert ack.payload is None
    assert len(api.calls_to("apps.connections.open")) == 2
    assert socket_server.connections_total == 2


def test_socket_mode_client_reconnects_after_the_server_drops_it(
    api: FakeSlackApi, socket_server: FakeSocketModeServer
) -> None:
    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    async def scenario() -> Ack:
        client = SocketModeClient(app_token=api.app_token, web_client=async_client(api))
        client.socket_mode_request_listeners.append(on_request)
        try:
            await asyncio.wait_for(client.connect(), 10)  # type: ignore[no-untyped-call]
            await asyncio.to_thread(socket_server.drop_connections)
            await socket_server.wait_connected_async(count=2, timeout=10)
            return await socket_server.wait_for_ack_async(
                socket_server.send_event(app_home_opened("U1")), timeout=10
            )
        finally:
            await client.close()  # type: ignore[no-untyped-call]

    ack = asyncio.run(scenario())
    assert ack.payload is None
    assert len(api.calls_to("apps.connections.open")) == 2


def test_envelopes_nobody_receives_are_reported() -> None:
    with FakeSocketModeServer(deliver_timeout=0.2) as server:
        envelope_id = server.send_event(app_home_opened("U1"))
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="never delivered"):
            server.wait_for_ack(envelope_id, timeout=5)
        assert time.monotonic() - started < 3


def test_bolt_socket_mode_app_against_the_fakes(
    api: FakeSlackApi, socket_server: FakeSocketModeServer
) -> None:
    """bolt's AsyncSocketModeHandler: ack payloads, listeners calling the Web API."""
    api.users["U1"] = {"email": "juf.jansen@school.example", "real_name": "Anna Jansen"}

    async def scenario() -> tuple[Ack, Ack, Ack]:
        app = AsyncApp(client=async_client(api))

        @app.command("/sto")
        async def command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
            user = await client.users_info(user=command["user_id"])
            await ack(f"saldo voor {user['user']['profile']['email']}")

        @app.event("app_home_opened")
        async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
            await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

        @app.view("aanvraag")
        async def submit(ack: AsyncAck) -> None:
            await ack(response_action="errors", errors={"datum": "Kies een schooldag"})

        handler = AsyncSocketModeHandler(app, app_token=api.app_token)
        try:
            await asyncio.wait_for(handler.connect_async(), 10)  # type: ignore[no-untyped-call]
            slash = socket_server.send_slash_command(slash_command_payload(user_id="U1"))
            event = socket_server.send_event(app_home_opened("U1"))
            modal = socket_server.send_interactive(
                view_submission("U1", "aanvraag", {"datum": {"d": state_date("2026-12-25")}})
            )
            acks = (
                await socket_server.wait_for_ack_async(slash, timeout=10),
                await socket_server.wait_for_ack_async(event, timeout=10),
                await socket_server.wait_for_ack_async(modal, timeout=10),
            )
            await api.wait_for_async("views.publish", timeout=10)
            return acks
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    slash, event, modal = asyncio.run(scenario())
    assert slash.payload == {"text": "saldo voor juf.jansen@school.example"}
    assert event.payload is None
    assert modal.payload == {"response_action": "errors", "errors": {"datum": "Kies een schooldag"}}
    assert api.home_views["U1"]["type"] == "home"
