"""Building the Bolt app, and running it in HTTP mode or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack import listeners
from bot.slack.dedupe import event_dedupe
from bot.slack.deps import SlackDeps
from bot.slack.early_ack import EarlyAckApp
from config.settings import SlackMode

log = logging.getLogger("sto.slack")


def web_client(deps: SlackDeps) -> AsyncWebClient:
    """The Web API client: base URL from the settings, 429s waited out and retried."""
    return AsyncWebClient(
        token=deps.settings.slack_bot_token,
        base_url=deps.settings.slack_api_url,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(deps: SlackDeps, client: AsyncWebClient | None = None) -> AsyncApp:
    settings = deps.settings
    http = settings.slack_mode is SlackMode.http
    app = EarlyAckApp(
        client=client or web_client(deps),
        signing_secret=settings.slack_signing_secret or "",
        # In HTTP mode every request must carry Slack's signature; Socket Mode has none.
        request_verification_enabled=http,
        # The bot's own messages and events never trigger our listeners.
        ignoring_self_events_enabled=True,
        raise_error_for_unhandled_request=False,
        # Bolt answers Slack when a listener returns; EarlyAckApp's listeners return
        # the moment they ack and go on in a task of their own (bot/slack/early_ack.py).
        process_before_response=True,
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.exception("Slack listener failed for %s", body.get("type"), exc_info=error)

    app.use(event_dedupe(deps))
    listeners.register(app, deps)
    return app


RESPONSE_URL_TIMEOUT = 30.0  # seconds, as slack_sdk's own webhook client


class SharedSession:
    """One aiohttp session (and so one pool of keep-alive connections) for every
    answer through a response URL, opened on first use in the serving loop and
    closed with the web application."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            session = self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=RESPONSE_URL_TIMEOUT)
            )
            self._loop = loop
        return session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SharedRespond(AsyncRespond):
    """Bolt's `respond`, on the shared session instead of a new session (and a new
    TCP connection) per answer; retries and errors are slack_sdk's, as before."""

    def __init__(self, *, response_url: str | None, session: aiohttp.ClientSession) -> None:
        super().__init__(response_url=response_url)
        self._session = session

    async def __call__(  # type: ignore[override]
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        client = AsyncWebhookClient(url=self.response_url, session=self._session)
        if isinstance(text, dict):
            return await client.send_dict(_build_message(**text))
        return await client.send_dict(_build_message(text=text, blocks=blocks, **kwargs))


def shared_respond(
    shared: SharedSession,
) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def middleware(
        context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        if context.response_url:
            context["respond"] = SharedRespond(
                response_url=context.response_url, session=shared.get()
            )
        return await next()

    return middleware


def add_http_route(web_app: web.Application, app: AsyncApp) -> None:
    """`POST /slack/events` on `web_app`; answers to response URLs share one HTTP
    session that closes when `web_app` cleans up."""
    shared = SharedSession()
    app.use(shared_respond(shared))

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def close(_: web.Application) -> None:
        await shared.close()

    web_app.router.add_post("/slack/events", events)
    web_app.on_cleanup.append(close)


def socket_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    return AsyncSocketModeHandler(app, app_token)
