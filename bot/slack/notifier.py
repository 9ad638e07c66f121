"""Delivering outbox rows in Slack: direct messages, the team's request card, App Homes."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, select

from bot.slack import blocks, home
from bot.slack.deps import SlackDeps
from bot.slack.listeners import request_proposals as request_date_listeners
from bot.slack.listeners import request_propose as request_propose_listeners
from bot.slack.listeners import visits as visit_listeners
from models import homes
from models import requests as rq
from models.tables import SlackPost, SupportRequest
from scheduling import ranking
from scheduling.dispatcher import Message, PermanentFailure, TemporaryFailure
from scheduling.ranking import Candidate

# Notification templates whose direct message carries buttons: template -> blocks builder.
BUTTONS: dict[str, Callable[[SlackDeps, Message, str], list[Block]]] = {
    "visit_proposal": visit_listeners.proposal_blocks,
    "visit_confirm_question": visit_listeners.confirm_blocks,
    "request_proposal": request_date_listeners.proposal_blocks,
    "request_assigned_supporter": request_propose_listeners.propose_blocks,
    "request_dates_declined": request_propose_listeners.propose_blocks,
}
# Errors that no retry will cure: the user or channel is gone, or we may not post there.
PERMANENT = {
    "user_not_found",
    "users_not_found",
    "channel_not_found",
    "account_inactive",
    "is_archived",
    "not_in_channel",
    "cannot_dm_bot",
    "invalid_auth",
    "not_authed",
    "missing_scope",
}


class SlackNotifier:
    def __init__(self, deps: SlackDeps, client: AsyncWebClient) -> None:
        self.deps = deps
        self.client = client

    async def deliver(self, message: Message) -> None:
        try:
            if message.channel == "team":
                await self._team(message)
            elif message.channel == "home":
                await self._home(message)
            else:
                await self._direct(message)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in PERMANENT:
                raise PermanentFailure(error) from exc
            raise TemporaryFailure(error or str(exc)) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryFailure(repr(exc)) from exc

    async def _direct(self, message: Message) -> None:
        opened = await self.client.conversations_open(users=message.recipient)
        channel = opened["channel"]["id"]
        text = self.deps.t(f"notify.{message.template}", message.language, **message.context)
        buttons = BUTTONS.get(message.template)
        if buttons is None:
            await self.client.chat_postMessage(channel=channel, text=text)
        else:
            blocks = buttons(self.deps, message, text)
            await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)

    async def _team(self, message: Message) -> None:
        """Post the request's card once, then update that same message as it moves on."""
        channel = self.deps.settings.slack_team_channel
        lang = self.deps.settings.language.value
        if message.subject_type != "request" or message.subject_id is None:
            if channel and message.subject_type == "absence":  # a message for the team to read
                text = self.deps.t(f"notify.{message.template}", lang, **message.context)
                await self.client.chat_postMessage(channel=channel, text=text)
            return
        request_id = message.subject_id

        def read(session: Session) -> tuple[dict[str, object], list[Candidate], SlackPost | None]:
            request = session.get(SupportRequest, request_id)
            assert request is not None
            data = rq.describe(session, request)
            choices = ranking.rank(session, request, self.deps.today())
            post = session.exec(
                select(SlackPost).where(
                    SlackPost.subject_type == "request", SlackPost.subject_id == request_id
                )
            ).first()
            return data, choices, post

        data, choices, post = await self.deps.read(read)
        if channel:
            card = blocks.team_card(self.deps, lang, data, choices)
            text = f"{data['ref']}: {data['region_name']}"
            if post is not None:
                await self.client.chat_update(
                    channel=post.channel, ts=post.ts, text=text, blocks=card
                )
            else:
                posted = await self.client.chat_postMessage(channel=channel, text=text, blocks=card)
                ts, where = str(posted["ts"]), str(posted["channel"])

                def remember(session: Session) -> None:
                    session.add(
                        SlackPost(
                            subject_type="request", subject_id=request_id, channel=where, ts=ts
                        )
                    )

                await self.deps.db(remember)

    async def _home(self, message: Message) -> None:
        """Publish the person's App Home as the data stands now. Their other waiting
        refreshes are settled first: the view built after that shows what they were for."""
        user_id, now = message.recipient, self.deps.clock.now()
        await self.deps.db(lambda session: homes.covered(session, user_id, message.id, now))
        await home.publish(self.deps, self.client, user_id)
