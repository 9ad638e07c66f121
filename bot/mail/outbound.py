"""Sending composed mail: over SMTP, into files for local use, or into a list for tests.

A `Mail` (bot.mail.compose) carries the bytes as they go on the wire and the
envelope. `Mailer.send` either hands the mail over or raises the dispatcher's
TemporaryFailure (try again later: 4xx, a dropped connection, a timeout, the
server away, our own login refused) or PermanentFailure (5xx for this
message: unknown recipient, rejected content; an address the server cannot
take). Nothing else escapes except bugs.

SmtpMailer keeps ONE connection for many messages (the dispatcher sends one
at a time; a lock keeps concurrent callers in line), opens it on first use,
and opens a new one when the old one has gone stale or dropped: a message
that fails on a reused connection because it was closed under us is sent
once more on a fresh one (its Message-ID is the same, so even a rare double
is recognisable as one mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from bot.mail.compose import Mail
from config.settings import Settings, TlsMode
from scheduling.dispatcher import PermanentFailure, TemporaryFailure

log = logging.getLogger("sto.mail")
DEFAULT_PORTS = {TlsMode.none: 25, TlsMode.starttls: 587, TlsMode.tls: 465}
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


class _ConnectionLost(TemporaryFailure):
    """The connection broke (or the server said 421) before the message was accepted."""


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...

    async def close(self) -> None: ...


def _failure(code: int, text: str, *, ours: bool = False) -> TemporaryFailure | PermanentFailure:
    """4xx is worth another try later, 5xx is not (RFC 5321 4.2.1).

    Except where a 5xx is about our set-up rather than this message (`ours`:
    the sender refused, 530 authentication or STARTTLS required): a corrected
    setting must find the mail still waiting, so that is temporary too.
    """
    detail = f"{code} {text}".strip()
    if 400 <= code < 500 or code == 530 or ours:
        return TemporaryFailure(detail)
    return PermanentFailure(detail)


def _refused(exc: aiosmtplib.SMTPRecipientsRefused) -> TemporaryFailure | PermanentFailure:
    """All recipients refused: temporary when any refusal was, so no one is lost."""
    failures = [_failure(r.code, f"{r.message} ({r.recipient})") for r in exc.recipients]
    temporary = [f for f in failures if isinstance(f, TemporaryFailure)]
    return temporary[0] if temporary else failures[0]


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: TlsMode = TlsMode.starttls,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_idle: float = 60.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or DEFAULT_PORTS[tls]
        self.tls = tls
        self.username = username or None
        self.password = password
        self.timeout = timeout
        self.max_idle = max_idle
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        self.connections = 0  # opened so far (the tests and the benchmark read it)
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout: float = 30.0, tls_context: ssl.SSLContext | None = None
    ) -> SmtpMailer:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs STO_SMTP_HOST")
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=timeout,
            tls_context=tls_context,
        )

    async def send(self, mail: Mail) -> None:
        async with self._lock:
            reused = await self._ensure()
            try:
                await self._send(mail)
            except _ConnectionLost:
                if not reused:
                    raise
                log.info("SMTP connection was closed under us; sending again on a new one")
                await self._ensure()
                await self._send(mail)

    async def close(self) -> None:
        async with self._lock:
            await self._drop(polite=True)

    async def _ensure(self) -> bool:
        """A connected client; True when it is one that was used before."""
        client = self._client
        idle = time.monotonic() - self._last_used
        if client is not None and client.is_connected and idle < self.max_idle:
            return True
        await self._drop(polite=client is not None and client.is_connected)
        if self.local_hostname is None:
            self.local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls is TlsMode.tls,
            start_tls=False,  # STARTTLS and login below, so a failure can close it all
            timeout=self.timeout,
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
        )
        try:
            await client.connect()
            if self.tls is TlsMode.starttls:
                await client.starttls()
            if self.username:
                await client.login(self.username, self.password or "")
        except aiosmtplib.SMTPResponseException as exc:
            # A greeting, STARTTLS or login refused: our set-up, not this message.
            await _shut(client, client.protocol)
            raise TemporaryFailure(f"connect: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # refused, TLS, timeouts
            await _shut(client, client.protocol)
            raise TemporaryFailure(f"connect: {exc}") from exc
        self._client = client
        self.connections += 1
        self._last_used = time.monotonic()
        return False

    async def _send(self, mail: Mail) -> None:
        client = self._client
        assert client is not None
        try:
            errors, _ = await client.sendmail(mail.sender, list(mail.recipients), mail.data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc) from exc
        except aiosmtplib.SMTPSenderRefused as exc:  # 552 (too big) is this message's own
            log.warning(
                "SMTP server refused the sender %s: %s %s", exc.sender, exc.code, exc.message
            )
            raise _failure(exc.code, exc.message, ours=exc.code != 552) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # the server is closing the connection (RFC 5321 3.8)
                await self._drop(polite=False)
                raise _ConnectionLost(f"{exc.code} {exc.message}") from exc
            raise _failure(exc.code, exc.message) from exc
        except TimeoutError as exc:  # before OSError: it is one; the server may be busy
            await self._drop(polite=False)
            raise TemporaryFailure(f"timeout: {exc}") from exc
        except OSError as exc:  # SMTPServerDisconnected and every socket error
            await self._drop(polite=False)
            raise _ConnectionLost(f"connection lost: {exc}") from exc
        except ValueError as exc:  # an address aiosmtplib will not put on the wire
            raise PermanentFailure(f"address: {exc}") from exc
        except aiosmtplib.SMTPException as exc:  # anything else the client reports
            await self._drop(polite=False)
            raise TemporaryFailure(str(exc)) from exc
        self._last_used = time.monotonic()
        for address, response in errors.items():  # refused, while others took it: sent
            log.warning(
                "SMTP refused %s for %s: %s %s",
                address, mail.message_id, response.code, response.message,
            )  # fmt: skip

    async def _drop(self, *, polite: bool) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        protocol = client.protocol  # QUIT closes the client and forgets it
        if polite:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        await _shut(client, protocol)


async def _shut(
    client: aiosmtplib.SMTP, protocol: asyncio.BaseProtocol | None, wait: float = 1.0
) -> None:
    """Close, and wait (briefly) until the socket really is closed: TLS closes in steps,
    and a loop that stops first (the end of `sto run`, a test) would leave it open."""
    client.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while getattr(protocol, "transport", None) is not None and loop.time() < deadline:  # noqa: ASYNC110 (aiosmtplib offers no event for it)
        await asyncio.sleep(0.01)


def eml_name(message_id: str) -> str:
    """A file name from the Message-ID: the same message always lands in the same file."""
    ident = message_id.strip().strip("<>")
    safe = _UNSAFE.sub("_", ident)[:150].strip("._") or f"mail-{time.time_ns()}"
    return f"{safe}.eml"


class FileMailer:
    """Writes each mail as an .eml file (the embedded default: no SMTP server needed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, mail: Mail) -> None:
        try:
            await asyncio.to_thread(self._write, mail)
        except OSError as exc:  # a full disk or a read-only directory may pass
            raise TemporaryFailure(f"writing .eml: {exc}") from exc

    def _write(self, mail: Mail) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / eml_name(mail.message_id)
        partial = target.with_suffix(".eml.part")
        partial.write_bytes(mail.data)  # as it would go on the wire (CRLF line ends)
        os.replace(partial, target)  # a reader never sees half a mail
        return target

    async def close(self) -> None:
        return None


class RecordingMailer:
    """Keeps what it was given (tests): `mails`, and `sent` as EmailMessages; `fail`
    makes every send raise it."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.fail: Exception | None = None

    @property
    def sent(self) -> list[EmailMessage]:
        return [mail.message for mail in self.mails]

    async def send(self, mail: Mail) -> None:
        if self.fail is not None:
            raise self.fail
        self.mails.append(mail)

    async def close(self) -> None:
        return None


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when STO_SMTP_HOST is set, otherwise .eml files under STO_VAR_DIR/outbox."""
    if settings.smtp_host:
        return SmtpMailer.from_settings(settings)
    return FileMailer(settings.outbox_dir)
