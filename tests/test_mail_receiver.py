"""The built-in SMTP receiver, with Python's own smtplib as the sending server.

Each test runs the receiver in its own event loop (asyncio.run) on 127.0.0.1
and a free port; smtplib, which blocks, runs in worker threads meanwhile. The
`handle` the receiver calls is a Recorder: it keeps every raw mail it is given
and answers what the test tells it to, so a test can show that a mail is
answered 250 only once it was recorded and that nothing is lost otherwise.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import TypeVar

import pytest

from bot.mail.receiver import Receiver, start_from_settings, start_receiver
from config.settings import Settings

T = TypeVar("T")
TIMEOUT = 10.0


class Recorder:
    """A `handle(raw) -> bool` that records every call and answers from a script."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.calls: list[bytes] = []
        self.answers = list(answers)
        self.finished: list[bytes] = []  # calls that ran to their end

    async def __call__(self, raw: bytes) -> bool:
        self.calls.append(raw)
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        self.finished.append(raw)
        return answer


def mail(subject: str = "Twee dagen ondersteuning", body: str = "Graag 2 dagen in maart.") -> bytes:
    message = EmailMessage()
    message["From"] = "Anne de Vries <anne@school.example>"
    message["To"] = "ondersteuning@sto.example"
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="school.example")
    message.set_content(body)
    return message.as_bytes(policy=email.policy.SMTP)


def sendmail(port: int, raw: bytes, to: list[str] | None = None) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
        return client.sendmail("anne@school.example", to or ["ondersteuning@sto.example"], raw)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), TIMEOUT * 3)

    return asyncio.run(bounded())


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_mail_is_handed_over_and_answered_250_once_recorded() -> None:
    handle = Recorder(True)
    raw = mail(body="Wij willen graag één dag ondersteuning.")

    async def scenario() -> Receiver:
        receiver = await start_receiver("127.0.0.1", 0, handle)
        try:
            refused = await asyncio.to_thread(sendmail, receiver.port, raw)
            assert refused == {}
        finally:
            await receiver.close()
        return receiver

    receiver = run(scenario)
    assert receiver.accepted == 1
    assert len(handle.calls) == 1
    got = handle.calls[0]
    assert got.endswith(raw)  # the message as sent, byte for byte, after the trace lines
    message = parsed(got)
    assert message["Return-Path"] == "<anne@school.example>"
    assert "by " in message["Received"] and "127.0.0.1" in message["Received"]
    assert message["Subject"] == "Twee dagen ondersteuning"
    body = message.get_body(("plain",))
    assert body is not None and "één dag" in body.get_content()


@pytest.mark.parametrize("failure", [False, RuntimeError("database is down")])
def test_not_recorded_is_answered_451_and_the_retry_is_accepted(failure: bool | Exception) -> None:
    handle = Recorder(failure, True)
    raw = mail()

    async def scenario() -> Receiver:
        receiver = await start_receiver("127.0.0.1", 0, handle)
        try:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                await asyncio.to_thread(sendmail, receiver.port, raw)
            assert refused.value.smtp_code == 451
            assert handle.finished == [] or failure is False
            # The sending server kept the mail and tries again later: now it is recorded.
            assert await asyncio.to_thread(sendmail, receiver.port, raw) == {}
        finally:
            await receiver.close()
        return receiver

    receiver = run(scenario)
    assert receiver.accepted == 1
    assert len(handle.calls) == 2
    assert handle.calls[0].endswith(raw) and handle.calls[1].endswith(raw)


def test_a_failure_answers_451_and_the_session_goes_on() -> None:
    handle = Recorder(ConnectionError("database is down"), True)
    first, second = mail(subject="eerste"), mail(subject="tweede")

    def send_both(port: int) -> tuple[int, int]:
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            client.ehlo("mx.school.example")
            codes = []
            for raw in (first, second):
                client.mail("anne@school.example")
                client.rcpt("ondersteuning@sto.example")
                code, _ = client.data(raw)
                codes.append(code)
            return codes[0], codes[1]

    async def scenario() -> tuple[int, int]:
        receiver = await start_receiver("127.0.0.1", 0, handle)
        try:
            return await asyncio.to_thread(send_both, receiver.port)
        finally:
            await receiver.close()

    assert run(scenario) == (451, 250)
    assert [parsed(raw)["Subject"] for raw in handle.finished] == ["tweede"]


def test_a_too_big_mail_is_refused_552_and_never_handed_over() -> None:
    handle = Recorder()
    big = mail(body="x" * 70 + "\n" + ("regel met tekst " * 4 + "\n") * 200)
    small = mail()

    def without_size(port: int) -> int:
        # A client that does not announce SIZE= hears 552 after DATA instead.
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            client.helo("mx.school.example")  # HELO: no ESMTP, so no SIZE parameter
            client.mail("anne@school.example")
            client.rcpt("ondersteuning@sto.example")
            code, _ = client.data(big)
            return code

    async def scenario() -> None:
        receiver = await start_receiver("127.0.0.1", 0, handle, max_size=4000)
        try:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                await asyncio.to_thread(sendmail, receiver.port, big)  # SIZE= at MAIL FROM
            assert refused.value.smtp_code == 552
            assert await asyncio.to_thread(without_size, receiver.port) == 552
            assert await asyncio.to_thread(sendmail, receiver.port, small) == {}
        finally:
            await receiver.close()

    run(scenario)
    assert len(big) > 4000
    assert len(handle.calls) == 1 and handle.calls[0].endswith(small)


def test_any_recipient_is_accepted_and_the_mail_handed_over_once() -> None:
    handle = Recorder()
    to = ["ondersteuning@sto.example", "iemand@elders.example", "postmaster@localhost"]

    async def scenario() -> None:
        receiver = await start_receiver("127.0.0.1", 0, handle)
        try:
            assert await asyncio.to_thread(sendmail, receiver.port, mail(), to) == {}
        finally:
            await receiver.close()

    run(scenario)
    assert len(handle.calls) == 1


def test_concurrent_senders_are_handled_side_by_side() -> None:
    senders = 8
    recorded: list[bytes] = []

    async def scenario() -> list[dict[str, tuple[int, bytes]]]:
        all_in = asyncio.Event()
        inside = 0

        async def handle(raw: bytes) -> bool:
            # Every call waits until all senders are inside: a receiver that handled
            # one mail at a time would never get there (and time out).
            nonlocal inside
            inside += 1
            if inside == senders:
                all_in.set()
            await asyncio.wait_for(all_in.wait(), TIMEOUT)
            recorded.append(raw)
            return True

        receiver = await start_receiver("127.0.0.1", 0, handle)
        loop = asyncio.get_running_loop()
        # A thread per sender (the default pool may have fewer threads than senders).
        pool = ThreadPoolExecutor(max_workers=senders)
        try:
            raws = [mail(subject=f"aanvraag {n}") for n in range(senders)]
            return await asyncio.gather(
                *(loop.run_in_executor(pool, sendmail, receiver.port, raw) for raw in raws)
            )
        finally:
            await receiver.close()
            pool.shutdown(wait=True)

    assert run(scenario) == [{}] * senders
    subjects = sorted(parsed(raw)["Subject"] for raw in recorded)
    assert subjects == sorted(f"aanvraag {n}" for n in range(senders))


def test_a_client_that_hangs_up_does_not_cut_handle_short() -> None:
    finished: list[bytes] = []

    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()

        async def handle(raw: bytes) -> bool:
            started.set()
            await asyncio.wait_for(release.wait(), TIMEOUT)
            finished.append(raw)
            return True

        def impatient(port: int) -> None:
            client = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT)
            try:
                client.ehlo("mx.school.example")
                client.mail("anne@school.example")
                client.rcpt("ondersteuning@sto.example")
                client.putcmd("data")
                code, _ = client.getreply()
                assert code == 354
                client.send(mail() + b".\r\n")
            finally:
                client.close()  # gone before the answer

        receiver = await start_receiver("127.0.0.1", 0, handle)
        try:
            await asyncio.to_thread(impatient, receiver.port)
            await asyncio.wait_for(started.wait(), TIMEOUT)
            release.set()
        finally:
            await receiver.close()  # waits for the handle call in flight

    run(scenario)
    assert len(finished) == 1


def test_close_ends_idle_sessions() -> None:
    async def scenario() -> None:
        receiver = await start_receiver("127.0.0.1", 0, Recorder())
        client = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", receiver.port, "", TIMEOUT)
        try:
            assert (await asyncio.to_thread(client.ehlo, "mx.school.example"))[0] == 250
            await receiver.close()
            with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
                await asyncio.to_thread(client.noop)
        finally:
            client.close()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", receiver.port), 1):
            pass

    run(scenario)


def test_settings_port_zero_is_off_and_others_listen() -> None:
    async def scenario() -> None:
        off = Settings(STO_INBOUND_SMTP_PORT=0)
        assert await start_from_settings(off, Recorder()) is None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        on = Settings(STO_INBOUND_SMTP_HOST="127.0.0.1", STO_INBOUND_SMTP_PORT=port)
        receiver = await start_from_settings(on, Recorder())
        assert receiver is not None
        try:
            assert receiver.port == port
            assert await asyncio.to_thread(sendmail, port, mail()) == {}
        finally:
            await receiver.close()

    run(scenario)


def test_close_cancels_a_handle_that_outlasts_the_grace_period() -> None:
    cancelled: list[bool] = []

    async def scenario() -> None:
        started = asyncio.Event()

        async def handle(raw: bytes) -> bool:
            started.set()
            try:
                await asyncio.Event().wait()  # a database that never answers
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return True

        receiver = await start_receiver("127.0.0.1", 0, handle)
        sending = asyncio.ensure_future(asyncio.to_thread(sendmail, receiver.port, mail()))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await asyncio.wait_for(receiver.close(grace=0.2), TIMEOUT)
        # No 250: the sending server keeps the mail and delivers it again later.
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await asyncio.wait_for(sending, TIMEOUT)

    run(scenario)
    assert cancelled == [True]
