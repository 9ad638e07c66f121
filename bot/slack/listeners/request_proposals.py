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
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.blocks import text_section
from bot.slack.deps import SlackDeps
from bot.slack.identity import who
from bot.slack.listeners.common import claim, domain_message, tell
from models import request_proposals as rp
from models import requests as rq
from models.actor import Actor
from models.errors import AlreadyProcessed, DomainError
from models.people import Person
from models.types import Channel
from scheduling.dispatcher import Message

CHOOSE = re.compile(r"^request_dates_choose_[123]$")
DECLINE = "request_dates_decline"


def proposal_blocks(deps: SlackDeps, message: Message, text: str) -> list[Block]:
    """The proposal's text with a button per option and one for "none of these"."""
    lang = message.language
    proposal_id = message.context["proposal_id"]
    buttons = [
        ButtonElement(
            text=deps.plain("request_proposals.option_button", lang, option=option),
            action_id=f"request_dates_choose_{n}",
            value=f"{proposal_id}:{n}",
            style="primary" if n == 1 else None,
        )
        for n, option in enumerate(message.context["options"], 1)
    ]
    buttons.append(
        ButtonElement(
            text=deps.plain("request_proposals.decline_button", lang),
            action_id=DECLINE,
            value=str(proposal_id),
        )
    )
    return [text_section(text), ActionsBlock(block_id="request_proposal", elements=buttons)]


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def act(
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        proposal_id: int,
        option: int | None,
    ) -> None:
        """Identify, check the side, claim the press, choose or decline in one transaction."""
        user_id = body["user"]["id"]
        person = await who(deps, client, user_id)
        if person is None:
            lang = deps.settings.language.value
            await tell(body, client, respond, deps.t("slack.unknown_user", lang))
            return
        external = f"action:{body.get('trigger_id') or body['actions'][0].get('action_ts')}"
        now = deps.clock.now()
        by = Actor(f"{person.name} (slack:{user_id})", Channel.slack)

        def run(session: Session) -> str:
            claim(session, deps, external, user_id)
            return _work(deps, session, person, by, now, proposal_id, option)

        try:
            answer = await deps.db(run)
        except AlreadyProcessed:
            return
        except DomainError as error:
            await tell(body, client, respond, domain_message(deps, person.language, error))
            return
        deps.wake()
        if body.get("response_url"):  # the buttons have done their work: replace them
            await respond(text=answer, replace_original=True)
        else:
            await tell(body, client, respond, answer)

    @app.action(CHOOSE)
    async def choose(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        proposal_id, _, option = body["actions"][0]["value"].partition(":")
        await act(body, client, respond, int(proposal_id), int(option))

    @app.action(DECLINE)
    async def decline(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await act(body, client, respond, int(body["actions"][0]["value"]), None)


def _work(
    deps: SlackDeps,
    session: Session,
    person: Person,
    by: Actor,
    now: datetime,
    proposal_id: int,
    option: int | None,
) -> str:
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
