"""What every Slack listener needs, handed over once when the app is built."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.render import Renderer, default_renderer, local_date
from config.settings import Settings
from models.clock import Clock, SystemClock
from models.db import reading, transaction

T = TypeVar("T")


def escape(text: str) -> str:
    """Slack mrkdwn control characters: nobody can ping @channel or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack waits 3 s for an ack; what is committed must be acked before that, with room to send.
ACK_BUDGET = 2.5


class TooLate(Exception):
    """The work finished after Slack stopped waiting for the ack: it was rolled back."""


def ack_deadline() -> float:
    return time.monotonic() + ACK_BUDGET


@dataclass
class SlackDeps:
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    renderer: Renderer = field(default_factory=default_renderer)
    wake: Callable[[], None] = lambda: None  # tells the dispatcher new rows are due

    def today(self) -> date:
        """Today where the team works (STO_TIMEZONE): periods turn over at its midnight."""
        return local_date(self.clock.now(), self.settings.timezone)

    async def db(self, work: Callable[[Session], T], *, deadline: float | None = None) -> T:
        """Run `work` in one transaction, in a worker thread: the event loop never blocks.

        With a `deadline` (a `time.monotonic()` value) the transaction is rolled back
        instead of committed once it has passed, raising `TooLate`: work that must be
        answered within Slack's 3 seconds (a modal submission) is not kept when Slack
        has already told the person it failed.
        """

        def run() -> T:
            with transaction(self.engine) as session:
                result = work(session)
                if deadline is not None and time.monotonic() > deadline:
                    raise TooLate()
                return result

        return await asyncio.to_thread(run)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Like `db`, for work that only reads: it takes no write lock on SQLite."""

        def run() -> T:
            with reading(self.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)

    def t(self, key: str, language: str, **context: Any) -> str:
        """Render mrkdwn; every string value is escaped first (it may be user text)."""
        safe = {k: escape(v) if isinstance(v, str) else v for k, v in context.items()}
        return self.renderer.render(key, language, **safe)

    def plain(self, key: str, language: str, **context: Any) -> str:
        """Render plain_text (labels, buttons), where Slack shows characters as they are."""
        return self.renderer.render(key, language, **context)
