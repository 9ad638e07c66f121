"""The built-in SMTP receiver: a drop box for mail, served by aiosmtpd inside our loop.

It is meant for local use (a newcomer mails a booking to 127.0.0.1:2525) and for
a mail server that forwards the team's mail to it. Each message is handed, whole
and as received, to the inbound pipeline's `handle(raw) -> bool`, and the
sending server hears the outcome as the answer to its DATA command:

- `250` only after `handle` returned True: the mail's transaction has committed
  (acted on, ignored or flagged: in any case recorded). From then on the mail
  is ours; the sender deletes its copy.
- `451` when `handle` returned anything else or raised (the database is down, a
  bug): nothing was recorded, so the sending server keeps the mail in its queue
  and tries again later (RFC 5321 4.2.5). Nothing is lost.
- `552` when the message is larger than `max_size` (aiosmtpd answers it: at
  MAIL FROM when the client announces SIZE=, otherwise after DATA); `handle`
  never sees it.

Not a relay: whatever the recipients are, a message goes to `handle` and
nowhere else; this process never passes mail on to another server, so there is
no relaying to abuse and every recipient is accepted (the forwarding server
decides which addresses end up here). The usual open-relay checks (known
domains, authenticated senders) therefore do not apply. Anyone who can reach
the port can drop mail into the pipeline, so bind it to 127.0.0.1 (the
default) or a private address reached only by the forwarding server, and let
the pipeline's sender trust (DMARC result, confirmation codes) decide what a
mail may do.

Like a final delivery agent, the receiver puts a `Return-Path:` (the envelope
sender, `<>` for bounces, RFC 5321 4.4) and a `Received:` trace line on top of
the message before handing it over; the rest is byte for byte what was sent.

A `handle` call runs to its end even when the client hangs up meanwhile (it is
shielded from the connection's cancellation): a transaction is never cut off
halfway, and the sender, having seen no 250, delivers again and the pipeline
recognises the Message-ID. `Receiver.close()` stops listening, gives the calls
in flight a grace period, and then closes every connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from email.utils import format_datetime, localtime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from config.settings import Settings

log = logging.getLogger("sto.mail")

Handler = Callable[[bytes], Awaitable[bool]]

DEFAULT_MAX_SIZE = 32 * 1024 * 1024  # bytes; also what the EHLO answer announces as SIZE
ACCEPTED = "250 2.0.0 OK: message recorded"
TRY_LATER = "451 4.3.0 Could not record the message now; please try again later"
_TRACE_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-\[\]@+=]")


class Receiver:
    """A running receiver; `port` is the one it listens on (useful after asking for port 0)."""

    def __init__(self, server: asyncio.Server, connections: set[_Connection], relay: _Relay):
        self._server = server
        self._connections = connections
        self._relay = relay
        sockets = server.sockets
        self.host, self.port = sockets[0].getsockname()[:2]

    @property
    def accepted(self) -> int:
        """Messages answered 250 so far (health checks, tests)."""
        return self._relay.accepted

    async def close(self, *, grace: float = 30.0) -> None:
        """Stop listening, let `handle` calls in flight finish (up to `grace` s), drop the rest.

        A call that has to be cancelled had not committed (or the pipeline would
        have returned); its sender saw no 250 and delivers again.
        """
        self._server.close()
        await self._finish_in_flight(grace)  # their clients still get their 250
        sessions = []
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
            if connection.handler_task is not None:
                sessions.append(connection.handler_task)
        if sessions:
            await asyncio.gather(*sessions, return_exceptions=True)
        await self._finish_in_flight(grace)  # any that began while the first ones ended
        await self._server.wait_closed()

    async def _finish_in_flight(self, grace: float) -> None:
        pending = set(self._relay.in_flight)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            log.warning("SMTP receiver closing: cancelling a mail still being handled")
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)


class _Relay:
    """The aiosmtpd handler: DATA goes to `handle`, the outcome becomes the answer."""

    def __init__(self, handle: Handler, hostname: str) -> None:
        self._handle = handle
        self._hostname = hostname
        self.in_flight: set[asyncio.Task[bool]] = set()
        self.accepted = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = _trace(envelope, session, self._hostname) + _content(envelope)
        task = asyncio.ensure_future(self._handle(raw))
        self.in_flight.add(task)
        task.add_done_callback(functools.partial(self._finished, session.peer))
        try:
            # Shielded: a client that hangs up must not cut a transaction in half.
            recorded = await asyncio.shield(task)
        except Exception:  # logged by _finished, whether or not the client still listens
            return TRY_LATER
        if recorded is not True:
            log.warning(
                "inbound mail from %s was not recorded (handle returned %r); answered 451",
                session.peer,
                recorded,
            )
            return TRY_LATER
        self.accepted += 1
        return ACCEPTED

    def _finished(self, peer: object, task: asyncio.Task[bool]) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "inbound mail from %s could not be recorded; answered 451",
                peer,
                exc_info=error,
            )

    async def handle_exception(self, error: Exception) -> str:
        # Anything else that goes wrong in a session: say "later", never a permanent 5xx.
        log.error("SMTP receiver session error: %r", error)
        return "451 4.3.0 Temporary error; please try again later"


class _Connection(SMTP):
    """aiosmtpd's SMTP protocol, registered in a set so `close()` can end every session."""

    def __init__(self, registry: set[_Connection], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    @property
    def handler_task(self) -> asyncio.Task[None] | None:
        task: asyncio.Task[None] | None = self._handler_coroutine
        return task

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(error)


def _content(envelope: Envelope) -> bytes:
    content = envelope.original_content
    if content is None:  # pragma: no cover - aiosmtpd always sets it before DATA hooks
        content = b""
    return bytes(content)


def _trace(envelope: Envelope, session: Session, hostname: str) -> bytes:
    """`Return-Path:` and `Received:` for the top of the message (RFC 5321 4.4)."""
    sender = _TRACE_UNSAFE.sub("", envelope.mail_from or "")[:254]
    helo = _TRACE_UNSAFE.sub("", session.host_name or "unknown")[:100]
    peer = session.peer
    address = _TRACE_UNSAFE.sub("", str(peer[0])) if isinstance(peer, tuple) and peer else "?"
    lines = (
        f"Return-Path: <{sender}>\r\n"
        f"Received: from {helo} ([{address}])\r\n"
        f"\tby {hostname} (STO assistant) with ESMTP;\r\n"
        f"\t{format_datetime(localtime())}\r\n"
    )
    return lines.encode("utf-8", "replace")


async def start_receiver(
    host: str,
    port: int,
    handle: Handler,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    hostname: str | None = None,
    idle_timeout: float = 300.0,
) -> Receiver:
    """Listen on host:port (0 = any free port) in the running loop; `close()` the result.

    `hostname` is what the greeting and the trace header call this server
    (default: the machine's host name); `idle_timeout` drops a client that stays
    silent that long.
    """
    loop = asyncio.get_running_loop()
    name = hostname or socket.gethostname()
    relay = _Relay(handle, name)
    connections: set[_Connection] = set()

    def factory() -> _Connection:
        return _Connection(
            connections,
            relay,
            data_size_limit=max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=name,
            ident="STO assistant",
            timeout=idle_timeout,
            loop=loop,
        )

    server = await loop.create_server(factory, host, port)
    receiver = Receiver(server, connections, relay)
    log.info("SMTP receiver listening on %s:%s", receiver.host, receiver.port)
    return receiver


async def start_from_settings(settings: Settings, handle: Handler) -> Receiver | None:
    """The receiver STO_INBOUND_SMTP_HOST/PORT ask for, or None when the port is 0 (off)."""
    if settings.inbound_smtp_port == 0:
        log.info("SMTP receiver off (STO_INBOUND_SMTP_PORT=0)")
        return None
    return await start_receiver(settings.inbound_smtp_host, settings.inbound_smtp_port, handle)
