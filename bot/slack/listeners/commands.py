"""`/sto` and its subcommands: Dutch words with English aliases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import number
from bot.slack import blocks
from bot.slack.deps import SlackDeps
from bot.slack.identity import who
from bot.slack.listeners import absence, meetings, request_propose
from bot.slack.listeners.common import domain_message
from bot.understanding import understand
from models import ledger, quota
from models import requests as rq
from models.errors import DomainError
from models.people import Person
from models.periods import period_on
from models.quantity import from_units
from models.regions import get_region
from models.types import AllowanceKind, RequestStatus


@dataclass(frozen=True)
class Invocation:
    """One `/sto …` from one person: what every subcommand gets."""

    deps: SlackDeps
    client: AsyncWebClient
    person: Person
    command: dict[str, Any]
    rest: str  # the words after the subcommand
    respond: Callable[..., Awaitable[Any]]  # an Answer: the first one may ride on the ack


Handler = Callable[[Invocation], Awaitable[None]]


async def show_help(call: Invocation) -> None:
    deps, person, respond = call.deps, call.person, call.respond
    await respond(
        text=deps.t(
            "slack.help",
            person.language,
            is_team=person.is_team,
            is_supporter=person.kind == "supporter",
        )
    )


async def balance(call: Invocation) -> None:
    deps, person, respond = call.deps, call.person, call.respond
    asked = call.rest.strip()
    lang = person.language
    today = deps.today()

    def read(session: Any) -> tuple[str, list[quota.QuotaLine]]:
        if asked.lower() in ("alle", "all"):
            person.require_team("balance_all")
            codes: tuple[str, ...] | None = None
        elif asked:
            region = get_region(session, asked)
            person.require_region("balance", region.code)
            codes = (region.code,)
        else:
            codes = person.region_codes
        period, lines = quota.overview_on(session, today, codes=codes)
        if codes is None:  # the team's overview: lowest available first
            lines.sort(
                key=lambda x: (x.balance.kind != AllowanceKind.support_days, x.balance.available)
            )
        return period.code, lines

    period_code, lines = await deps.read(read)
    low = {i for i, line in enumerate(lines) if quota.is_low(line)}
    result = blocks.balance_blocks(deps, lang, period_code, lines, low)
    await respond(text=deps.t("slack.balance_header", lang, period=period_code), blocks=result)


async def request(call: Invocation) -> None:
    deps, person, respond = call.deps, call.person, call.respond
    lang = person.language
    today = deps.today()

    def read(session: Any) -> tuple[list[tuple[str, str]], Any]:
        regions = [(code, get_region(session, code).name) for code in person.region_codes]
        available = None
        if len(regions) == 1:
            period = period_on(session, today)
            region = get_region(session, regions[0][0])
            allowance = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
            available = ledger.balance_of(session, allowance).amount("available")
        return regions, available

    regions, available = await deps.read(read)
    if not regions:
        await respond(text=deps.t("errors.not_allowed", lang, action="request", region="-"))
        return
    view = blocks.request_modal(deps, lang, regions, available, prefill(call.rest, today, lang))
    await call.client.views_open(trigger_id=call.command["trigger_id"], view=view)


def prefill(text: str, today: date, language: str) -> dict[str, str]:
    """`/sto aanvragen twee dagdelen procesbegeleiding in maart` fills the form in."""
    if not text.strip():
        return {}
    found = understand(text, today)
    values: dict[str, str] = {"theme": found.theme}
    if found.half_days is not None:
        values["days"] = number(from_units(found.half_days, AllowanceKind.support_days), language)
    if found.kind is not None:
        values["kind"] = found.kind.value
    if found.preferred_from is not None:
        values["from"] = found.preferred_from.isoformat()
    if found.preferred_to is not None:
        values["to"] = found.preferred_to.isoformat()
    return values


async def mine(call: Invocation) -> None:
    deps, person, respond = call.deps, call.person, call.respond

    def read(session: Any) -> list[dict[str, Any]]:
        if person.kind == "contact":
            found = rq.open_requests(session, region_codes=person.region_codes)
        elif person.is_team:  # what waits for the team
            found = rq.open_requests(session, statuses=frozenset({RequestStatus.submitted}))
        else:
            found = rq.open_requests(session, supporter_id=person.id)
        return [rq.describe(session, r) for r in found]

    found = await deps.read(read)
    result = blocks.mine_blocks(deps, person.language, found)
    await respond(text=deps.t("slack.mine_header", person.language), blocks=result)


SUBCOMMANDS: dict[str, Handler] = {
    "help": show_help,
    "hulp": show_help,
    "saldo": balance,
    "balance": balance,
    "aanvragen": request,
    "aanvraag": request,
    "request": request,
    "mijn": mine,
    "mine": mine,
    **meetings.SUBCOMMANDS,
    "afwezig": absence.open_modal,
    "absent": absence.open_modal,
    "voorstellen": request_propose.open_modal,
    "propose": request_propose.open_modal,
}


class Answer:
    """`respond` for a slash command whose first answer may ride on the ack itself.

    Slack shows a message in the ack's body to the person as it shows one posted
    to the response URL. A quick answer (a balance) so needs no second round trip;
    one that is not ready within INLINE_BUDGET is acked empty and follows through
    the response URL, as every later answer does.
    """

    def __init__(self, ack: AsyncAck, respond: AsyncRespond) -> None:
        self._ack = ack
        self._respond = respond
        self.acked = False

    async def __call__(self, text: str = "", blocks: Sequence[Any] | None = None) -> None:
        if self.acked:
            await self._respond(text=text, blocks=blocks)
            return
        self.acked = True  # before the await: the budget timer must not ack as well
        # With a response_type Bolt sends a JSON message payload (else plain text).
        await self._ack(text=text, blocks=blocks, response_type="ephemeral")

    async def ack_empty(self) -> None:
        if not self.acked:
            self.acked = True
            await self._ack()


# Slack waits 3 s for the ack; past this, the answer goes by the response URL instead.
INLINE_BUDGET = 1.0


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.command("/sto")
    async def sto(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        answer = Answer(ack, respond)
        late = asyncio.get_running_loop().call_later(
            INLINE_BUDGET, lambda: asyncio.ensure_future(answer.ack_empty())
        )
        try:
            await _run(deps, client, command, answer)
        finally:
            late.cancel()
            await answer.ack_empty()  # a subcommand that only opened a modal said nothing


async def _run(
    deps: SlackDeps, client: AsyncWebClient, command: dict[str, Any], answer: Answer
) -> None:
    word, _, rest = str(command.get("text", "")).strip().partition(" ")
    handler = SUBCOMMANDS.get(word.lower(), show_help)
    person = await who(deps, client, command["user_id"])
    if person is None:
        await answer(text=deps.t("slack.unknown_user", deps.settings.language.value))
        return
    try:
        await handler(Invocation(deps, client, person, command, rest, answer))
    except DomainError as error:
        await answer(text=domain_message(deps, person.language, error))
