"""Events are recorded by their `event_id` before any listener runs.

Slack retries an event it thinks we missed (X-Slack-Retry-Num), and with
several replicas two of them may each get a copy: the inbound table's unique
index lets exactly one act. Interactions and commands are deduplicated in the
transaction that acts on them (see listeners.common.claim).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse
from sqlmodel import Session

from bot.slack.deps import SlackDeps
from models import inbound
from models.errors import AlreadyProcessed


def event_dedupe(
    deps: SlackDeps,
) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def middleware(
        body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id:
            return await next()
        now = deps.clock.now()

        def record(session: Session) -> None:
            inbound.claim(session, "slack", f"event:{event_id}", now)

        try:
            await deps.db(record)
        except AlreadyProcessed:
            return BoltResponse(status=200, body="")  # seen: acknowledge, do nothing
        return await next()

    return middleware
