"""Modal submissions: a region's request, and the team's reason for a rejection.

Validation answers inline (`response_action: errors`), so the domain call
runs before the ack; it is one short transaction, well within Slack's 3 s.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack import blocks
from bot.slack.deps import SlackDeps
from bot.slack.listeners.common import actor_of, submitted_as
from models import requests as rq
from models.errors import (
    DomainError,
    InsufficientBalance,
    InvalidQuantity,
    InvalidRequest,
    NotAllowed,
)
from models.people import Person
from models.quantity import to_units
from models.types import AllowanceKind


def _value(values: dict[str, Any], block: str) -> Any:
    element = (values.get(block) or {}).get("value") or {}
    if "selected_option" in element:
        return (element["selected_option"] or {}).get("value")
    if "selected_date" in element:
        return element["selected_date"]
    return element.get("value")


def _block_for(error: DomainError, has_region: bool) -> str:
    """Which input an error belongs under, so Slack shows it right there."""
    if isinstance(error, InsufficientBalance | InvalidQuantity):
        return "days"
    if isinstance(error, InvalidRequest):
        return {"kind": "kind", "theme": "theme", "description": "description"}.get(
            error.params["field"], "to" if error.params["problem"] == "reversed" else "from"
        )
    if isinstance(error, NotAllowed) and has_region:
        return "region"
    return "days"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.view(blocks.REQUEST_MODAL)
    async def request_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        values = view["state"]["values"]
        has_region = "region" in values
        region = _value(values, "region") or json.loads(view.get("private_metadata") or "{}").get(
            "region", ""
        )
        start, end = _value(values, "from"), _value(values, "to")
        now = deps.clock.now()

        def run(session: Session, person: Person) -> str:
            person.require_region("request", region)
            new = rq.NewRequest(
                region=region,
                kind=_value(values, "kind") or "",
                half_days=to_units(_value(values, "days") or "", AllowanceKind.support_days),
                theme=_value(values, "theme") or "",
                description=_value(values, "description") or "",
                preferred_from=date.fromisoformat(start) if start else None,
                preferred_to=date.fromisoformat(end) if end else None,
                requester_contact_id=person.id if person.kind == "contact" else None,
            )
            return rq.submit(session, new, actor_of(person, user_id), now).ref

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=lambda error: _block_for(error, has_region),
            unknown_block="days",
        )
        if done is not None:
            await ack()
            deps.wake()

    @app.view(blocks.REJECT_MODAL)
    async def reject_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = str(_value(view["state"]["values"], "reason") or "")
        now = deps.clock.now()

        def run(session: Session, person: Person) -> None:
            person.require_team("reject")
            rq.reject(session, meta["ref"], actor_of(person, user_id), now, reason=reason)

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=lambda _: "reason",
            unknown_block="reason",
        )
        if done is not None:
            await ack()
            deps.wake()
