"""Listeners whose ack leaves the moment they call it, and whose work goes on after.

Bolt's default (`process_before_response=False`) does the same, but waits for the
ack by waking every 10 ms: a request that waits 150 ms under load is woken 15
times, which cost about an eighth of a modal submission's CPU. Here the app runs
with `process_before_response=True` (Bolt answers when the listener returns), and
every listener is registered wrapped: it runs as a task of its own, and the
wrapper returns as soon as the listener has acked, on an event rather than a timer.
Events (which a listener does not ack) are acked by Bolt at once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.response import BoltResponse

log = logging.getLogger("sto.slack")

Listener = Callable[..., Coroutine[Any, Any, None]]

# Strong references: a task nobody holds may be collected before it finishes.
_running: set[asyncio.Task[None]] = set()


class _SignallingAck(AsyncAck):
    """The listener's `ack`: acks through Bolt's own, then says so."""

    def __init__(self, real: AsyncAck, acked: asyncio.Event) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._real = real
        self._acked = acked

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        try:
            self.response = await self._real(*args, **kwargs)
        finally:
            self._acked.set()
        return self.response


def early_ack(listener: Listener) -> Listener:
    takes_ack = "ack" in inspect.signature(listener).parameters

    # functools.wraps: Bolt reads the listener's own parameters (inspect.unwrap) to
    # decide what to hand over, and hands it to this wrapper by name.
    @functools.wraps(listener)
    async def run(**kwargs: Any) -> None:
        acked = asyncio.Event()
        if takes_ack:
            kwargs["ack"] = _SignallingAck(kwargs["ack"], acked)
        task = asyncio.create_task(listener(**kwargs))
        _running.add(task)
        task.add_done_callback(functools.partial(_finished, acked, listener.__name__))
        if not takes_ack:
            return
        waiting = asyncio.create_task(acked.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not acked.is_set():
            await task  # it ended (or failed) without an ack: Bolt answers as it would

    return run


def _finished(acked: asyncio.Event, name: str, task: asyncio.Task[None]) -> None:
    _running.discard(task)
    if task.cancelled() or task.exception() is None:
        return
    if acked.is_set():  # before the ack, the wrapper re-raised it to Bolt's error handler
        log.error("Slack listener %s failed after its ack", name, exc_info=task.exception())


class EarlyAckApp(AsyncApp):
    """AsyncApp whose listeners are registered through `early_ack`."""

    def _wrapped(self, register: Callable[..., Any]) -> Callable[[Listener], Listener]:
        def decorate(listener: Listener) -> Listener:
            register(early_ack(listener))
            return listener

        return decorate

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().command(*args, **kwargs))

    def action(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().action(*args, **kwargs))

    def view(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().view(*args, **kwargs))

    def event(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().event(*args, **kwargs))

    def options(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().options(*args, **kwargs))

    def shortcut(self, *args: Any, **kwargs: Any) -> Callable[[Listener], Listener]:
        return self._wrapped(super().shortcut(*args, **kwargs))
