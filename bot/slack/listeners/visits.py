"""Visit buttons: a contact picks one of three slots (or none), a supporter confirms a visit.

The buttons travel in direct messages written by the outbox: `proposal_blocks`
and `confirm_blocks` build them (the notifier asks for them by template name),
the listeners below act on a press through the visit domain.
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
from bot.slack.listeners.common import option_blocks, press
from models import visits as vs
from models.actor import Actor
from models.errors import NotAllowed
from models.people import Person
from models.tables import Region
from scheduling import planner
from scheduling.dispatcher import Message

CHOOSE = re.compile(r"^visit_choose_[123]$")
DECLINE = "visit_decline"
TOOK_PLACE = "visit_took_place"
NOT_HELD = "visit_not_held"


def proposal_blocks(deps: SlackDeps, message: Message, text: str) -> list[Block]:
    """The proposal's text with a button per slot and one for "none of these"."""
    lang = message.language
    return option_blocks(
        text,
        block_id="visit_proposal",
        proposal_id=int(message.context["proposal_id"]),
        labels=[
            deps.plain("visits.slot_button", lang, day=day) for day in message.context["slots"]
        ],
        choose_prefix="visit_choose_",
        decline_action=DECLINE,
        decline_label=deps.plain("visits.decline_button", lang),
    )


def confirm_blocks(deps: SlackDeps, message: Message, text: str) -> list[Block]:
    """The question after a visit, with "yes" and "no"."""
    lang = message.language
    visit_id = str(message.context["visit_id"])
    return [
        text_section(text),
        ActionsBlock(
            block_id="visit_confirm",
            elements=[
                ButtonElement(
                    text=deps.plain("visits.took_place_button", lang),
                    action_id=TOOK_PLACE,
                    value=visit_id,
                    style="primary",
                ),
                ButtonElement(
                    text=deps.plain("visits.not_held_button", lang),
                    action_id=NOT_HELD,
                    value=visit_id,
                ),
            ],
        ),
    ]


def _region_code(session: Session, visit_id: int) -> str:
    region = session.get(Region, vs.get_visit(session, visit_id).region_id)
    assert region is not None
    return region.code


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(CHOOSE)
    async def choose(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        proposal_id, _, option = body["actions"][0]["value"].partition(":")

        def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
            proposal = vs.get_proposal(session, int(proposal_id))
            person.require_requester_side("choose", _region_code(session, proposal.visit_id))
            visit = vs.choose_slot(session, int(proposal_id), int(option), by, now)
            data = vs.describe(session, visit)
            return deps.t(
                "visits.slack_chosen",
                person.language,
                region_name=data["region_name"],
                day=visit.day,
            )

        await press(deps, body, client, respond, work)

    @app.action(DECLINE)
    async def decline(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        proposal_id = int(body["actions"][0]["value"])

        def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
            proposal = vs.get_proposal(session, proposal_id)
            person.require_requester_side("decline", _region_code(session, proposal.visit_id))
            new = vs.decline(session, proposal_id, by, now, planner.find_slots)
            return deps.t("visits.slack_declined", person.language, found=new is not None)

        await press(deps, body, client, respond, work)

    async def confirm(
        body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, took_place: bool
    ) -> None:
        visit_id = int(body["actions"][0]["value"])

        def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
            visit = vs.get_visit(session, visit_id)
            own = person.kind == "supporter" and person.id == visit.supporter_id
            if not (own or person.is_team):
                raise NotAllowed("confirm")
            vs.confirm_visit(session, visit_id, by, now, took_place=took_place)
            return deps.t("visits.slack_confirmed", person.language, took_place=took_place)

        await press(deps, body, client, respond, work)

    @app.action(TOOK_PLACE)
    async def took_place(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await confirm(body, client, respond, True)

    @app.action(NOT_HELD)
    async def not_held(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await confirm(body, client, respond, False)
