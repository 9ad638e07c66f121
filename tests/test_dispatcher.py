"""The dispatcher on SQLite and PostgreSQL: claim, deliver, settle; crashes and concurrency.

Async code runs under `asyncio.run` inside plain tests. The notifier is a
small recorder that keeps every `Message` it is handed (thread-safely: the
concurrency tests share one between dispatchers in different threads) and
can run a hook per message to fail, or to do something "while delivering".
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from models import outbox
from models.clock import FixedClock
from models.db import transaction
from models.outbox import OutboxChannel
from models.tables import Notification
from models.types import NotificationStatus
from scheduling.dispatcher import (
    LEASE,
    MAX_ATTEMPTS,
    Dispatcher,
    Message,
    Notifier,
    PermanentFailure,
    TemporaryFailure,
    backoff,
)
from tests.conftest import NOW

N = NotificationStatus
Hook = Callable[[Message], Awaitable[None]]
CHANNELS = ("slack", "email", "team")


class Recorder:
    """A Notifier that records what it is asked to deliver, then runs `hook` (if any)."""

    def __init__(self, hook: Hook | None = None) -> None:
        self.hook = hook
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def deliver(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)
        if self.hook is not None:
            await self.hook(message)

    def delivered(self) -> list[str]:
        with self._lock:
            return [m.key for m in self.messages]

    def per_id(self) -> Counter[int]:
        with self._lock:
            return Counter(m.id for m in self.messages)


def raising(error: Exception) -> Hook:
    async def hook(message: Message) -> None:
        raise error

    return hook


# --- helpers -------------------------------------------------------------------------------


def add(
    engine: Engine,
    key: str,
    *,
    channel: OutboxChannel = OutboxChannel.slack,
    due_at: datetime | None = None,
    subject: tuple[str, int] | None = None,
) -> int:
    with transaction(engine) as session:
        row = outbox.enqueue(
            session,
            key=key,
            template="reminder",
            channel=channel,
            recipient="" if channel is OutboxChannel.team else f"to-{key}",
            now=NOW,
            due_at=due_at,
            language="en",
            context={"key": key},
            subject=subject,
        )
        assert row.id is not None
        return row.id


def row(engine: Engine, key: str) -> Notification:
    with Session(engine) as session:
        found = session.exec(select(Notification).where(Notification.dedupe_key == key)).one()
        return found


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def status(engine: Engine, key: str) -> str:
    return row(engine, key).status


def make(
    engine: Engine,
    clock: FixedClock | None = None,
    notifier: Notifier | None = None,
    channels: tuple[str, ...] = CHANNELS,
    batch: int = 50,
) -> tuple[Dispatcher, Recorder, FixedClock]:
    recorder = Recorder()
    clock = clock or FixedClock(NOW)
    notifiers = dict.fromkeys(channels, notifier or recorder)
    return Dispatcher(engine, notifiers, clock, batch=batch), recorder, clock


def run_once(dispatcher: Dispatcher) -> int:
    return asyncio.run(dispatcher.run_once())


def dead_dispatcher_claims(engine: Engine, now: datetime = NOW) -> list[str]:
    """A dispatcher that claimed rows and died before it settled any of them."""
    with transaction(engine) as session:
        claimed = outbox.claim_due(session, now, set(CHANNELS), limit=50, lease=LEASE)
        return [r.dedupe_key for r in claimed]


async def eventually(check: Callable[[], bool], within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


# --- run_once ------------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_capped_at_an_hour() -> None:
    seconds = [backoff(n).total_seconds() for n in range(0, 10)]
    assert seconds == [30, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(100) == timedelta(hours=1)


def test_run_once_delivers_due_rows_and_marks_them_sent(engine: Engine) -> None:
    add(engine, "b", due_at=NOW - timedelta(minutes=1), subject=("visit", 4))
    add(engine, "a", due_at=NOW - timedelta(minutes=2), channel=OutboxChannel.email)
    add(engine, "team", channel=OutboxChannel.team)
    add(engine, "later", due_at=NOW + timedelta(minutes=1))
    dispatcher, recorder, clock = make(engine)
    assert run_once(dispatcher) == 3
    assert recorder.delivered() == ["a", "b", "team"]  # in due order
    first, second, team = recorder.messages
    b = row(engine, "b")
    assert second == Message(
        id=b.id or 0,
        key="b",
        template="reminder",
        channel="slack",
        recipient="to-b",
        language="en",
        context={"key": "b"},
        subject_type="visit",
        subject_id=4,
        attempts=1,
    )
    assert (first.channel, first.recipient) == ("email", "to-a")
    assert (team.channel, team.recipient, team.subject_id) == ("team", "", None)
    for key in ("a", "b", "team"):
        r = row(engine, key)
        assert (r.status, r.sent_at, r.lease_until, r.attempts, r.last_error) == (
            "sent",
            NOW,
            None,
            1,
            "",
        )
    assert status(engine, "later") == "pending"
    assert run_once(dispatcher) == 0  # nothing is delivered twice
    clock.advance(timedelta(minutes=1))
    assert run_once(dispatcher) == 1
    assert recorder.delivered() == ["a", "b", "team", "later"]
    assert row(engine, "later").sent_at == NOW + timedelta(minutes=1)


def test_run_once_takes_at_most_a_batch(engine: Engine) -> None:
    for i in range(5):
        add(engine, f"r{i}")
    dispatcher, recorder, _ = make(engine, batch=2)
    assert [run_once(dispatcher) for _ in range(4)] == [2, 2, 1, 0]
    assert recorder.delivered() == [f"r{i}" for i in range(5)]


def test_a_temporary_failure_goes_back_in_line_after_a_backoff(engine: Engine) -> None:
    add(engine, "a")
    failing = Recorder(raising(TemporaryFailure("429 slow down")))
    dispatcher, _, clock = make(engine, notifier=failing)
    assert run_once(dispatcher) == 1
    r = row(engine, "a")
    assert (r.status, r.attempts, r.lease_until, r.sent_at) == ("pending", 1, None, None)
    assert r.due_at == NOW + backoff(1) == NOW + timedelta(seconds=30)
    assert r.last_error == "temporary: 429 slow down"
    clock.advance(timedelta(seconds=29))
    assert run_once(dispatcher) == 0  # not before its time
    clock.advance(timedelta(seconds=1))
    assert run_once(dispatcher) == 1
    r = row(engine, "a")
    assert (r.attempts, r.due_at) == (2, clock.now() + backoff(2))
    assert [m.attempts for m in failing.messages] == [1, 2]
    failing.hook = None  # the channel recovers
    clock.advance(backoff(2))
    assert run_once(dispatcher) == 1
    r = row(engine, "a")
    assert (r.status, r.attempts, r.sent_at) == ("sent", 3, clock.now())


def test_the_backoff_counts_from_when_the_failure_is_settled(engine: Engine) -> None:
    add(engine, "a")
    clock = FixedClock(NOW)

    async def slow_then_fail(message: Message) -> None:
        clock.advance(timedelta(seconds=10))  # the delivery took ten seconds
        raise TemporaryFailure("timeout")

    dispatcher, _, _ = make(engine, clock, Recorder(slow_then_fail))
    run_once(dispatcher)
    assert row(engine, "a").due_at == NOW + timedelta(seconds=10) + backoff(1)


def test_a_permanent_failure_marks_the_row_failed(engine: Engine) -> None:
    add(engine, "a")
    failing = Recorder(raising(PermanentFailure("user_not_found")))
    dispatcher, _, clock = make(engine, notifier=failing)
    assert run_once(dispatcher) == 1
    r = row(engine, "a")
    assert (r.status, r.attempts, r.lease_until, r.sent_at, r.due_at) == (
        "failed",
        1,
        None,
        None,
        NOW,
    )
    assert r.last_error == "permanent: user_not_found"
    clock.advance(timedelta(days=1))
    assert run_once(dispatcher) == 0
    assert len(failing.messages) == 1


def test_an_unexpected_exception_is_temporary_and_spares_the_others(engine: Engine) -> None:
    add(engine, "broken", due_at=NOW - timedelta(seconds=1))
    add(engine, "fine", channel=OutboxChannel.email)
    broken = Recorder(raising(ValueError("boom")))
    fine = Recorder()
    dispatcher = Dispatcher(engine, {"slack": broken, "email": fine}, FixedClock(NOW))
    assert run_once(dispatcher) == 2
    r = row(engine, "broken")
    assert (r.status, r.due_at, r.attempts) == ("pending", NOW + backoff(1), 1)
    assert r.last_error == "error: ValueError('boom')"
    assert status(engine, "fine") == "sent"
    assert (broken.delivered(), fine.delivered()) == (["broken"], ["fine"])


def test_after_max_attempts_temporary_failures_the_row_fails(engine: Engine) -> None:
    add(engine, "a")
    failing = Recorder(raising(TemporaryFailure("down")))
    dispatcher, _, clock = make(engine, notifier=failing)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert run_once(dispatcher) == 1
        r = row(engine, "a")
        assert r.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert (r.status, r.due_at) == ("pending", clock.now() + backoff(attempt))
            clock.advance(backoff(attempt))
    r = row(engine, "a")
    assert (r.status, r.attempts, r.last_error) == ("failed", MAX_ATTEMPTS, "temporary: down")
    clock.advance(timedelta(days=1))
    assert run_once(dispatcher) == 0
    assert len(failing.messages) == MAX_ATTEMPTS


def test_rows_for_channels_without_a_notifier_stay_pending(engine: Engine) -> None:
    add(engine, "dm")
    add(engine, "mail", channel=OutboxChannel.email)
    add(engine, "team", channel=OutboxChannel.team)
    dispatcher, recorder, _ = make(engine, channels=("slack",))
    assert run_once(dispatcher) == 1
    assert recorder.delivered() == ["dm"]
    for key in ("mail", "team"):
        r = row(engine, key)
        assert (r.status, r.attempts, r.lease_until) == ("pending", 0, None)
    nobody, _, _ = make(engine, channels=())
    assert run_once(nobody) == 0


# --- cancelled rows ------------------------------------------------------------------------


def test_a_cancelled_row_is_never_delivered(engine: Engine) -> None:
    add(engine, "a", subject=("visit", 1))
    add(engine, "b", subject=("visit", 2))
    with transaction(engine) as session:
        outbox.cancel_pending(session, ("visit", 1), NOW)
    dispatcher, recorder, clock = make(engine)
    assert run_once(dispatcher) == 1
    clock.advance(timedelta(days=1))
    assert run_once(dispatcher) == 0
    assert recorder.delivered() == ["b"]
    assert (status(engine, "a"), status(engine, "b")) == ("cancelled", "sent")


@pytest.mark.parametrize("outcome", ["delivered", "temporary", "permanent"])
def test_a_row_cancelled_between_claim_and_settle_stays_cancelled(
    engine: Engine, outcome: str
) -> None:
    add(engine, "a")

    async def cancel_meanwhile(message: Message) -> None:
        with transaction(engine) as session:
            session.execute(
                update(Notification)
                .where(col(Notification.id) == message.id)
                .values(status=N.cancelled.value)
            )
        if outcome == "temporary":
            raise TemporaryFailure("later")
        if outcome == "permanent":
            raise PermanentFailure("never")

    dispatcher, _, clock = make(engine, notifier=Recorder(cancel_meanwhile))
    assert run_once(dispatcher) == 1
    r = row(engine, "a")
    assert (r.status, r.sent_at, r.last_error) == ("cancelled", None, "")
    clock.advance(timedelta(days=1))
    assert run_once(dispatcher) == 0


def test_a_row_cancelled_during_a_failing_delivery_is_not_retried(engine: Engine) -> None:
    add(engine, "a", subject=("visit", 1))
    recorder = Recorder()

    async def cancel_then_fail(message: Message) -> None:
        recorder.hook = None  # a second attempt would succeed
        with transaction(engine) as session:
            outbox.cancel_pending(session, ("visit", 1), NOW)
        raise TemporaryFailure("timeout")

    recorder.hook = cancel_then_fail
    dispatcher, _, clock = make(engine, notifier=recorder)
    run_once(dispatcher)
    clock.advance(timedelta(hours=1))
    run_once(dispatcher)
    assert recorder.delivered() == ["a"]
    assert status(engine, "a") == "cancelled"


def test_a_row_cancelled_before_its_turn_in_the_batch_is_not_delivered(
    engine: Engine,
) -> None:
    add(engine, "first", subject=("visit", 1), due_at=NOW - timedelta(seconds=1))
    add(engine, "second", subject=("visit", 2))

    async def cancel_the_other(message: Message) -> None:
        if message.key == "first":
            with transaction(engine) as session:
                outbox.cancel_pending(session, ("visit", 2), NOW)

    recorder = Recorder(cancel_the_other)
    dispatcher, _, _ = make(engine, notifier=recorder)
    run_once(dispatcher)
    assert recorder.delivered() == ["first"]
    assert status(engine, "second") == "cancelled"


# --- crash safety --------------------------------------------------------------------------


def test_rows_of_a_dead_dispatcher_are_delivered_once_its_lease_runs_out(engine: Engine) -> None:
    for key in ("a", "b"):
        add(engine, key)
    assert dead_dispatcher_claims(engine) == ["a", "b"]
    dispatcher, recorder, clock = make(engine)
    clock.advance(timedelta(minutes=1))
    assert run_once(dispatcher) == 0
    clock.set(NOW + LEASE)
    assert run_once(dispatcher) == 0  # still the dead one's, up to the last second
    assert [status(engine, k) for k in ("a", "b")] == ["sending", "sending"]
    clock.advance(timedelta(seconds=1))
    assert run_once(dispatcher) == 2
    assert recorder.delivered() == ["a", "b"]
    assert [m.attempts for m in recorder.messages] == [2, 2]
    for key in ("a", "b"):
        r = row(engine, key)
        assert (r.status, r.sent_at, r.lease_until, r.attempts) == ("sent", clock.now(), None, 2)


def test_what_was_confirmed_sent_is_never_repeated(engine: Engine) -> None:
    add(engine, "a")
    first, recorder, _ = make(engine)
    assert run_once(first) == 1
    second, again, clock = make(engine)
    clock.advance(LEASE * 10)
    assert run_once(second) == 0
    assert (recorder.delivered(), again.delivered()) == (["a"], [])


def test_a_row_of_a_dead_dispatcher_cancelled_meanwhile_is_not_delivered(
    engine: Engine,
) -> None:
    add(engine, "a", subject=("visit", 1))
    assert dead_dispatcher_claims(engine) == ["a"]
    with transaction(engine) as session:
        outbox.cancel_pending(session, ("visit", 1), NOW + timedelta(minutes=1))
    dispatcher, recorder, clock = make(engine)
    clock.advance(LEASE * 2)
    run_once(dispatcher)
    assert recorder.delivered() == []
    assert status(engine, "a") == "cancelled"


def test_a_batch_that_outlives_its_lease_does_not_repeat_what_another_sent(
    engine: Engine,
) -> None:
    add(engine, "slow", due_at=NOW - timedelta(seconds=1))
    add(engine, "rest")
    clock = FixedClock(NOW)
    other, other_recorder, _ = make(engine, clock)

    async def hangs_past_the_lease(message: Message) -> None:
        if message.key == "slow":
            clock.advance(LEASE + timedelta(seconds=1))
            await other.run_once()  # meanwhile another dispatcher takes the expired lease

    slow = Recorder(hangs_past_the_lease)
    first, _, _ = make(engine, clock, slow)
    asyncio.run(first.run_once())
    assert other_recorder.delivered() == ["slow", "rest"]  # "slow" is in flight: unavoidable
    assert status(engine, "rest") == "sent"
    assert slow.delivered() == ["slow"]  # but "rest" was confirmed sent before its turn here


# --- concurrency ---------------------------------------------------------------------------


def test_two_dispatchers_deliver_every_row_exactly_once(engine: Engine) -> None:
    """On PostgreSQL they claim side by side (SKIP LOCKED); on SQLite they take turns."""
    postgres = engine.dialect.name == "postgresql"
    count = 1000 if postgres else 200
    with transaction(engine) as session:
        session.add_all(
            Notification(
                dedupe_key=f"n{i:04d}",
                template="reminder",
                channel="slack",
                recipient=f"U{i}",
                due_at=NOW - timedelta(seconds=count - i),
                created_at=NOW,
            )
            for i in range(count)
        )

    async def interleave(message: Message) -> None:
        await asyncio.sleep(0)

    recorder = Recorder(interleave)
    clock = FixedClock(NOW)
    barrier = threading.Barrier(2)

    def drain(_: int) -> int:
        dispatcher = Dispatcher(engine, {"slack": recorder}, clock)

        async def run() -> int:
            handled = 0
            while done := await dispatcher.run_once():
                handled += done
            return handled

        barrier.wait(timeout=30)
        return asyncio.run(run())

    with ThreadPoolExecutor(max_workers=2) as pool:
        handled = list(pool.map(drain, range(2), timeout=120))

    per_id = recorder.per_id()
    assert len(per_id) == count
    assert set(per_id.values()) == {1}
    assert sum(handled) == count
    final = rows(engine)
    assert len(final) == count
    assert {(r.status, r.attempts) for r in final} == {("sent", 1)}
    assert all(r.sent_at == NOW and r.lease_until is None for r in final)
    if postgres:
        assert min(handled) > 0, handled  # both worked, neither waited for the other


# --- run_forever ---------------------------------------------------------------------------


def test_run_forever_drains_then_wakes_for_a_new_row_and_stops(engine: Engine) -> None:
    for i in range(5):
        add(engine, f"r{i}")
    dispatcher, recorder, _ = make(engine, batch=2)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop, poll=None))
        assert await eventually(lambda: status(engine, "r4") == "sent")  # three batches
        await asyncio.sleep(0.1)  # let it go to sleep
        add(engine, "new")
        await asyncio.sleep(0.2)
        assert status(engine, "new") == "pending"  # poll=None: only a wake brings it
        started = time.monotonic()
        dispatcher.wake()
        assert await eventually(lambda: status(engine, "new") == "sent", within=2)
        assert time.monotonic() - started < 1
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert recorder.delivered() == [*(f"r{i}" for i in range(5)), "new"]


def test_run_forever_polls_without_a_wake(engine: Engine) -> None:
    dispatcher, recorder, _ = make(engine)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop, poll=0.05))
        await asyncio.sleep(0.1)
        add(engine, "a")
        assert await eventually(lambda: recorder.delivered() == ["a"], within=2)
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert status(engine, "a") == "sent"


def test_run_forever_with_the_stop_event_set_does_nothing(engine: Engine) -> None:
    add(engine, "a")
    dispatcher, recorder, _ = make(engine)

    async def scenario() -> None:
        stop = asyncio.Event()
        stop.set()
        await asyncio.wait_for(dispatcher.run_forever(stop, poll=None), timeout=1)

    asyncio.run(scenario())
    assert recorder.delivered() == []
    assert status(engine, "a") == "pending"


def test_a_wake_during_a_drain_is_not_lost(engine: Engine) -> None:
    add(engine, "first")
    dispatcher, recorder, _ = make(engine)

    async def a_new_row_arrives(message: Message) -> None:
        if message.key == "first":
            add(engine, "second")  # e.g. a Slack listener commits a request meanwhile
            dispatcher.wake()

    recorder.hook = a_new_row_arrives

    async def scenario() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop, poll=None))
        delivered = await eventually(lambda: "second" in recorder.delivered(), within=0.5)
        stop.set()
        await asyncio.wait_for(task, timeout=1)
        return delivered

    assert asyncio.run(scenario())
    assert status(engine, "second") == "sent"


class MovingClock:
    """Real time passing, from NOW: rows due a moment later fall due on their own."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self.started)


def test_run_forever_sleeps_until_the_next_row_is_due_and_sends_it_then(engine: Engine) -> None:
    """Paced rows (an announcement, one every few seconds) go out at their time: not in a
    burst at the next wake-up, and without needing one."""
    recorder = Recorder()
    clock = MovingClock()
    dispatcher = Dispatcher(engine, dict.fromkeys(CHANNELS, recorder), clock)
    add(engine, "now")
    add(engine, "soon", due_at=NOW + timedelta(seconds=0.6))
    add(engine, "later", due_at=NOW + timedelta(seconds=1.2))
    sent_at: dict[str, float] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop, poll=None))

        def seen() -> bool:
            for key in recorder.delivered():
                sent_at.setdefault(key, time.monotonic() - clock.started)
            return len(sent_at) == 3

        assert await eventually(seen, within=5)
        stop.set()
        await asyncio.wait_for(task, timeout=2)

    asyncio.run(scenario())
    assert recorder.delivered() == ["now", "soon", "later"]
    assert sent_at["now"] < 0.5
    assert 0.6 <= sent_at["soon"] < 1.1
    assert 1.2 <= sent_at["later"] < 1.9
