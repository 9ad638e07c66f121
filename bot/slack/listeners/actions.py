"""Buttons and selects: the team's approve / reject / assign, and a contact's cancel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack import blocks
from bot.slack.deps import SlackDeps
from bot.slack.identity import who
from bot.slack.listeners.common import act_as, tell
from models import requests as rq
from models.actor import Actor
from models.people import Person


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def act(
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        work: Callable[[Session, Person, Actor, datetime], None],
    ) -> Person | None:
        """`act_as`, returning who acted (None: nothing was done)."""
        done = await act_as(deps, body, client, respond, work)
        return None if done is None else done[0]

    @app.action(blocks.APPROVE)
    async def approve(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        ref = body["actions"][0]["value"]

        def work(session: Session, person: Person, by: Actor, now: Any) -> None:
            person.require_team("approve")
            rq.approve(session, ref, by, now)

        await act(body, client, respond, work)

    @app.action(blocks.CANCEL)
    async def cancel(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        ref = body["actions"][0]["value"]

        def work(session: Session, person: Person, by: Actor, now: Any) -> None:
            request = rq.get_request(session, ref)
            person.require_requester_side("cancel", rq.describe(session, request)["region"])
            rq.cancel(session, ref, by, now)

        # Confirm only what happened: not after a refusal or a repeated delivery,
        # and in the language of the person who cancelled.
        person = await act(body, client, respond, work)
        if person is not None:
            await tell(
                body,
                client,
                respond,
                deps.t("slack.done", person.language, ref=ref, status="cancelled"),
            )

    @app.action(blocks.ASSIGN)
    async def assign(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        ref, _, email = body["actions"][0]["selected_option"]["value"].partition("|")

        def work(session: Session, person: Person, by: Actor, now: Any) -> None:
            person.require_team("assign")
            rq.assign(session, ref, by, now, supporter_email=email)

        await act(body, client, respond, work)

    @app.action(blocks.REJECT)
    async def reject(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        user_id = body["user"]["id"]
        person = await who(deps, client, user_id)
        if person is None or not person.is_team:
            lang = person.language if person else deps.settings.language.value
            await tell(
                body,
                client,
                respond,
                deps.t("errors.not_allowed", lang, action="reject", region=""),
            )
            return
        container = body.get("container") or {}
        view = blocks.reject_modal(
            deps,
            person.language,
            body["actions"][0]["value"],
            str(container.get("channel_id", "")),
            str(container.get("message_ts", "")),
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)
