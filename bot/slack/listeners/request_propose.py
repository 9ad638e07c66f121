"""The supporter proposes dates for a request from Slack: a modal with three options.

It opens from the button in the assigned supporter's message (`propose_blocks`, asked for by
template name in the notifier's BUTTONS) or with `/sto voorstellen REF` (`propose REF`),
prefilled with the planner's three suggestions. The submission parses the dates, then runs
`propose_dates` in one transaction before the ack, so a refusal shows inline under the option
it is about. Only the assigned supporter or the team may propose; others get the domain's
refusal.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.blocks import text_section
from bot.slack.deps import SlackDeps
from bot.slack.identity import who
from bot.slack.listeners.common import (
    Inline,
    actor_of,
    domain_message,
    submitted_as,
    tell,
)
from models import request_proposals as rp
from models import requests as rq
from models.errors import DomainError, InvalidDates
from models.people import Person
from models.tables import Region
from scheduling.dispatcher import Message
from scheduling.request_dates import suggest_dates

if TYPE_CHECKING:
    from bot.slack.listeners.commands import Invocation

log = logging.getLogger("sto.slack")

PROPOSE = "request_dates_propose"  # the button's action id; its value is the request's ref
PROPOSE_MODAL = "request_propose_modal"
BLOCKS = tuple(f"option_{n}" for n in range(1, rp.MAX_OPTIONS + 1))
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y")
SEPARATORS = re.compile(r"[,;\s]+")


def propose_blocks(deps: SlackDeps, message: Message, text: str) -> list[Block]:
    """The message with a button that opens the proposal modal for its request."""
    button = ButtonElement(
        text=deps.plain("request_proposals.propose_button", message.language),
        action_id=PROPOSE,
        value=str(message.context["ref"]),
        style="primary",
    )
    return [text_section(text), ActionsBlock(block_id="request_propose", elements=[button])]


@dataclass(frozen=True)
class Form:
    """What the modal shows: the request and the planner's options."""

    ref: str
    region_name: str
    needed: int
    options: list[list[date]]


def _form(session: Session, ref: str, person: Person, now: datetime) -> Form:
    request = rq.get_request(session, ref)
    rp.require_proposer(request, person)
    region = session.get(Region, request.region_id)
    assert region is not None
    options = suggest_dates(session, request, rq.region_today(region, now))
    return Form(request.ref, region.name, rp.days_needed(request), options)


def propose_modal(deps: SlackDeps, lang: str, form: Form) -> View:
    intro = deps.t(
        "request_proposals.modal_intro",
        lang,
        ref=form.ref,
        region_name=form.region_name,
        needed=form.needed,
        suggested=bool(form.options),
    )
    blocks: list[Block] = [SectionBlock(text=intro)]
    for n, block_id in enumerate(BLOCKS, 1):
        days = form.options[n - 1] if n <= len(form.options) else []
        blocks.append(
            InputBlock(
                block_id=block_id,
                label=deps.plain("request_proposals.modal_option", lang, n=n),
                optional=n > 1,
                element=PlainTextInputElement(
                    action_id="value",
                    initial_value=", ".join(d.isoformat() for d in days) or None,
                ),
            )
        )
    return View(
        type="modal",
        callback_id=PROPOSE_MODAL,
        title=PlainTextObject(text=deps.plain("request_proposals.modal_title", lang)[:24]),
        submit=PlainTextObject(text=deps.plain("request_proposals.modal_submit", lang)),
        close=PlainTextObject(text=deps.plain("request_proposals.modal_close", lang)),
        private_metadata=json.dumps({"ref": form.ref}),
        blocks=blocks,
    )


async def _open(
    deps: SlackDeps, client: AsyncWebClient, person: Person, ref: str, trigger_id: str
) -> None:
    """Check who asks, then open the modal (a DomainError goes back to the caller)."""
    now = deps.clock.now()
    form = await deps.read(lambda session: _form(session, ref, person, now))
    view = propose_modal(deps, person.language, form)
    await client.views_open(trigger_id=trigger_id, view=view)


async def open_modal(call: Invocation) -> None:
    """The `/sto voorstellen REF` (`propose REF`) subcommand."""
    deps, person = call.deps, call.person
    ref = call.rest.strip().split(" ")[0]
    if not ref:
        await call.respond(text=deps.t("request_proposals.propose_which", person.language))
        return
    await _open(deps, call.client, person, ref, call.command["trigger_id"])


def _parse(text: str | None) -> list[date] | str:
    """The days of one option, or the first word that is not a date."""
    days: list[date] = []
    for word in SEPARATORS.split((text or "").strip()):
        if not word:
            continue
        for fmt in DATE_FORMATS:
            try:
                days.append(datetime.strptime(word, fmt).date())  # noqa: DTZ007 (a calendar date)
                break
            except ValueError:
                continue
        else:
            return word
    return days


def _text(values: dict[str, Any], block: str) -> str | None:
    element = (values.get(block) or {}).get("value") or {}
    found = element.get("value")
    return str(found) if found else None


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(PROPOSE)
    async def propose_pressed(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        user_id = body["user"]["id"]
        person = await who(deps, client, user_id)
        if person is None:
            lang = deps.settings.language.value
            await tell(body, client, respond, deps.t("slack.unknown_user", lang))
            return
        try:
            await _open(deps, client, person, body["actions"][0]["value"], body["trigger_id"])
        except DomainError as error:
            await tell(body, client, respond, domain_message(deps, person.language, error))

    @app.view(PROPOSE_MODAL)
    async def propose_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        ref = str(json.loads(view.get("private_metadata") or "{}").get("ref", ""))
        values = view["state"]["values"]
        now = deps.clock.now()
        where: list[str] = []  # the block of each given option, for errors about option n

        def run(session: Session, person: Person) -> dict[str, Any]:
            given: list[list[date]] = []
            where.clear()
            for block in BLOCKS:
                parsed = _parse(_text(values, block))
                if isinstance(parsed, str):
                    raise Inline(block, key="errors.invalid_date", value=parsed)
                if parsed:
                    given.append(parsed)
                    where.append(block)
            proposal = rp.propose_dates(
                session, ref, given, actor_of(person, user_id), now, person=person
            )
            return rp.describe(session, proposal)

        def block_of(error: DomainError) -> str:
            option = int(error.params.get("option") or 0) if isinstance(error, InvalidDates) else 0
            return where[option - 1] if 0 < option <= len(where) else BLOCKS[0]

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=block_of,
            unknown_block=BLOCKS[0],
        )
        if done is None:
            return
        person, data = done
        lang = person.language
        await ack()
        deps.wake()
        text = deps.t(
            "request_proposals.slack_sent",
            lang,
            ref=data["ref"],
            options=data["options"],
            recipients=data["recipients"],
        )
        await client.chat_postMessage(channel=user_id, text=text)
