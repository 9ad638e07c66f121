"""A local Slack for tests: a Web API server, Socket Mode server and signed requests.

DESIGN.md (Testing) asks for real parts rather than mocks of them, so this module
gives the Slack channel's tests three things the real clients can talk to:

* `FakeSlackApi`: an aiohttp server on 127.0.0.1 that answers the Web API methods
  the assistant uses (`AsyncWebClient(base_url=api.url, token=api.token)`),
  records every call, checks the token and can be told to rate-limit or fail.
* `FakeSocketModeServer`: the WebSocket end of Socket Mode. `apps.connections.open`
  on the fake API hands out its URL (`api.socket_url = server.url`); the test
  pushes envelopes and waits for the acks the app sends back.
* Request bodies as Slack sends them (slash commands, interactions, events) and
  `sign()` / `post_signed()`, which sign them exactly as Slack does (v0, HMAC-SHA256
  over `v0:{timestamp}:{body}`), for HTTP mode (`/slack/events`).

Every server runs its own event loop in a daemon thread, so it keeps answering
whatever the test's own thread or loop is doing. They work as `with` blocks from
plain tests and as `async with` blocks inside `asyncio.run(...)`; blocking waits
(`wait_for`, `wait_for_ack`) have `..._async` twins for use inside a running loop.

Shapes follow Slack's documentation and the payloads bolt-python's own tests use;
the socket frames follow slack_sdk's Socket Mode clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
from aiohttp import web

# The workspace, app and bot the fakes play. Tests rarely need other values; every
# builder and both servers take them as arguments where they matter.
TEAM_ID = "T1"
TEAM_DOMAIN = "sto-test"
TEAM_NAME = "STO Test"
APP_ID = "A1"
BOT_ID = "B1"
BOT_USER_ID = "UBOT"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A1-test-token"
SIGNING_SECRET = "test-signing-secret"
VERIFICATION_TOKEN = "verification-token"

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# Form fields that slack_sdk (and Slack) carry as JSON text inside a form body.
_JSON_FIELDS = frozenset({"blocks", "attachments", "view", "metadata", "unfurls"})
_ids = itertools.count(1)


def _unique(prefix: str = "") -> str:
    return f"{prefix}{next(_ids):06d}{uuid.uuid4().hex[:8].upper()}"


def _trigger_id() -> str:
    return f"{int(time.time())}{next(_ids):04d}.{uuid.uuid4().int % 10**12:012d}.{uuid.uuid4().hex}"


# --------------------------------------------------------------------------------------
# A server in a thread of its own
# --------------------------------------------------------------------------------------


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a stopped loop, wait for it, and close the loop."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _ThreadedServer:
    """An aiohttp application on 127.0.0.1 and a free port, served from a daemon thread."""

    _thread_name = "fake-server"

    def __init__(self) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # Subclasses build the application and may start tasks on the server's loop.
    def _make_app(self) -> web.Application:
        raise NotImplementedError

    async def _started(self) -> None:
        """Runs on the server's loop once the site listens."""

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                _close_loop(loop)
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                _close_loop(loop)

        thread = threading.Thread(target=serve, name=self._thread_name, daemon=True)
        self._thread = thread
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout}s")
        if failure:
            thread.join(timeout)
            self._thread = None
            self._loop = None
            raise failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Close open connections, stop the server and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_site(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = None
            self._loop = None
        if thread.is_alive():
            raise RuntimeError(f"{type(self).__name__} did not stop within {timeout}s")

    async def _start_site(self) -> None:
        runner = web.AppRunner(
            self._make_app(), handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        await self._started()

    async def _stop_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(
                f"{type(self).__name__} is not running (use it as a context manager)"
            )
        return self._loop

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        self._require_loop()
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


class ThreadedAppServer(_ThreadedServer):
    """Serve any aiohttp application (the assistant's HTTP mode, a bolt `web_app()`).

    `with ThreadedAppServer(app) as server: post_signed(server.base + "/slack/events", ...)`
    """

    _thread_name = "threaded-app-server"

    def __init__(self, app: web.Application) -> None:
        super().__init__()
        self._app = app

    def _make_app(self) -> web.Application:
        return self._app


# --------------------------------------------------------------------------------------
# The Web API
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the fake Web API received, and what it answered.

    `args` merges the query string with the body (JSON or form); JSON text in the
    form fields `blocks`, `attachments`, `view`, `metadata` is decoded. `headers`
    has lower-case names. `limited` is true for a call answered with HTTP 429.
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    limited: bool = False
    http_method: str = "POST"
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def token(self) -> str | None:
        """The token the call carried (Authorization header, else the `token` field)."""
        return _bearer(self.headers) or _str_or_none(self.args.get("token"))

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class _Plan:
    remaining: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decode_json_fields(args: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            # Undecodable text is left as sent (Slack would answer invalid_blocks).
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


class _BadBody(ValueError):
    """A JSON body that is not a JSON object (Slack answers `invalid_json`)."""


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    ctype = request.content_type
    if ctype == "multipart/form-data":
        form = await request.post()
        for key, value in form.items():
            args[key] = value.file.read() if isinstance(value, web.FileField) else value
        return _decode_json_fields(args)
    raw = await request.read()
    if not raw:
        return _decode_json_fields(args)
    text = raw.decode("utf-8", errors="replace")
    if ctype == JSON or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise _BadBody(text)
        args.update(parsed)
    else:
        args.update(parse_qsl(text, keep_blank_values=True))
    return _decode_json_fields(args)


def _error(error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **extra}


class FakeSlackApi(_ThreadedServer):
    """Slack's Web API on 127.0.0.1, for slack_sdk's clients and for bolt.

    Point a client at `api.url` (`http://127.0.0.1:PORT/api/`) with `api.token`.
    Configure before or during a test:

    * `api.users[user_id] = {"email": ..., "real_name": ..., "display_name": ..., "tz": ...}`
      for `users.info` / `users.lookupByEmail` (unknown users: `user_not_found`);
    * `api.socket_url = server.url` for `apps.connections.open`;
    * `api.rate_limit(method, times, retry_after)`, `api.fail(method, error, times)`;
    * `api.on(method, handler)` to answer a method yourself (`handler(args) -> body`);
    * `api.strict = True` to answer `message_not_found` / `not_found` for updates of
      messages and views the fake has not seen (by default it accepts them, since
      tests often build payloads that refer to made-up timestamps and view ids).

    Inspect: `api.calls`, `api.calls_to(method)`, `api.wait_for(method, count)`,
    `api.messages` (ts -> current message, with its `channel`), `api.views`
    (view id -> current view), `api.home_views` (user id -> published home view).
    """

    _thread_name = "fake-slack-api"

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = TEAM_ID,
        app_id: str = APP_ID,
        bot_id: str = BOT_ID,
        bot_user_id: str = BOT_USER_ID,
    ) -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.app_id = app_id
        self.bot_id = bot_id
        self.bot_user_id = bot_user_id
        self.users: dict[str, dict[str, Any]] = {}
        self.socket_url: str | None = None
        self.strict = False
        self.messages: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._plans: dict[str, deque[_Plan]] = {}
        self._handlers: dict[str, Handler] = {}
        self._ts = itertools.count(100, 100)
        self._view_ids = itertools.count(1)
        self._response_urls = itertools.count(1)
        self._builtin: dict[str, Handler] = {
            "api.test": lambda args: {"ok": True, "args": args},
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "apps.connections.open": self._apps_connections_open,
        }

    # ---- configuration -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Web API base URL for slack_sdk/bolt: `http://127.0.0.1:PORT/api/`."""
        return f"{self.base}/api/"

    def response_url(self) -> str:
        """A fresh `response_url` on this server; posts to it are recorded as calls
        to the method `"response_url"` (args: the posted JSON)."""
        return f"{self.base}/response_url/{next(self._response_urls)}"

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP 429 and `Retry-After`."""
        self._plan(
            method,
            _Plan(times, 429, _error("ratelimited"), {"Retry-After": str(retry_after)}),
        )

    def fail(
        self, method: str, error: str = "channel_not_found", times: int = 1, *, status: int = 200
    ) -> None:
        """Answer the next `times` calls to `method` with `{"ok": false, "error": error}`."""
        self._plan(method, _Plan(times, status, _error(error), {}))

    def on(self, method: str, handler: Handler) -> None:
        """Answer `method` with `handler(args)` (after the token check and any plans)."""
        with self._cond:
            self._handlers[method] = handler

    def reset(self) -> None:
        """Forget calls, pending rate limits/failures, messages and views.

        Keeps the configuration: tokens, `users`, `socket_url`, `strict`, `on()` handlers.
        """
        with self._cond:
            self._calls.clear()
            self._plans.clear()
            self.messages.clear()
            self.views.clear()
            self.home_views.clear()

    def _plan(self, method: str, plan: _Plan) -> None:
        if plan.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._cond:
            self._plans.setdefault(method, deque()).append(plan)

    # ---- inspection ----------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self._calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until `count` calls to `method` arrived (rate-limited ones included);
        returns the calls to `method`. Raises TimeoutError naming what did arrive."""
        with self._cond:
            arrived = self._cond.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, timeout
            )
            found = [c for c in self._calls if c.method == method]
            if not arrived:
                seen = [c.method for c in self._calls]
                raise TimeoutError(
                    f"waited {timeout}s for {count} call(s) to {method}, got {len(found)};"
                    f" calls so far: {seen}"
                )
            return found

    async def wait_for_async(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109  (bounds a wait in a worker thread)
    ) -> list[Call]:
        """`wait_for` for use inside a running event loop (does not block the loop)."""
        return await asyncio.to_thread(self.wait_for, method, count, timeout)

    # ---- the server ----------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response_url/{n}", self._handle_response_url)
        return app

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            args = await _read_args(request)
        except _BadBody as bad:
            args, invalid = {"_body": str(bad)}, True
        else:
            invalid = False
        with self._cond:
            status, body, extra = (
                (200, _error("invalid_json"), {})
                if invalid
                else self._answer(method, args, headers)
            )
            self._record(
                Call(
                    method=method,
                    args=args,
                    headers=headers,
                    limited=status == 429,
                    http_method=request.method,
                    status=status,
                    response=body,
                    path=request.path,
                )
            )
        return web.json_response(body, status=status, headers=extra)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        args = await _read_args(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = {"ok": True}
        with self._cond:
            self._record(Call("response_url", args, headers, response=body, path=request.path))
        return web.json_response(body)

    def shown_in_ack(self, response_url: str, message: dict[str, Any]) -> None:
        """Slack shows a message in the body of a slash command's ack to the person as
        it shows one posted to the command's response URL: record it as such an answer
        (`http_method` "ACK"), so a test reads what the person saw, whichever way it came."""
        path = urlsplit(response_url).path
        with self._cond:
            self._record(
                Call("response_url", dict(message), {}, http_method="ACK", response={}, path=path)
            )

    def _record(self, call: Call) -> None:
        self._calls.append(call)
        self._cond.notify_all()

    def _answer(
        self, method: str, args: dict[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "api.test":
            return 200, {"ok": True, "args": args}, {}
        token = _bearer(headers) or _str_or_none(args.get("token"))
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token is None:
            return 200, _error("not_authed"), {}
        if token != expected:
            known = token in (self.token, self.app_token)
            return 200, _error("not_allowed_token_type" if known else "invalid_auth"), {}
        plans = self._plans.get(method)
        if plans:
            plan = plans[0]
            plan.remaining -= 1
            if plan.remaining == 0:
                plans.popleft()
            return plan.status, dict(plan.body), dict(plan.headers)
        handler = self._handlers.get(method) or self._builtin.get(method)
        if handler is None:
            return 200, {"ok": True}, {}
        try:
            return 200, handler(args), {}
        except Exception as exc:  # a broken on() handler: say so instead of a bare 500
            return 500, _error("fake_handler_failed", detail=repr(exc)), {}

    # ---- the methods ---------------------------------------------------------------

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _resolve_channel(self, channel: str) -> str:
        # Posting to a user id posts in the app's DM with that user.
        return "D" + channel if channel[:1] in ("U", "W") else channel

    def _bot_message(self, args: Mapping[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": args.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if args.get(key) is not None:
                message[key] = args[key]
        return message

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "sto",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _str_or_none(args.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        channel = self._resolve_channel(channel)
        ts = self._next_ts()
        message = self._bot_message(args, ts)
        self.messages[ts] = {**message, "channel": channel}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = _str_or_none(args.get("channel")), _str_or_none(args.get("ts"))
        if channel is None:
            return _error("channel_not_found")
        if ts is None or (self.strict and ts not in self.messages):
            return _error("message_not_found")
        stored = self.messages.get(ts) or {**self._bot_message({}, ts), "channel": channel}
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                stored[key] = args[key]
        self.messages[ts] = stored
        message = {k: v for k, v in stored.items() if k not in ("channel", "ts")}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": stored.get("text", ""),
            "message": message,
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if _str_or_none(args.get("channel")) is None:
            return _error("channel_not_found")
        if _str_or_none(args.get("user")) is None:
            return _error("user_not_in_channel")
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = _str_or_none(args.get("channel")), _str_or_none(args.get("ts"))
        if channel is None:
            return _error("channel_not_found")
        if ts is None or (self.strict and ts not in self.messages):
            return _error("message_not_found")
        self.messages.pop(ts, None)
        return {"ok": True, "channel": channel, "ts": ts}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if (channel := _str_or_none(args.get("channel"))) is not None:
            return {"ok": True, "channel": {"id": channel}}
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) == 1:
            return {"ok": True, "channel": {"id": "D" + users[0]}}
        return {"ok": True, "channel": {"id": "G" + "".join(sorted(users))}}

    def _store_view(
        self,
        view: Mapping[str, Any],
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> dict[str, Any]:
        vid = view_id or f"V{next(self._view_ids):010d}"
        stored: dict[str, Any] = {
            "id": vid,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "root_view_id": root_view_id or vid,
            "previous_view_id": previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        stored["id"] = vid
        self.views[vid] = stored
        return stored

    def _view_arg(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        view = args.get("view")
        return view if isinstance(view, dict) else None

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if _str_or_none(args.get("trigger_id")) is None:
            return _error("invalid_arguments")
        view = self._view_arg(args)
        if view is None:
            return _error("invalid_arguments")
        return {"ok": True, "view": self._store_view(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        if _str_or_none(args.get("trigger_id")) is None:
            return _error("invalid_arguments")
        view = self._view_arg(args)
        if view is None:
            return _error("invalid_arguments")
        return {"ok": True, "view": self._store_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        if view is None:
            return _error("invalid_arguments")
        view_id = _str_or_none(args.get("view_id"))
        external_id = _str_or_none(args.get("external_id"))
        if view_id is None and external_id is not None:
            view_id = next(
                (v["id"] for v in self.views.values() if v.get("external_id") == external_id),
                None,
            )
            if view_id is None and self.strict:
                return _error("not_found")
        if view_id is None and external_id is None:
            return _error("invalid_arguments")
        current = self.views.get(view_id) if view_id else None
        if current is None and self.strict:
            return _error("not_found")
        wanted_hash = _str_or_none(args.get("hash"))
        if current is not None and wanted_hash is not None and wanted_hash != current["hash"]:
            return _error("hash_conflict")
        stored = self._store_view(
            view,
            view_id=view_id,
            root_view_id=current["root_view_id"] if current else None,
            previous_view_id=current["previous_view_id"] if current else None,
        )
        return {"ok": True, "view": stored}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _str_or_none(args.get("user_id"))
        view = self._view_arg(args)
        if user_id is None or view is None:
            return _error("invalid_arguments")
        current = self.home_views.get(user_id)
        wanted_hash = _str_or_none(args.get("hash"))
        if current is not None and wanted_hash is not None and wanted_hash != current["hash"]:
            return _error("hash_conflict")
        stored = self._store_view(
            {"type": "home", **view}, view_id=current["id"] if current else None
        )
        self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def _user(self, user_id: str) -> dict[str, Any] | None:
        config = self.users.get(user_id)
        if config is None:
            return None
        real_name = config.get("real_name") or user_id
        display_name = config.get("display_name", "")
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "team": self.team_id,
        }
        if config.get("email"):
            profile["email"] = config["email"]
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": config.get("name") or real_name.lower().replace(" ", "."),
            "deleted": bool(config.get("deleted", False)),
            "real_name": real_name,
            "tz": config.get("tz", "Europe/Amsterdam"),
            "tz_label": config.get("tz_label", "Central European Time"),
            "tz_offset": config.get("tz_offset", 3600),
            "is_bot": bool(config.get("is_bot", False)),
            "is_admin": bool(config.get("is_admin", False)),
            "is_app_user": False,
            "locale": config.get("locale", "nl-NL"),
            "profile": profile,
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _str_or_none(args.get("user"))
        user = self._user(user_id) if user_id else None
        return _error("user_not_found") if user is None else {"ok": True, "user": user}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user_id, config in self.users.items():
            if email and str(config.get("email") or "").lower() == email:
                user = self._user(user_id)
                if user is not None:
                    return {"ok": True, "user": user}
        return _error("users_not_found")

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            return _error("fake_socket_url_not_set")  # set api.socket_url = server.url
        return {"ok": True, "url": self.socket_url}


# --------------------------------------------------------------------------------------
# Socket Mode
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """The app's answer to an envelope: `{"envelope_id": ..., "payload": ...}`.

    `delay` is the time in seconds between delivering the envelope and the ack
    arriving (Slack wants it within 3 seconds).
    """

    envelope_id: str
    payload: dict[str, Any] | None
    delay: float
    raw: dict[str, Any]


@dataclass
class _Outgoing:
    frame: dict[str, Any]
    deadline: float


class FakeSocketModeServer(_ThreadedServer):
    """The WebSocket side of Socket Mode.

    Wire it up with `api.socket_url = server.url`: slack_sdk's Socket Mode clients
    call `apps.connections.open` on the fake API and connect here. Each connection
    gets Slack's `hello` first. `send_slash_command`, `send_interactive` and
    `send_event` queue an envelope and return its `envelope_id` at once, without
    blocking; the server delivers it (in order) to the newest open connection as
    soon as there is one, and `wait_for_ack(envelope_id)` waits for the app's ack.
    If no client connects within `deliver_timeout` seconds the envelope is dropped
    and `wait_for_ack` says so.
    """

    _thread_name = "fake-socket-mode"

    def __init__(self, *, app_id: str = APP_ID, deliver_timeout: float = 5.0) -> None:
        super().__init__()
        self.app_id = app_id
        self.deliver_timeout = deliver_timeout
        self._cond = threading.Condition()
        self._acks: dict[str, Ack] = {}
        self._received: list[dict[str, Any]] = []
        self._sent: list[dict[str, Any]] = []
        self._delivered_at: dict[str, float] = {}
        self._undeliverable: dict[str, str] = {}
        self._connections_total = 0
        # Owned by the server's loop:
        self._open: list[web.WebSocketResponse] = []
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._connected: asyncio.Event | None = None
        self._deliverer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The WebSocket URL `apps.connections.open` should hand out."""
        self._require_loop()
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket&app_id={self.app_id}"

    # ---- pushing -------------------------------------------------------------------

    def send_slash_command(self, payload: Mapping[str, Any]) -> str:
        """Push a `slash_commands` envelope (payload: `slash_command_payload(...)`)."""
        return self.send("slash_commands", payload, accepts_response_payload=True)

    def send_interactive(self, payload: Mapping[str, Any]) -> str:
        """Push an `interactive` envelope (`block_actions(...)`, `view_submission(...)`)."""
        accepts = payload.get("type") in ("view_submission", "block_suggestion")
        return self.send("interactive", payload, accepts_response_payload=accepts)

    def send_event(
        self,
        event: Mapping[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Push an `events_api` envelope. `event` is either the whole `event_callback`
        payload (`event_payload(...)`) or just the inner event, which is then wrapped."""
        payload = event if event.get("type") == "event_callback" else event_payload(event)
        return self.send(
            "events_api",
            payload,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def send(
        self,
        envelope_type: str,
        payload: Mapping[str, Any],
        *,
        accepts_response_payload: bool,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        envelope_id: str | None = None,
    ) -> str:
        """Queue an envelope of any type; returns its `envelope_id`."""
        eid = envelope_id or str(uuid.uuid4())
        frame: dict[str, Any] = {
            "envelope_id": eid,
            "type": envelope_type,
            "payload": dict(payload),
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            frame["retry_attempt"] = retry_attempt
            frame["retry_reason"] = retry_reason or ""
        self._enqueue(frame)
        return eid

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` message; slack_sdk reconnects via `apps.connections.open`."""
        self._enqueue(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        )

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Close every open WebSocket from the server's side (1001 going away)."""
        loop = self._require_loop()
        asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout)

    def _enqueue(self, frame: dict[str, Any]) -> None:
        loop = self._require_loop()
        outbox = self._outbox
        assert outbox is not None
        item = _Outgoing(frame, time.monotonic() + self.deliver_timeout)
        loop.call_soon_threadsafe(outbox.put_nowait, item)

    # ---- waiting -------------------------------------------------------------------

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` connections have been made in total (and got `hello`)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._connections_total >= count, timeout):
                raise TimeoutError(
                    f"waited {timeout}s for {count} Socket Mode connection(s),"
                    f" got {self._connections_total}"
                )

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        """Block until the app acked `envelope_id`; returns the ack."""
        with self._cond:
            self._cond.wait_for(
                lambda: envelope_id in self._acks or envelope_id in self._undeliverable, timeout
            )
            if envelope_id in self._acks:
                return self._acks[envelope_id]
            if envelope_id in self._undeliverable:
                raise TimeoutError(
                    f"envelope {envelope_id} was never delivered: "
                    f"{self._undeliverable[envelope_id]}"
                )
            delivered = envelope_id in self._delivered_at
            raise TimeoutError(
                f"no ack for envelope {envelope_id} within {timeout}s"
                f" ({'delivered' if delivered else 'not delivered yet'};"
                f" {self._connections_total} connection(s) so far)"
            )

    async def wait_connected_async(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109  (bounds a wait in a worker thread)
    ) -> None:
        await asyncio.to_thread(self.wait_connected, count, timeout)

    async def wait_for_ack_async(
        self,
        envelope_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109  (bounds a wait in a worker thread)
    ) -> Ack:
        return await asyncio.to_thread(self.wait_for_ack, envelope_id, timeout)

    # ---- inspection ----------------------------------------------------------------

    @property
    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks.values())

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every frame the clients sent (acks and anything else), parsed."""
        with self._cond:
            return list(self._received)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every frame the server sent: hellos, envelopes, disconnects."""
        with self._cond:
            return list(self._sent)

    @property
    def connections_total(self) -> int:
        with self._cond:
            return self._connections_total

    # ---- the server ----------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link/", self._handle_ws)
        app.router.add_get("/link", self._handle_ws)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _started(self) -> None:
        self._outbox = asyncio.Queue()
        self._connected = asyncio.Event()
        self._deliverer = asyncio.get_running_loop().create_task(self._deliver_forever())

    async def _on_shutdown(self, app: web.Application) -> None:
        await self._close_all()

    async def _close_all(self) -> None:
        for ws in list(self._open):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")

    def _hello(self, num_connections: int) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": num_connections,
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 3600,
            },
            "connection_info": {"app_id": self.app_id},
        }

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        assert self._connected is not None
        try:
            hello = self._hello(num_connections=len(self._open) + 1)
            await ws.send_str(json.dumps(hello))
            # Only now may envelopes go to this connection: hello comes first.
            self._open.append(ws)
            with self._cond:
                self._sent.append(hello)
                self._connections_total += 1
                self._cond.notify_all()
            self._connected.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._on_text(str(message.data))
        finally:
            if ws in self._open:
                self._open.remove(ws)
            if not any(not w.closed for w in self._open):
                self._connected.clear()
        return ws

    def _on_text(self, text: str) -> None:
        now = time.monotonic()
        try:
            frame = json.loads(text)
        except ValueError:
            frame = {"raw": text}
        if not isinstance(frame, dict):
            frame = {"raw": frame}
        with self._cond:
            self._received.append(frame)
            eid = frame.get("envelope_id")
            if isinstance(eid, str) and eid not in self._acks:
                payload = frame.get("payload")
                self._acks[eid] = Ack(
                    envelope_id=eid,
                    payload=payload if isinstance(payload, dict) else None,
                    delay=now - self._delivered_at.get(eid, now),
                    raw=frame,
                )
            self._cond.notify_all()

    async def _deliver_forever(self) -> None:
        assert self._outbox is not None
        while True:
            item = await self._outbox.get()
            error = await self._deliver(item)
            eid = item.frame.get("envelope_id")
            with self._cond:
                if error is None:
                    self._sent.append(item.frame)
                elif isinstance(eid, str):
                    self._undeliverable[eid] = error
                self._cond.notify_all()

    async def _deliver(self, item: _Outgoing) -> str | None:
        assert self._connected is not None
        eid = item.frame.get("envelope_id")
        text = json.dumps(item.frame)
        last_error = f"no Socket Mode client connected within {self.deliver_timeout}s"
        while (remaining := item.deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._connected.wait(), remaining)
            except TimeoutError:
                break
            live = [ws for ws in self._open if not ws.closed]
            if not live:
                await asyncio.sleep(0.01)  # a connection is closing; its handler is finishing
                continue
            if isinstance(eid, str):
                with self._cond:
                    self._delivered_at[eid] = time.monotonic()
            try:
                await live[-1].send_str(text)
                return None
            except ConnectionError as exc:
                last_error = f"sending failed: {exc!r}"
                if isinstance(eid, str):
                    with self._cond:
                        self._delivered_at.pop(eid, None)
        return last_error


# --------------------------------------------------------------------------------------
# Signing and posting
# --------------------------------------------------------------------------------------


def signature(secret: str, body: str | bytes, timestamp: int | str) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    base = f"v0:{timestamp}:{text}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _content_type_of(body: str) -> str:
    return JSON if body.lstrip().startswith("{") else FORM


def sign(
    secret: str, body: str, timestamp: int | None = None, *, content_type: str | None = None
) -> dict[str, str]:
    """The headers Slack sends with `body`: Content-Type (JSON for a body that is a JSON
    object, else form-encoded), X-Slack-Request-Timestamp, X-Slack-Signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type or _content_type_of(body),
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, body, ts),
    }


def _signed_headers(
    body: str,
    secret: str,
    content_type: str | None,
    timestamp: int | None,
    retry_num: int | None,
    retry_reason: str | None,
    extra: Mapping[str, str] | None,
) -> dict[str, str]:
    headers = {"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    headers.update(sign(secret, body, timestamp, content_type=content_type))
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
    if retry_reason is not None:
        headers["X-Slack-Retry-Reason"] = retry_reason
    headers.update(extra or {})
    return headers


_no_proxy_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_signed(
    url: str,
    body: str,
    secret: str = SIGNING_SECRET,
    *,
    content_type: str | None = None,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], str]:
    """POST `body` to `url` signed as Slack signs it (urllib, blocking, no proxies).

    Returns (status, headers with lower-case names, body text); HTTP errors are
    returned, not raised. Don't call it from inside the loop that serves `url`:
    use `post_signed_async` there.
    """
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        method="POST",
        headers=_signed_headers(
            body, secret, content_type, timestamp, retry_num, retry_reason, headers
        ),
    )
    try:
        with _no_proxy_opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            answer = {k.lower(): v for k, v in response.headers.items()}
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        try:
            status = error.code
            answer = {k.lower(): v for k, v in error.headers.items()}
            text = error.read().decode("utf-8")
        finally:
            error.close()
    return status, answer, text


async def post_signed_async(
    url: str,
    body: str,
    secret: str = SIGNING_SECRET,
    *,
    content_type: str | None = None,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109  (same signature as post_signed)
) -> tuple[int, dict[str, str], str]:
    """`post_signed` with aiohttp, for tests whose app runs on the test's own loop."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(
            url,
            data=body.encode("utf-8"),
            headers=_signed_headers(
                body, secret, content_type, timestamp, retry_num, retry_reason, headers
            ),
        ) as response,
    ):
        text = await response.text()
        return response.status, {k.lower(): v for k, v in response.headers.items()}, text


# --------------------------------------------------------------------------------------
# What Slack sends
# --------------------------------------------------------------------------------------


def slash_command_payload(
    command: str = "/sto",
    text: str = "saldo",
    user_id: str = "U1",
    team_id: str = TEAM_ID,
    channel_id: str = "C1",
    trigger_id: str | None = None,
    response_url: str | None = None,
    *,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> dict[str, str]:
    """The fields of a slash command, as strings (the Socket Mode payload)."""
    if channel_name is None:
        channel_name = "directmessage" if channel_id.startswith("D") else "sto-team"
    return {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url
        or f"https://hooks.slack.com/commands/{team_id}/{next(_ids)}/{uuid.uuid4().hex[:24]}",
        "trigger_id": trigger_id or _trigger_id(),
    }


def slash_command_body(
    command: str = "/sto",
    text: str = "saldo",
    user_id: str = "U1",
    team_id: str = TEAM_ID,
    channel_id: str = "C1",
    trigger_id: str | None = None,
    response_url: str | None = None,
    **more: Any,
) -> str:
    """A slash command as Slack POSTs it (application/x-www-form-urlencoded)."""
    return urlencode(
        slash_command_payload(
            command, text, user_id, team_id, channel_id, trigger_id, response_url, **more
        )
    )


def interaction_body(payload: Mapping[str, Any]) -> str:
    """An interaction as Slack POSTs it: form-encoded `payload=<json>`."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def _user(user_id: str, team_id: str) -> dict[str, str]:
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def block_actions(
    user_id: str,
    action_id: str,
    value: str,
    message_ts: str | None = None,
    channel_id: str | None = None,
    view: Mapping[str, Any] | None = None,
    *,
    block_id: str = "actions",
    action_type: str = "button",
    message: Mapping[str, Any] | None = None,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    response_url: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload: a button (by default) clicked in a message
    (`message_ts` + `channel_id`) or in a view (modal or App Home: `view`)."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": value, "emoji": True}
    elif action_type in ("static_select", "external_select"):
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    else:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "")}
        payload["view"] = dict(view)
    elif message_ts is not None:
        channel = channel_id or "C1"
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": "sto-team"}
        payload["message"] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": "",
            "blocks": [],
            **(message or {}),
            "ts": message_ts,
        }
        payload["response_url"] = response_url or (
            f"https://hooks.slack.com/actions/{team_id}/{next(_ids)}/{uuid.uuid4().hex[:24]}"
        )
    return payload


def view_submission(
    user_id: str,
    callback_id: str,
    state_values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    private_metadata: str = "",
    view_id: str | None = None,
    *,
    blocks: list[dict[str, Any]] | None = None,
    title: str = "STO",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A `view_submission` payload. `state_values` is `{block_id: {action_id: value}}`,
    each value built with `state_text`, `state_select`, `state_date`, ..."""
    vid = view_id or _unique("V")
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": {
            "id": vid,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": {b: dict(actions) for b, actions in state_values.items()}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "title": {"type": "plain_text", "text": title},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Annuleren"},
            "submit": {"type": "plain_text", "text": "Versturen"},
            "previous_view_id": None,
            "root_view_id": vid,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def state_text(value: str | None, *, element: str = "plain_text_input") -> dict[str, Any]:
    """A text input's state (`value` None: left empty)."""
    return {"type": element, "value": value}


def state_number(value: str | None) -> dict[str, Any]:
    return {"type": "number_input", "value": value}


def state_select(value: str | None, text: str | None = None) -> dict[str, Any]:
    """A static_select's state (`value` None: nothing chosen)."""
    option = (
        None
        if value is None
        else {"text": {"type": "plain_text", "text": text or value}, "value": value}
    )
    return {"type": "static_select", "selected_option": option}


def state_date(iso_date: str | None) -> dict[str, Any]:
    """A datepicker's state: `"2026-12-01"`."""
    return {"type": "datepicker", "selected_date": iso_date}


def state_user(user_id: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user_id}


def state_checkboxes(values: list[str]) -> dict[str, Any]:
    return {
        "type": "checkboxes",
        "selected_options": [
            {"text": {"type": "plain_text", "text": v}, "value": v} for v in values
        ],
    }


def event_payload(
    event: Mapping[str, Any],
    event_id: str | None = None,
    event_time: int | None = None,
    *,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """The Events API `event_callback` envelope around `event` (the Socket Mode payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or _unique("Ev"),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def event_body(
    event: Mapping[str, Any],
    event_id: str | None = None,
    event_time: int | None = None,
    **more: Any,
) -> str:
    """An Events API request body as Slack POSTs it (JSON)."""
    return json.dumps(event_payload(event, event_id, event_time, **more))


def app_home_opened(
    user_id: str, *, tab: str = "home", view: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `app_home_opened` event (wrap with `event_body`/`event_payload`)."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = dict(view)
    return event


def url_verification_body(challenge: str, token: str = VERIFICATION_TOKEN) -> str:
    """Slack's `url_verification` request (JSON), sent when the request URL is saved."""
    return json.dumps({"token": token, "challenge": challenge, "type": "url_verification"})
