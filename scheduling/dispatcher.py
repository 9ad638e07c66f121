"""The dispatcher: claims due notifications, hands them to a channel, marks them sent.

Durable first, clock second: every message is a row in the outbox; the
scheduler and new rows only wake the dispatcher. A crash between claiming
and marking leaves the row "sending" with a lease; when the lease runs out
the row is due again, so nothing is lost. The channel gets the row's id and
dedupe key so a repeat after such a crash is recognisable (same Message-ID,
same Slack message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from models import outbox
from models.clock import Clock
from models.db import reading, transaction

log = logging.getLogger("sto.dispatcher")
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Message:
    """What a channel needs to deliver one notification; detached from the session."""

    id: int
    key: str
    template: str
    channel: str
    recipient: str
    language: str
    context: Mapping[str, Any]
    subject_type: str
    subject_id: int | None
    attempts: int


class TemporaryFailure(Exception):
    """Try again later (network down, 429, 4xx from SMTP)."""


class PermanentFailure(Exception):
    """Trying again will not help (unknown user, 5xx from SMTP)."""


class NotApplicable(Exception):
    """Nothing to deliver on this channel in this deployment (Slack is off). A direct
    message that names a mail address (`fallback_email`) becomes that mail, the same row
    (`outbox.redirect_to_mail`: same key, same Message-ID, so a mail answer to a proposal
    finds it); any other row (an App Home refresh, the team's request card, an
    announcement in Slack that has its own mail) is cancelled, not failed."""


class Notifier(Protocol):
    async def deliver(self, message: Message) -> None: ...


class Discard:
    """The notifier of a channel that is off: its rows are settled as not applicable
    (see `NotApplicable`) instead of waiting for ever."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def deliver(self, message: Message) -> None:
        raise NotApplicable(self.reason)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        batch: int = 50,
        lease: timedelta = LEASE,
    ) -> None:
        self.engine = engine
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def register(self, channel: str, notifier: Notifier) -> None:
        """Channels start after the dispatcher exists; rows for them wait until they do."""
        self.notifiers[channel] = notifier

    def wake(self) -> None:
        """Safe from any thread (APScheduler runs plain jobs in a worker thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def _claim(self, now: datetime) -> list[Message]:
        with transaction(self.engine) as session:
            rows = outbox.claim_due(
                session, now, set(self.notifiers), limit=self.batch, lease=self.lease
            )
            return [
                Message(
                    id=r.id or 0,
                    key=r.dedupe_key,
                    template=r.template,
                    channel=r.channel,
                    recipient=r.recipient,
                    language=r.language,
                    context=dict(r.context),
                    subject_type=r.subject_type,
                    subject_id=r.subject_id,
                    attempts=r.attempts,
                )
                for r in rows
            ]

    def _still_ours(self, message: Message) -> bool:
        with reading(self.engine) as session:
            return outbox.still_ours(session, message.id, message.attempts, self.clock.now())

    def _settle(
        self, message: Message, error: str | None, retry: bool, dropped: str | None = None
    ) -> None:
        now = self.clock.now()
        with transaction(self.engine) as session:
            if dropped is not None:
                by_mail = message.channel == outbox.OutboxChannel.slack and outbox.redirect_to_mail(
                    session, message.id, message.attempts, now, dropped
                )
                if not by_mail:
                    outbox.mark_dropped(session, message.id, message.attempts, now, dropped)
            elif error is None:
                outbox.mark_sent(session, message.id, message.attempts, now)
            else:
                again = retry and message.attempts < MAX_ATTEMPTS
                retry_at = now + backoff(message.attempts) if again else None
                settled = outbox.mark_failed(
                    session, message.id, message.attempts, now, error, retry_at=retry_at
                )
                if settled and retry_at is None:
                    self._fall_back(session, message, now)

    @staticmethod
    def _fall_back(session: Session, message: Message, now: datetime) -> None:
        """A Slack message that failed for good goes out by mail, in the same transaction
        that marks it failed (so a crash cannot lose both, nor send the mail twice)."""
        address = str(message.context.get("fallback_email") or "")
        if message.channel != outbox.OutboxChannel.slack or not address:
            return
        outbox.enqueue(
            session,
            key=outbox.mail_fallback_key(message.key),
            template=message.template,
            channel=outbox.OutboxChannel.email,
            recipient=address,
            now=now,
            language=message.language,
            context={k: v for k, v in message.context.items() if k != "fallback_email"},
            subject=(message.subject_type, message.subject_id)
            if message.subject_type and message.subject_id is not None
            else None,
        )

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many were handled."""
        messages = await asyncio.to_thread(self._claim, self.clock.now())
        for message in messages:
            # The batch shares one lease: a row cancelled, or re-claimed after the lease
            # ran out, since the claim must not go out (again).
            if not await asyncio.to_thread(self._still_ours, message):
                continue
            error: str | None = None
            dropped: str | None = None
            retry = False
            try:
                await self.notifiers[message.channel].deliver(message)
            except NotApplicable as exc:
                dropped = str(exc)
            except TemporaryFailure as exc:
                error, retry = f"temporary: {exc}", True
            except PermanentFailure as exc:
                error = f"permanent: {exc}"
            except Exception as exc:  # a bug in one channel must not stop the others
                log.exception("delivering notification %s failed", message.id)
                error, retry = f"error: {exc!r}", True
            await asyncio.to_thread(self._settle, message, error, retry, dropped)
        return len(messages)

    def _next_due(self) -> datetime | None:
        with transaction(self.engine) as session:
            return outbox.next_due(session, set(self.notifiers))

    async def _sleep(self, poll: float | None) -> float | None:
        """Until the next row falls due (paced rows go out at their time, not in bursts),
        a wake-up, or `poll` seconds, whichever comes first."""
        try:
            due = await asyncio.to_thread(self._next_due)
        except Exception:  # the database is away: poll, or wait for a wake-up
            return poll
        if due is None:
            return poll
        wait = max(0.05, (due - self.clock.now()).total_seconds())
        return wait if poll is None else min(wait, poll)

    async def run_forever(self, stop: asyncio.Event, poll: float | None = 30.0) -> None:
        """Drain, then sleep until woken (new rows, the scheduler) or `poll` seconds."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            # Cleared before draining: a wake-up that arrives meanwhile is kept.
            self._wake.clear()
            try:
                while await self.run_once() == self.batch:
                    pass
            except Exception:  # the database may be away for a while; the rows wait
                log.exception("dispatching failed; trying again at the next wake-up")
            waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=await self._sleep(poll), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
