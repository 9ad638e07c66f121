"""Buttons for a request's proposed dates: the requester picks an option (or none).

The buttons travel in the direct message the outbox writes for
`request_proposal` (`proposal_blocks` builds them; the notifier asks for it by
template name); the listeners act on a press through the request-proposal
domain. Only the region's contacts, or the team, may press.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.deps import SlackDeps
from bot.slack.listeners.common import Work, option_blocks, press
from models import request_proposals as rp
from models import requests as rq
from models.actor import Actor
from models.people import Person
from scheduling.dispatcher import Message

CHOOSE = re.compile(r"^request_dates_choose_[123]$")
DECLINE = "request_dates_decline"


def proposal_blocks(deps: SlackDeps, message: Message, text: str) -> list[Block]:
    """The proposal's text with a button per option and one for "none of these"."""
    lang = message.language
    return option_blocks(
        text,
        block_id="request_proposal",
        proposal_id=int(message.context["proposal_id"]),
        labels=[
            deps.plain("request_proposals.option_button", lang, option=option)
            for option in message.context["options"]
        ],
        choose_prefix="request_dates_choose_",
        decline_action=DECLINE,
        decline_label=deps.plain("request_proposals.decline_button", lang),
    )


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(CHOOSE)
    async def choose(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        proposal_id, _, option = body["actions"][0]["value"].partition(":")
        await press(deps, body, client, respond, _work(deps, int(proposal_id), int(option)))

    @app.action(DECLINE)
    async def decline(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        proposal_id = int(body["actions"][0]["value"])
        await press(deps, body, client, respond, _work(deps, proposal_id, None))


def _work(deps: SlackDeps, proposal_id: int, option: int | None) -> Work:
    """Choose an option (or, with None, decline) for the requester's side."""

    def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
        proposal = rp.get_proposal(session, proposal_id)
        action = "choose" if option is not None else "decline"
        person.require_requester_side(action, rp.region_code(session, proposal.request_id))
        if option is None:
            rp.decline_dates(session, proposal_id, by, now)
            return deps.t("request_proposals.slack_declined", person.language)
        request = rp.choose_dates(session, proposal_id, option, by, now)
        return deps.t(
            "request_proposals.slack_chosen",
            person.language,
            ref=request.ref,
            dates=rq.days_of(session, request),
        )

    return work
