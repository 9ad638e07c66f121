"""`/sto afwezig` (`absent`): a supporter registers an absence with a stand-in.

A supporter registers their own absence; the team can register one for any
supporter (the modal then asks who). The submission runs `add_absence`
before the ack, so a refusal shows inline under the field it is about.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.models.blocks import (
    Block,
    DatePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.deps import SlackDeps
from bot.slack.listeners.common import Inline, actor_of, submitted_as
from models import supporters as sp
from models.errors import (
    AbsenceOverlap,
    DomainError,
    InvalidAbsence,
    NotAllowed,
    UnknownSupporter,
)
from models.people import Person
from scheduling.supporters import register_absence

if TYPE_CHECKING:
    from bot.slack.listeners.commands import Invocation

ABSENCE_MODAL = "absence_modal"
MAX_OPTIONS = 100  # Slack's limit for a static select


def _options(people: list[tuple[str, str]]) -> list[Option]:
    return [Option(value=email, label=name[:75]) for email, name in people[:MAX_OPTIONS]]


def absence_modal(
    deps: SlackDeps,
    lang: str,
    person: Person,
    supporters: list[tuple[str, str]],
    stand_ins: list[tuple[str, str]],
    today: date,
) -> View:
    """From, to, stand-in and reason; the team also chooses who is away."""
    blocks: list[Block] = []
    if person.is_team:
        blocks.append(
            InputBlock(
                block_id="supporter",
                label=deps.plain("supporters.modal_supporter", lang),
                element=StaticSelectElement(action_id="value", options=_options(supporters)),
            )
        )
    blocks += [
        InputBlock(
            block_id="from",
            label=deps.plain("supporters.modal_from", lang),
            element=DatePickerElement(action_id="value", initial_date=today.isoformat()),
        ),
        InputBlock(
            block_id="to",
            label=deps.plain("supporters.modal_to", lang),
            element=DatePickerElement(action_id="value", initial_date=today.isoformat()),
        ),
    ]
    if stand_ins:
        blocks.append(
            InputBlock(
                block_id="stand_in",
                label=deps.plain("supporters.modal_stand_in", lang),
                hint=deps.plain("supporters.modal_stand_in_hint", lang),
                optional=True,
                element=StaticSelectElement(action_id="value", options=_options(stand_ins)),
            )
        )
    blocks.append(
        InputBlock(
            block_id="reason",
            label=deps.plain("supporters.modal_reason", lang),
            optional=True,
            element=PlainTextInputElement(action_id="value", max_length=sp.MAX_REASON),
        )
    )
    return View(
        type="modal",
        callback_id=ABSENCE_MODAL,
        title=PlainTextObject(text=deps.plain("supporters.modal_title", lang)[:24]),
        submit=PlainTextObject(text=deps.plain("supporters.modal_submit", lang)),
        close=PlainTextObject(text=deps.plain("supporters.modal_close", lang)),
        private_metadata=json.dumps({} if person.is_team else {"supporter": person.email}),
        blocks=blocks,
    )


async def open_modal(call: Invocation) -> None:
    """The `/sto afwezig` subcommand: for supporters and the team, not for contacts."""
    deps, person = call.deps, call.person
    if person.kind != "supporter":
        await call.respond(
            text=deps.t("errors.not_allowed", person.language, action="absent", region="")
        )
        return

    def read(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        workers = [(s.email, s.name) for s in sp.workers(session)]
        stand_ins = [(email, name) for email, name in workers if email != person.email]
        return workers, stand_ins

    supporters, stand_ins = await deps.read(read)
    view = absence_modal(deps, person.language, person, supporters, stand_ins, deps.today())
    await call.client.views_open(trigger_id=call.command["trigger_id"], view=view)


def _value(values: dict[str, Any], block: str) -> str | None:
    element = (values.get(block) or {}).get("value") or {}
    if "selected_option" in element:
        found = (element["selected_option"] or {}).get("value")
    elif "selected_date" in element:
        found = element["selected_date"]
    else:
        found = element.get("value")
    return str(found) if found else None


def _block_for(error: DomainError, has_supporter: bool) -> str:
    """Which input an error belongs under, so Slack shows it right there."""
    if isinstance(error, InvalidAbsence):
        return {"ends_on": "to", "stand_in": "stand_in", "reason": "reason"}.get(
            error.params["field"], "from"
        )
    if isinstance(error, NotAllowed | UnknownSupporter | AbsenceOverlap) and has_supporter:
        return "supporter"
    return "from"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.view(ABSENCE_MODAL)
    async def absence_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        values = view["state"]["values"]
        has_supporter = "supporter" in values
        meta = json.loads(view.get("private_metadata") or "{}")
        absent = _value(values, "supporter") or str(meta.get("supporter", ""))
        start, end = _value(values, "from"), _value(values, "to")
        stand_in = _value(values, "stand_in")
        reason = _value(values, "reason") or ""
        now = deps.clock.now()

        def run(session: Session, person: Person) -> sp.AbsenceResult:
            for block, given in (("from", start), ("to", end)):
                if not given:  # Slack requires both; a forged submission may not
                    raise Inline(block, key="supporters.modal_required")
            assert start is not None and end is not None
            if person.kind != "supporter" or (
                not person.is_team and absent.strip().lower() != person.email.lower()
            ):
                raise NotAllowed("absent")
            return register_absence(
                session,
                absent,
                date.fromisoformat(start),
                date.fromisoformat(end),
                stand_in,
                reason,
                actor_of(person, user_id),
                now,
            )

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=lambda error: _block_for(error, has_supporter),
            unknown_block="from",
        )
        if done is None:
            return
        person, result = done
        lang = person.language
        await ack()
        deps.wake()

        def describe(session: Session) -> dict[str, Any]:
            return sp.describe_absence(session, result.absence)

        data = await deps.read(describe)
        text = deps.t(
            "supporters.absent_saved",
            lang,
            absent=data["supporter_name"],
            stand_in=data["stand_in_name"] or "",
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            handed_over=result.handed_over,
        )
        await client.chat_postMessage(channel=user_id, text=text)
