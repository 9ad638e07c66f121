"""Who is this Slack user? By the data, or by their Slack profile email (then linked)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.deps import SlackDeps
from models import people
from models.people import Person

log = logging.getLogger("sto.slack")


async def who(deps: SlackDeps, client: AsyncWebClient, user_id: str) -> Person | None:
    person = await deps.read(lambda s: people.by_slack_id(s, user_id))
    if person is not None:
        return person
    try:
        info = await client.users_info(user=user_id)
    except SlackApiError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        return None
    user = info.get("user") or {}
    email = (user.get("profile") or {}).get("email")
    if not email:
        return None
    return await deps.db(lambda s: people.link_slack_user(s, user_id, str(email)))
