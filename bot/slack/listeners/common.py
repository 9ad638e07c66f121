"""Small things every listener does the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.blocks import text_section
from bot.slack.deps import SlackDeps, TooLate, ack_deadline
from bot.slack.identity import Refused, acting
from models import inbound
from models.actor import Actor
from models.errors import AlreadyProcessed, DomainError
from models.people import Person
from models.types import Channel

T = TypeVar("T")

log = logging.getLogger("sto.slack")

# What a button does, in the acting transaction: returns the answer for the presser.
Work = Callable[[Session, Person, Actor, datetime], str]


def actor_of(person: Person, user_id: str) -> Actor:
    return Actor(f"{person.name} (slack:{user_id})", Channel.slack)


def claim(session: Session, deps: SlackDeps, external_id: str, sender: str) -> None:
    """Record the delivery in the acting transaction; a repeat raises AlreadyProcessed."""
    inbound.claim(session, "slack", external_id, deps.clock.now(), sender=sender)


def domain_message(deps: SlackDeps, language: str, error: DomainError) -> str:
    """The error as mrkdwn (messages): user text in it is escaped; a hint names what the
    reader can do in Slack (`channel`, for the errors that differ per channel)."""
    return deps.t(f"errors.{error.code}", language, **error.params, channel="slack")


def inline_error(deps: SlackDeps, language: str, error: DomainError) -> str:
    """The error as plain text, for `response_action: errors` under a modal field."""
    return deps.plain(f"errors.{error.code}", language, **error.params, channel="slack")


async def tell(
    body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, text: str
) -> None:
    """Answer only the person who clicked: in place when Slack gave a response URL
    (a message), else as a direct message (a button in App Home or a modal has none)."""
    if body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        await client.chat_postMessage(channel=body["user"]["id"], text=text)


class Inline(DomainError):
    """An input a modal cannot take: its sentence goes under `block` (a domain refusal,
    or a sentence of the channel's own, by template key)."""

    code = "inline"

    def __init__(
        self, block: str, error: DomainError | None = None, key: str = "", **params: Any
    ) -> None:
        super().__init__(**params)
        self.block, self.error, self.key = block, error, key

    def sentence(self, deps: SlackDeps, language: str) -> str:
        if self.error is not None:
            return inline_error(deps, language, self.error)
        return deps.plain(self.key, language, **self.params)


async def submitted_as(
    deps: SlackDeps,
    client: AsyncWebClient,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    work: Callable[[Session, Person], T],
    *,
    where: Callable[[DomainError], str],
    unknown_block: str,
) -> tuple[Person, T] | None:
    """A modal submission done as the person who sent it: who they are, the delivery
    claimed and `work`, in one transaction that is kept only if it ends before Slack
    stops waiting. What cannot be kept is acked here, in the person's language: a
    refusal under the input `where` names (an `Inline` under its own), an unknown user
    under `unknown_block`, a repeated delivery plainly; then None. Success is not
    acked: the caller acks (it may answer with a view) and goes on."""
    deadline = ack_deadline()
    user_id = body["user"]["id"]
    key = f"view:{view['id']}:{view.get('hash', '')}"

    def run(session: Session, person: Person) -> T:
        claim(session, deps, key, user_id)
        return work(session, person)

    try:
        done = await acting(deps, client, user_id, run, deadline=deadline)
    except TooLate:
        log.warning(
            "%s of %s answered too late for Slack; nothing kept", view.get("callback_id"), user_id
        )
        return None
    except Refused as refused:
        error, lang = refused.error, refused.person.language
        if isinstance(error, AlreadyProcessed):
            await ack()
        elif isinstance(error, Inline):
            await ack(response_action="errors", errors={error.block: error.sentence(deps, lang)})
        else:
            await ack(
                response_action="errors", errors={where(error): inline_error(deps, lang, error)}
            )
        return None
    if done is None:
        unknown = deps.plain("slack.unknown_user", deps.settings.language.value)
        await ack(response_action="errors", errors={unknown_block: unknown})
        return None
    return done


async def act_as(
    deps: SlackDeps,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    work: Callable[[Session, Person, Actor, datetime], T],
) -> tuple[Person, T] | None:
    """A button or select, done as the person who used it: who they are, the delivery
    claimed and `work`, in one transaction. None when nothing was done: an unknown
    user or a refusal (both told), or a repeated delivery (silent)."""
    user_id = body["user"]["id"]
    external = f"action:{body.get('trigger_id') or body['actions'][0].get('action_ts')}"
    now = deps.clock.now()

    def run(session: Session, person: Person) -> T:
        claim(session, deps, external, user_id)
        return work(session, person, actor_of(person, user_id), now)

    try:
        done = await acting(deps, client, user_id, run)
    except Refused as refused:
        if not isinstance(refused.error, AlreadyProcessed):  # a repeat says nothing
            message = domain_message(deps, refused.person.language, refused.error)
            await tell(body, client, respond, message)
        return None
    if done is None:
        lang = deps.settings.language.value
        await tell(body, client, respond, deps.t("slack.unknown_user", lang))
        return None
    deps.wake()
    return done


async def press(
    deps: SlackDeps,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    work: Work,
) -> None:
    """A button in a direct message: `act_as`, then answer (replacing the buttons,
    which have done their work)."""
    done = await act_as(deps, body, client, respond, work)
    if done is None:
        return
    _, answer = done
    if body.get("response_url"):
        await respond(text=answer, replace_original=True)
    else:
        await tell(body, client, respond, answer)


def option_blocks(
    text: str,
    *,
    block_id: str,
    proposal_id: int,
    labels: list[str],
    choose_prefix: str,
    decline_action: str,
    decline_label: str,
) -> list[Block]:
    """A proposal's text with a button per option ("<prefix><n>", value "<id>:<n>") and
    one for "none of these"."""
    buttons = [
        ButtonElement(
            text=label,
            action_id=f"{choose_prefix}{n}",
            value=f"{proposal_id}:{n}",
            style="primary" if n == 1 else None,
        )
        for n, label in enumerate(labels, 1)
    ]
    buttons.append(
        ButtonElement(text=decline_label, action_id=decline_action, value=str(proposal_id))
    )
    return [text_section(text), ActionsBlock(block_id=block_id, elements=buttons)]
