"""Small things every listener does the same way."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.deps import SlackDeps
from models import inbound
from models.errors import DomainError


def claim(session: Session, deps: SlackDeps, external_id: str, sender: str) -> None:
    """Record the delivery in the acting transaction; a repeat raises AlreadyProcessed."""
    inbound.claim(session, "slack", external_id, deps.clock.now(), sender=sender)


def domain_message(deps: SlackDeps, language: str, error: DomainError) -> str:
    """The error as mrkdwn (messages): user text in it is escaped."""
    return deps.t(f"errors.{error.code}", language, **error.params)


def inline_error(deps: SlackDeps, language: str, error: DomainError) -> str:
    """The error as plain text, for `response_action: errors` under a modal field."""
    return deps.plain(f"errors.{error.code}", language, **error.params)


async def tell(
    body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, text: str
) -> None:
    """Answer only the person who clicked: in place when Slack gave a response URL
    (a message), else as a direct message (a button in App Home or a modal has none)."""
    if body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        await client.chat_postMessage(channel=body["user"]["id"], text=text)
