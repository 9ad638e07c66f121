"""Inbound mail from an IMAP mailbox (aioimaplib): fetch, hand over, then mark \\Seen.

The loop, per connection:

1. connect (implicit TLS, STARTTLS or plain, per STO_IMAP_TLS), log in, and
   select the folder (STO_IMAP_FOLDER);
2. a round: `NOOP` (the server looks for new mail), `UID SEARCH UNSEEN`, then
   for each UID in order `UID FETCH BODY.PEEK[]` (PEEK: fetching does not
   mark the mail) and hand the raw mail to the pipeline's `handle(raw) ->
   bool`. Only when `handle` returned True, i.e. the mail's transaction has
   committed (acted on, ignored or flagged: in any case recorded), the mail is
   marked `\\Seen` (`UID STORE +FLAGS.SILENT`).
   When `handle` returns anything else or raises, the mail stays unseen and is
   tried again on a later round (after `retry_interval`, doubling up to
   `retry_max` while failures go on); the other mails of the round go ahead,
   so one mail that cannot be recorded never holds up the rest (the same for
   a mail the server refuses to FETCH or to mark);
3. wait for new mail: IDLE when the server's CAPABILITY offers it (renewed
   every `idle_refresh`, under the 29 minutes of RFC 2177), otherwise poll
   every `poll_interval`; then the next round.

A dropped connection, a refused login or a server that stops answering ends
the connection; the loop connects again after a pause that doubles from
`reconnect_initial` to `reconnect_max` (and starts again from the beginning
once a connection got as far as selecting the folder). Every command has a
timeout, and a connection that drops is noticed at once, also while idling.
The loop ends when the `stop` event is set: it leaves IDLE, logs out and
closes the connection; a `handle` call that is under way is finished first. A
folder that the user may only read is refused at SELECT: nothing could be
marked, so every mail would come back on every round.

Never lost, never handled twice: a mail is marked only after its transaction
committed, so a crash, a dropped connection or a failed STORE between the
commit and the `\\Seen` means that the same mail is fetched and handed over
again later. That is harmless: the pipeline records every mail by its
Message-ID first and answers True for one it already has, without acting on it
again; the mail is then marked. The same holds when two replicas read one
mailbox. Marking uses the mail's own `\\Seen` flag, so use a folder that people
do not read in a mail client (a person opening a mail first would mark it
read before the assistant sees it): a dedicated mailbox or a folder that a
server-side rule files the team's requests into.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aioimaplib

from config.settings import Settings, TlsMode

log = logging.getLogger("sto.mail")

Handler = Callable[[bytes], Awaitable[bool]]
T = TypeVar("T")

DEFAULT_PORTS = {TlsMode.tls: 993, TlsMode.starttls: 143, TlsMode.none: 143}
_EXISTS = re.compile(rb"\*\s+\d+\s+EXISTS", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\}$")


class ImapError(Exception):
    """The server refused something we cannot do without (login, folder, STARTTLS)."""


class ConnectionLost(Exception):
    """The connection dropped (or the server said BYE and closed it)."""


class _Stopped(Exception):
    """The stop event was set while connecting."""


@dataclass(frozen=True)
class ImapConfig:
    host: str
    username: str
    password: str
    port: int | None = None  # None: 993 for tls, 143 otherwise
    tls: TlsMode = TlsMode.tls
    folder: str = "INBOX"
    ssl_context: ssl.SSLContext | None = None  # None: the system's trusted CAs, host name checked
    use_idle: bool = True  # False: poll even when the server offers IDLE
    poll_interval: float = 60.0
    idle_refresh: float = 25 * 60.0
    retry_interval: float = 30.0  # first retry of mail that `handle` could not record
    retry_max: float = 15 * 60.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 5 * 60.0
    command_timeout: float = 60.0  # per command; a FETCH counts from the last data received
    connect_timeout: float = 30.0

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls]

    @classmethod
    def from_settings(cls, settings: Settings, **tuning: Any) -> ImapConfig | None:
        """The mailbox the STO_IMAP_* settings describe; None when STO_IMAP_HOST is unset (off)."""
        if not settings.imap_host:
            return None
        missing = [
            name
            for name, value in (
                ("STO_IMAP_USERNAME", settings.imap_username),
                ("STO_IMAP_PASSWORD", settings.imap_password),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"STO_IMAP_HOST is set, so {' and '.join(missing)} must be too")
        assert settings.imap_username is not None and settings.imap_password is not None
        config = cls(
            host=settings.imap_host,
            port=settings.imap_port or None,
            username=settings.imap_username,
            password=settings.imap_password,
            tls=settings.imap_tls,
            folder=settings.imap_folder,
        )
        return replace(config, **tuning)


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # untyped library
    """aioimaplib's protocol, noting every `* n EXISTS`: new mail, whenever it is announced.

    aioimaplib passes an untagged EXISTS on only while IDLE is active; one that
    arrives with the answer to another command (a mail delivered during a
    round) would otherwise be dropped, and the next IDLE would wait for a mail
    that is already there.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.new_mail = asyncio.Event()

    def _untagged_response(self, line: bytes) -> Any:
        if _EXISTS.match(line):
            self.new_mail.set()
        return super()._untagged_response(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]  # untyped library
    protocol: _Protocol

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop or asyncio.get_running_loop()
        self.protocol = _Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


def _quoted(value: str) -> str:
    """An IMAP quoted string (RFC 3501 4.3): the folder and user name may hold spaces."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: Any, what: str) -> Any:
    if response.result != "OK":
        detail = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise ImapError(f"{what}: {response.result} {detail}".strip())
    return response


def _uids(response: Any) -> list[int]:
    """The UIDs of a `UID SEARCH` answer (aioimaplib keeps `* SEARCH 1 2 3` as b"1 2 3")."""
    found: list[int] = []
    for line in response.lines[:-1]:  # the last line is the tagged OK's text
        if isinstance(line, bytes):
            found.extend(int(word) for word in line.split() if word.isdigit())
    return sorted(set(found))


def _body(response: Any, uid: int) -> bytes | None:
    """The message of a `UID FETCH uid BODY.PEEK[]` answer; None when it has gone."""
    lines = response.lines
    for index, line in enumerate(lines[:-1]):
        if not isinstance(line, bytes) or b"BODY[]" not in line.upper():
            continue
        uid_match = re.search(rb"UID (\d+)", line, re.IGNORECASE)
        if uid_match is not None and int(uid_match.group(1)) != uid:
            continue
        if _LITERAL.search(line) and isinstance(lines[index + 1], bytearray):
            return bytes(lines[index + 1])
    return None


class ImapInbox:
    """The IMAP loop; `await inbox.run(stop)` until the stop event is set.

    The attributes below are for health checks and tests: `connected` is set
    while a folder is selected, `waiting` while the loop waits for new mail
    (IDLE accepted by the server, or between polls), `failing` from a
    connection that ended in an error (`last_error` says which) until the next
    one selects the folder; `mode` is "idle" or "poll", `sessions` counts the
    connections that got as far as selecting.
    """

    def __init__(self, config: ImapConfig, handle: Handler) -> None:
        self.config = config
        self._handle = handle
        self.connected = asyncio.Event()
        self.waiting = asyncio.Event()
        self.failing = asyncio.Event()
        self.mode: str | None = None
        self.sessions = 0
        self.rounds = 0
        self.last_error: str | None = None
        self._lost = asyncio.Event()
        self._retry_delay = config.retry_interval
        self._context: ssl.SSLContext | None = None

    # -- the loop -----------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        delay = config.reconnect_initial
        while not stop.is_set():
            selected_before = self.sessions
            try:
                await self._connection(stop)
            except _Stopped:
                break
            except (ImapError, ConnectionLost, OSError, aioimaplib.AioImapException) as exc:
                # TimeoutError is an OSError; aioimaplib's own errors cover protocol trouble.
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "IMAP %s@%s:%s: %s; connecting again in %.3g s",
                    config.username,
                    config.host,
                    config.server_port,
                    self.last_error,
                    delay,
                )
                self.failing.set()
            except Exception as exc:  # a bug of ours or the library's: log it, keep the mail coming
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("IMAP loop failed; connecting again in %.3g s", delay)
                self.failing.set()
            if stop.is_set():
                break
            if self.sessions > selected_before:
                delay = config.reconnect_initial
            await self._pause(stop, delay)
            delay = min(delay * 2, config.reconnect_max)
        log.info("IMAP loop stopped")

    async def _connection(self, stop: asyncio.Event) -> None:
        config = self.config
        self._lost = lost = asyncio.Event()
        context = await self._ssl_context()

        def on_lost(exc: Exception | None) -> None:
            lost.set()

        client = _Client(
            config.host,
            config.server_port,
            timeout=config.connect_timeout,
            conn_lost_cb=on_lost,
            ssl_context=context if config.tls is TlsMode.tls else None,
        )
        try:
            await self._call(client.wait_hello_from_server(), config.connect_timeout, stop=stop)
            client.timeout = config.command_timeout
            if config.tls is TlsMode.starttls:
                assert context is not None
                await self._starttls(client, context, stop)
            login = client.login(_quoted(config.username), config.password)
            _check(await self._call(login, stop=stop), "LOGIN")
            await self._call(client.protocol.capability())  # the full list, after login
            selected = _check(await self._call(client.select(_quoted(config.folder))), "SELECT")
            if any(b"[READ-ONLY]" in bytes(line).upper() for line in selected.lines):
                # Nothing could be marked: every mail would be handed over again and again.
                raise ImapError(f"the folder {config.folder!r} is read-only for this user")
            idle = config.use_idle and client.has_capability("IDLE")
            self.mode = "idle" if idle else "poll"
            self.sessions += 1
            self.connected.set()
            self.failing.clear()
            log.info(
                "IMAP %s@%s:%s: %s selected, %s",
                config.username,
                config.host,
                config.server_port,
                config.folder,
                "waiting with IDLE" if idle else f"polling every {config.poll_interval:.0f} s",
            )
            while not stop.is_set():
                # NOOP first: the poll of RFC 3501 6.1.2, which makes the server look at
                # its mailbox (Dovecot finds mail delivered to a maildir meanwhile).
                _check(await self._call(client.noop()), "NOOP")
                client.protocol.new_mail.clear()
                failures = await self._round(client, stop)
                if stop.is_set():
                    break
                if client.protocol.new_mail.is_set() and not failures:
                    continue  # announced while we were busy: go again at once
                wait = config.idle_refresh if idle else config.poll_interval
                if failures:
                    wait = min(wait, self._retry_delay)
                    self._retry_delay = min(self._retry_delay * 2, config.retry_max)
                else:
                    self._retry_delay = config.retry_interval
                if idle:
                    await self._idle(client, stop, wait)
                else:
                    await self._sleep(client, stop, wait)
            with contextlib.suppress(Exception):
                await self._call(client.logout(), 5.0)
        finally:
            self.connected.clear()
            self.waiting.clear()
            await self._close(client)

    async def _round(self, client: _Client, stop: asyncio.Event) -> int:
        """Hand over every unseen mail; the number that could not be recorded."""
        self.rounds += 1
        search = _check(await self._call(client.uid_search("UNSEEN", charset=None)), "SEARCH")
        failures = 0
        for uid in _uids(search):
            if stop.is_set():
                break
            fetched = await self._call(client.uid("fetch", str(uid), "BODY.PEEK[]"))
            if fetched.result != "OK":  # this mail only (a damaged file): the rest goes on
                log.warning("IMAP mail UID %s could not be fetched: %s", uid, fetched.lines[-1:])
                failures += 1
                continue
            raw = _body(fetched, uid)
            if raw is None:
                continue  # expunged meanwhile (someone else moved or deleted it)
            if not await self._hand_over(uid, raw):
                failures += 1
                continue
            # Recorded: only now is the mail marked. A crash right here means it is
            # fetched again later; the pipeline knows its Message-ID and does not act twice.
            stored = await self._call(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"))
            if stored.result != "OK":  # recorded but not marked: handed over again later
                log.warning("IMAP mail UID %s could not be marked: %s", uid, stored.lines[-1:])
                failures += 1
        return failures

    async def _hand_over(self, uid: int, raw: bytes) -> bool:
        try:
            recorded = await self._handle(raw)
        except Exception:
            log.exception("IMAP mail UID %s could not be recorded; it stays unseen", uid)
            return False
        if recorded is not True:
            log.warning(
                "IMAP mail UID %s was not recorded (handle returned %r); it stays unseen",
                uid,
                recorded,
            )
            return False
        return True

    # -- waiting --------------------------------------------------------------

    async def _idle(self, client: _Client, stop: asyncio.Event, wait: float) -> None:
        idle = await self._call(client.idle_start(timeout=wait + 60.0))
        self.waiting.set()
        try:
            await self._until(stop, client.protocol.new_mail, wait)
        finally:
            self.waiting.clear()
        client.idle_done()
        _check(await self._call(idle), "IDLE")
        queue = client.protocol.idle_queue
        while not queue.empty():  # what IDLE reported is covered by the next round
            queue.get_nowait()

    async def _sleep(self, client: _Client, stop: asyncio.Event, wait: float) -> None:
        self.waiting.set()
        try:
            await self._until(stop, client.protocol.new_mail, wait)
        finally:
            self.waiting.clear()

    async def _until(self, stop: asyncio.Event, new_mail: asyncio.Event, wait: float) -> None:
        """Until stop, new mail or `wait` seconds; ConnectionLost when the connection drops."""
        waiters = {asyncio.ensure_future(event.wait()) for event in (stop, new_mail, self._lost)}
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self._lost.is_set() and not stop.is_set():
            raise ConnectionLost("connection closed by the server")

    async def _ssl_context(self) -> ssl.SSLContext | None:
        """The configured context, else the system's (made once, off the loop: it reads files)."""
        if self.config.tls is TlsMode.none:
            return None
        if self._context is None:
            self._context = self.config.ssl_context or await asyncio.to_thread(
                ssl.create_default_context
            )
        return self._context

    async def _pause(self, stop: asyncio.Event, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    # -- plumbing -------------------------------------------------------------

    async def _call(
        self,
        awaitable: Awaitable[T],
        limit: float | None = None,
        *,
        stop: asyncio.Event | None = None,
    ) -> T:
        """Await one command, bounded by a timeout and by the connection staying up.

        With `stop`, setting that event also ends the wait (raising _Stopped):
        for connecting and logging in, which may hang on a server that is gone.
        """
        task = asyncio.ensure_future(awaitable)
        events = [self._lost] + ([stop] if stop is not None else [])
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            done, _ = await asyncio.wait(
                {task, *waiters},
                timeout=limit or self.config.command_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            task.cancel()
            raise
        finally:
            for waiter in waiters:
                waiter.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: it no longer matters
        if stop is not None and stop.is_set():
            raise _Stopped
        if self._lost.is_set():
            raise ConnectionLost("connection closed by the server")
        raise TimeoutError("the IMAP server did not answer in time")

    async def _starttls(
        self, client: _Client, context: ssl.SSLContext, stop: asyncio.Event
    ) -> None:
        protocol = client.protocol
        if not client.has_capability("STARTTLS"):
            # Never fall back to plain text: the password would cross the network in clear.
            raise ImapError("the server does not offer STARTTLS (STO_IMAP_TLS=starttls)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _check(await self._call(protocol.execute(command), stop=stop), "STARTTLS")
        loop = asyncio.get_running_loop()
        protocol.transport = await self._call(
            loop.start_tls(protocol.transport, protocol, context, server_hostname=self.config.host),
            self.config.connect_timeout,
            stop=stop,
        )
        await self._call(protocol.capability())  # what was said before TLS no longer counts

    async def _close(self, client: _Client) -> None:
        """Close the connection and end every task the library started for it."""
        protocol = client.protocol
        idle_waiter = getattr(client, "_idle_waiter", None)
        if idle_waiter is not None:
            idle_waiter.cancel()
        transport = protocol.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        if transport is not None:
            with contextlib.suppress(TimeoutError):
                # A TLS connection says goodbye first; a server that is gone gets a moment.
                await asyncio.wait_for(self._lost.wait(), 2.0)
            if not self._lost.is_set():
                transport.abort()
        tasks = [
            client._client_task,
            *getattr(client, "tasks", ()),
            *getattr(protocol, "tasks", ()),
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_imap(config: ImapConfig, handle: Handler, stop: asyncio.Event) -> None:
    """Read `config`'s mailbox into `handle` until `stop` is set."""
    await ImapInbox(config, handle).run(stop)
