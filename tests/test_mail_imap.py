"""The IMAP loop against a real Dovecot, started per test by tests/imap_server.py.

Each test runs the loop in its own event loop (asyncio.run) with short
intervals and timeouts, and a `handle` (Mailbag) that records the Message-ID of
every mail it is given, answers from a script per mail, and puts each call on
a queue the test awaits. The server's side is read with imaplib on separate
connections (EXAMINE: read-only), in a worker thread.

Dovecot missing is a failure that says to run scripts/ensure-dovecot.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from bot.mail.imap import ImapConfig, ImapInbox
from config.settings import Settings, TlsMode
from tests.imap_server import DovecotServer, running_dovecot

T = TypeVar("T")
TIMEOUT = 10.0


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[DovecotServer]:
    with running_dovecot(tls=True) as server:
        yield server


def make_mail(name: str, body: str = "Wij willen graag 2 dagen ondersteuning.") -> bytes:
    return (
        "From: Anne de Vries <anne@school.example>\r\n"
        "To: ondersteuning@sto.example\r\n"
        f"Subject: aanvraag {name}\r\n"
        f"Message-ID: <{name}@school.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


def mid(name: str) -> str:
    return f"<{name}@school.example>"


def config_for(server: DovecotServer, **tuning: Any) -> ImapConfig:
    base = ImapConfig(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        tls=TlsMode.none,
        retry_interval=0.2,
        retry_max=0.4,
        reconnect_initial=0.05,
        reconnect_max=0.4,
        command_timeout=5.0,
        connect_timeout=5.0,
    )
    return replace(base, **tuning)


class Mailbag:
    """A `handle(raw) -> bool` that records, answers from a script, and can be awaited."""

    def __init__(
        self,
        answers: dict[str, list[bool | Exception]] | None = None,
        during: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.answers = answers or {}
        self.during = during
        self.calls: list[str] = []
        self.raws: dict[str, bytes] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, raw: bytes) -> bool:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = str(message["Message-ID"])
        self.calls.append(message_id)
        self.raws[message_id] = raw
        self.queue.put_nowait(message_id)
        if self.during is not None:
            await self.during(message_id)
        script = self.answers.get(message_id)
        answer = script.pop(0) if script else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def next(self, within: float = TIMEOUT) -> str:
        return await asyncio.wait_for(self.queue.get(), within)


@contextlib.asynccontextmanager
async def running(config: ImapConfig, handle: Mailbag) -> AsyncIterator[ImapInbox]:
    """The loop as a task; stopped through its event (and awaited) at the end."""
    inbox = ImapInbox(config, handle)
    stop = asyncio.Event()
    task = asyncio.create_task(inbox.run(stop))
    try:
        yield inbox
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)


async def waiting(inbox: ImapInbox) -> None:
    await asyncio.wait_for(inbox.waiting.wait(), TIMEOUT)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 60)

    return asyncio.run(bounded())


def test_unseen_mail_is_handed_over_and_marked_seen_only_after_it_was_recorded(
    dovecot: DovecotServer,
) -> None:
    dovecot.append(make_mail("een", "Hoeveel dagen hebben wij nog? Groet, Jörg"))
    dovecot.deliver(make_mail("twee"))
    dovecot.deliver(make_mail("gelezen"), seen=True)  # read before: not ours to handle
    seen_during: dict[str, bool] = {}

    async def during(message_id: str) -> None:
        stored = await asyncio.to_thread(dovecot.messages)
        seen_during[message_id] = any(m.seen for m in stored if m.message_id == message_id)

    handle = Mailbag(during=during)

    async def scenario() -> None:
        async with running(config_for(dovecot), handle) as inbox:
            await waiting(inbox)  # the first round is over
            assert inbox.mode == "idle" and inbox.sessions == 1

    run(scenario)
    assert handle.calls == [mid("een"), mid("twee")]
    assert seen_during == {mid("een"): False, mid("twee"): False}
    assert dovecot.unseen() == set()
    # BODY.PEEK[]: the mail as the server has it, not a byte changed.
    assert handle.raws[mid("een")] == make_mail("een", "Hoeveel dagen hebben wij nog? Groet, Jörg")


def test_a_mail_that_could_not_be_recorded_stays_unseen_and_comes_back(
    dovecot: DovecotServer,
) -> None:
    dovecot.deliver(make_mail("lastig"))
    dovecot.deliver(make_mail("gewoon"))
    seen_during: list[tuple[str, bool]] = []

    async def during(message_id: str) -> None:
        stored = await asyncio.to_thread(dovecot.messages)
        seen_during.append((message_id, any(m.seen for m in stored if m.message_id == message_id)))

    answers: dict[str, list[bool | Exception]] = {
        mid("lastig"): [False, RuntimeError("database is down"), True]
    }
    handle = Mailbag(answers, during)

    async def scenario() -> None:
        async with running(config_for(dovecot), handle):
            assert [await handle.next() for _ in range(4)] == [
                mid("lastig"),
                mid("gewoon"),  # the rest of the round goes ahead
                mid("lastig"),  # next round (after retry_interval): raises
                mid("lastig"),  # and again: recorded now
            ]

    run(scenario)
    assert all(not seen for _, seen in seen_during), seen_during
    assert dovecot.unseen() == set()
    assert handle.calls.count(mid("gewoon")) == 1


@pytest.mark.parametrize("how", ["append", "deliver"])
def test_idle_hands_over_a_mail_that_arrives_while_waiting(
    dovecot: DovecotServer, how: str
) -> None:
    handle = Mailbag()

    async def scenario() -> float:
        async with running(config_for(dovecot, idle_refresh=600), handle) as inbox:
            await waiting(inbox)
            assert inbox.mode == "idle"
            started = time.monotonic()
            if how == "append":  # from another IMAP client
                await asyncio.to_thread(dovecot.append, make_mail("nieuw"))
            else:  # by a local delivery agent, straight into the maildir
                await asyncio.to_thread(dovecot.deliver, make_mail("nieuw"))
            assert await handle.next(within=5) == mid("nieuw")
            return time.monotonic() - started

    elapsed = run(scenario)
    assert elapsed < 2.0, f"IDLE took {elapsed:.2f} s to hand the mail over"
    assert dovecot.unseen() == set()


def test_mail_announced_during_a_round_is_not_left_waiting(dovecot: DovecotServer) -> None:
    # A mail that arrives while the loop is busy is announced with the answer to
    # another command, not during IDLE; it must not wait for the next IDLE refresh.
    dovecot.deliver(make_mail("eerste"))

    async def during(message_id: str) -> None:
        if message_id == mid("eerste"):
            await asyncio.to_thread(dovecot.append, make_mail("tweede"))

    handle = Mailbag(during=during)

    async def scenario() -> None:
        async with running(config_for(dovecot, idle_refresh=600), handle):
            assert await handle.next() == mid("eerste")
            assert await handle.next(within=3) == mid("tweede")

    run(scenario)
    assert dovecot.unseen() == set()


def test_polling_when_idle_is_not_used(dovecot: DovecotServer) -> None:
    handle = Mailbag()

    async def scenario() -> None:
        async with running(config_for(dovecot, use_idle=False, poll_interval=0.3), handle) as inbox:
            await waiting(inbox)
            assert inbox.mode == "poll"
            await asyncio.to_thread(dovecot.deliver, make_mail("gepold"))
            assert await handle.next(within=3) == mid("gepold")

    run(scenario)
    assert dovecot.unseen() == set()


@pytest.mark.parametrize("graceful", [True, False], ids=["stopped", "killed"])
def test_a_dropped_connection_is_recovered(dovecot: DovecotServer, graceful: bool) -> None:
    handle = Mailbag()

    async def scenario() -> ImapInbox:
        async with running(config_for(dovecot), handle) as inbox:
            await waiting(inbox)
            await asyncio.to_thread(dovecot.stop, graceful=graceful)
            await asyncio.wait_for(inbox.failing.wait(), TIMEOUT)  # noticed, not just assumed
            assert not inbox.connected.is_set()
            # Mail arrives while the server is down (the loop meanwhile retries).
            await asyncio.to_thread(dovecot.deliver, make_mail("tijdens-storing"))
            await asyncio.to_thread(dovecot.start)
            assert await handle.next() == mid("tijdens-storing")
            await waiting(inbox)  # a new connection finished its round
            return inbox

    inbox = run(scenario)
    assert inbox.sessions == 2
    assert inbox.last_error is not None
    assert handle.calls == [mid("tijdens-storing")]
    assert dovecot.unseen() == set()


def test_the_loop_stops_on_the_event_and_logs_out(dovecot: DovecotServer) -> None:
    handle = Mailbag()

    async def scenario() -> float:
        inbox = ImapInbox(config_for(dovecot, idle_refresh=600), handle)
        stop = asyncio.Event()
        task = asyncio.create_task(inbox.run(stop))
        await waiting(inbox)
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)
        assert not inbox.connected.is_set()
        return time.monotonic() - started

    assert run(scenario) < 2.0
    assert dovecot.wait_for_log("Disconnected: Logged out")  # LOGOUT, not a dropped line


def test_the_loop_stops_while_the_server_is_away(dovecot: DovecotServer) -> None:
    dovecot.stop(graceful=False)
    handle = Mailbag()

    async def scenario() -> ImapInbox:
        inbox = ImapInbox(config_for(dovecot, reconnect_max=30), handle)
        stop = asyncio.Event()
        task = asyncio.create_task(inbox.run(stop))
        await asyncio.wait_for(inbox.failing.wait(), TIMEOUT)
        stop.set()  # during the pause before the next try
        await asyncio.wait_for(task, 2)
        return inbox

    inbox = run(scenario)
    assert inbox.sessions == 0 and inbox.last_error is not None
    assert "Connect" in inbox.last_error or "refused" in inbox.last_error.lower()


@pytest.mark.parametrize("mode", [TlsMode.tls, TlsMode.starttls])
def test_tls_and_starttls(dovecot_tls: DovecotServer, mode: TlsMode) -> None:
    dovecot_tls.deliver(make_mail(f"versleuteld-{mode.value}"))
    handle = Mailbag()
    port = dovecot_tls.tls_port if mode is TlsMode.tls else dovecot_tls.port
    config = config_for(dovecot_tls, tls=mode, port=port, ssl_context=dovecot_tls.ssl_context())

    async def scenario() -> None:
        async with running(config, handle) as inbox:
            assert await handle.next() == mid(f"versleuteld-{mode.value}")
            await waiting(inbox)

    run(scenario)
    assert dovecot_tls.unseen() == set()
    assert "TLS" in dovecot_tls.log()  # Dovecot logs the login as made over TLS


def test_an_untrusted_certificate_is_refused(dovecot_tls: DovecotServer) -> None:
    dovecot_tls.deliver(make_mail("geheim"))
    handle = Mailbag()
    # The system's CAs, which do not know the test's self-signed certificate.
    config = config_for(dovecot_tls, tls=TlsMode.tls, port=dovecot_tls.tls_port)

    async def scenario() -> str | None:
        async with running(config, handle) as inbox:
            await asyncio.wait_for(inbox.failing.wait(), TIMEOUT)
            return inbox.last_error

    error = run(scenario)
    assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error
    assert handle.calls == []


def test_starttls_is_never_skipped(dovecot: DovecotServer) -> None:
    # The plain server offers no STARTTLS: the loop refuses to log in without it.
    dovecot.deliver(make_mail("onversleuteld"))
    handle = Mailbag()
    config = config_for(dovecot, tls=TlsMode.starttls, ssl_context=ssl.create_default_context())

    async def scenario() -> str | None:
        async with running(config, handle) as inbox:
            await asyncio.wait_for(inbox.failing.wait(), TIMEOUT)
            return inbox.last_error

    error = run(scenario)
    assert error is not None and "STARTTLS" in error
    assert handle.calls == []
    assert "Login: user=" not in dovecot.log()


def test_a_wrong_password_is_reported_and_retried(dovecot: DovecotServer) -> None:
    handle = Mailbag()
    config = config_for(dovecot, password="fout")

    async def scenario() -> ImapInbox:
        async with running(config, handle) as inbox:
            await asyncio.wait_for(inbox.failing.wait(), TIMEOUT)
            return inbox

    inbox = run(scenario)
    assert inbox.sessions == 0
    assert inbox.last_error is not None and "LOGIN" in inbox.last_error


def test_a_folder_of_its_own(dovecot: DovecotServer) -> None:
    with dovecot.imap() as client:
        assert client.create('"STO aanvragen"')[0] == "OK"
        assert client.append('"STO aanvragen"', None, None, make_mail("map"))[0] == "OK"
    dovecot.deliver(make_mail("inbox"))
    handle = Mailbag()

    async def scenario() -> None:
        async with running(config_for(dovecot, folder="STO aanvragen"), handle) as inbox:
            assert await handle.next() == mid("map")
            await waiting(inbox)

    run(scenario)
    assert handle.calls == [mid("map")]
    assert dovecot.unseen() == {mid("inbox")}  # INBOX is not ours in this set-up


def test_config_from_settings() -> None:
    assert ImapConfig.from_settings(Settings()) is None
    with pytest.raises(ValueError, match="STO_IMAP_PASSWORD"):
        ImapConfig.from_settings(Settings(STO_IMAP_HOST="imap.example", STO_IMAP_USERNAME="sto"))
    settings = Settings(
        STO_IMAP_HOST="imap.example",
        STO_IMAP_USERNAME="sto",
        STO_IMAP_PASSWORD="geheim",
        STO_IMAP_FOLDER="STO",
    )
    config = ImapConfig.from_settings(settings, poll_interval=5.0)
    assert config is not None
    assert (config.host, config.server_port, config.tls) == ("imap.example", 993, TlsMode.tls)
    assert (config.folder, config.poll_interval) == ("STO", 5.0)
    starttls = Settings(
        STO_IMAP_HOST="imap.example",
        STO_IMAP_USERNAME="sto",
        STO_IMAP_PASSWORD="geheim",
        STO_IMAP_TLS="starttls",
    )
    config = ImapConfig.from_settings(starttls)
    assert config is not None and config.server_port == 143
