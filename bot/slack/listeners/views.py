"""Modal submissions: a region's request, and the team's reason for a rejection.

Validation answers inline (`response_action: errors`), so the domain call
runs before the ack; it is one short transaction, well within Slack's 3 s.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack import blocks
from bot.slack.deps import SlackDeps, TooLate, ack_deadline
from bot.slack.identity import Refused, acting, who
from bot.slack.listeners.common import actor_of, claim, inline_error
from models import requests as rq
from models.errors import (
    AlreadyProcessed,
    DomainError,
    InsufficientBalance,
    InvalidQuantity,
    InvalidRequest,
    NotAllowed,
)
from models.people import Person
from models.quantity import to_units
from models.types import AllowanceKind

log = logging.getLogger("sto.slack")


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
        deadline = ack_deadline()
        user_id = body["user"]["id"]
        values = view["state"]["values"]
        has_region = "region" in values
        region = _value(values, "region") or json.loads(view.get("private_metadata") or "{}").get(
            "region", ""
        )
        start, end = _value(values, "from"), _value(values, "to")
        now = deps.clock.now()

        def run(session: Session, person: Person) -> str:
            claim(session, deps, f"view:{view['id']}:{view.get('hash', '')}", user_id)
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

        try:
            done = await acting(deps, client, user_id, run, deadline=deadline)
        except TooLate:
            log.warning("request modal of %s answered too late for Slack; nothing kept", user_id)
            return
        except Refused as refused:
            if isinstance(refused.error, AlreadyProcessed):
                await ack()
                return
            message = inline_error(deps, refused.person.language, refused.error)
            block = _block_for(refused.error, has_region)
            await ack(response_action="errors", errors={block: message})
            return
        if done is None:
            lang = deps.settings.language.value
            await ack(
                response_action="errors", errors={"days": deps.plain("slack.unknown_user", lang)}
            )
            return
        await ack()
        deps.wake()

    @app.view(blocks.REJECT_MODAL)
    async def reject_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        person = await who(deps, client, user_id)
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = str(_value(view["state"]["values"], "reason") or "")
        lang = person.language if person else deps.settings.language.value
        if person is None:
            await ack(
                response_action="errors", errors={"reason": deps.plain("slack.unknown_user", lang)}
            )
            return
        now = deps.clock.now()

        def run(session: Session) -> None:
            claim(session, deps, f"view:{view['id']}:{view.get('hash', '')}", user_id)
            person.require_team("reject")
            rq.reject(session, meta["ref"], actor_of(person, user_id), now, reason=reason)

        try:
            await deps.db(run)
        except AlreadyProcessed:
            await ack()
            return
        except DomainError as error:
            await ack(response_action="errors", errors={"reason": inline_error(deps, lang, error)})
            return
        await ack()
        deps.wake()
