"""Events: App Home is built fresh whenever it is opened."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import home
from bot.slack.deps import SlackDeps
from bot.slack.identity import who


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        await who(deps, client, event["user"])  # links a new user by their profile email
        await home.publish(deps, client, event["user"])
