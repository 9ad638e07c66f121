"""Who is this Slack user? By the data, or by their Slack profile email (then linked)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack.deps import SlackDeps
from models import people
from models.errors import DomainError
from models.people import Person

T = TypeVar("T")

log = logging.getLogger("sto.slack")


async def who(deps: SlackDeps, client: AsyncWebClient, user_id: str) -> Person | None:
    person = await deps.read(lambda s: people.by_slack_id(s, user_id))
    if person is not None:
        return person
    try:
        info = await client.users_info(user=user_id)
    except SlackApiError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        return None
    user = info.get("user") or {}
    email = (user.get("profile") or {}).get("email")
    if not email:
        return None
    return await deps.db(lambda s: people.link_slack_user(s, user_id, str(email)))


class Refused(Exception):
    """The domain refused what a person did; their language words the answer."""

    def __init__(self, person: Person, error: DomainError) -> None:
        super().__init__(str(error))
        self.person = person
        self.error = error


class _Unknown(Exception):
    pass


async def acting(
    deps: SlackDeps,
    client: AsyncWebClient,
    user_id: str,
    work: Callable[[Session, Person], T],
    *,
    deadline: float | None = None,
) -> tuple[Person, T] | None:
    """Who the Slack user is and `work` done as them, in one transaction: for a known
    user one trip to a worker thread instead of two. An unknown user is looked up by
    their Slack profile (and linked) first. None: nobody we know; Refused: the domain
    said no, and nothing of `work` was kept."""

    def run(session: Session, person: Person) -> tuple[Person, T]:
        try:
            return person, work(session, person)
        except DomainError as error:
            raise Refused(person, error) from error

    def known(session: Session) -> tuple[Person, T]:
        person = people.by_slack_id(session, user_id)
        if person is None:
            raise _Unknown()
        return run(session, person)

    try:
        return await deps.db(known, deadline=deadline)
    except _Unknown:
        pass
    linked = await who(deps, client, user_id)
    if linked is None:
        return None
    return await deps.db(lambda session: run(session, linked), deadline=deadline)
