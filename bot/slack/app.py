"""Building the Bolt app, and running it in HTTP mode or Socket Mode."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import listeners
from bot.slack.dedupe import event_dedupe
from bot.slack.deps import SlackDeps
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
    app = AsyncApp(
        client=client or web_client(deps),
        signing_secret=settings.slack_signing_secret or "",
        # In HTTP mode every request must carry Slack's signature; Socket Mode has none.
        request_verification_enabled=http,
        # The bot's own messages and events never trigger our listeners.
        ignoring_self_events_enabled=True,
        raise_error_for_unhandled_request=False,
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.exception("Slack listener failed for %s", body.get("type"), exc_info=error)

    app.use(event_dedupe(deps))
    listeners.register(app, deps)
    return app


def add_http_route(web_app: web.Application, app: AsyncApp) -> None:
    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app.router.add_post("/slack/events", events)


def socket_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    return AsyncSocketModeHandler(app, app_token)
