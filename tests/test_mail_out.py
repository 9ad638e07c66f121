"""Outbound mail against a real SMTP server (aiosmtpd, started here) and parsed back.

Each test starts its own aiosmtpd Controller on 127.0.0.1 and a free port with
a handler that keeps the raw messages, the TCP connections it saw, and answers
451 or 550 for recipients it is told to. STARTTLS and implicit TLS run with a
self-signed certificate made by `openssl` for the test.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.mail.compose import Composer, Mail, Outgoing, Thread
from bot.mail.headers import message_id
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import RecordingMailer, SmtpMailer
from bot.render import Renderer
from config.settings import TlsMode
from models.clock import FixedClock
from scheduling.dispatcher import Message, PermanentFailure, TemporaryFailure

SENDER = "ondersteuning@sto.example"
NAME = "José van ’t Hoëk"  # noqa: RUF001 (the Dutch apostrophe, on purpose)
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "ref": "STO-2027-0042",
    "region": "FRYSLAN",
    "region_name": "Súdwest-Fryslân",
    "days": "1.5",
    "kind": "process",
    "status": "approved",
    "theme": "doorlopende leerlijnen",
    "reason": "",
    "fallback_email": "jose@school.example",
}


# --- the SMTP server ---------------------------------------------------------------------


@dataclass
class Store:
    """An aiosmtpd handler that keeps what arrives and refuses whom it is told to."""

    refuse: dict[str, str] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bool]] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    drop_after_next: bool = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.peers.add(tuple(session.peer))
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(bytes(envelope.original_content or envelope.content))
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None)
        )
        if self.drop_after_next:
            self.drop_after_next = False
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 2.0.0 Message accepted for delivery"

    def parsed(self, index: int = -1) -> EmailMessage:
        msg = email.message_from_bytes(self.messages[index], policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    store: Store
    port: int
    client_tls: ssl.SSLContext | None = None


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _start(store: Store, **options: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(store, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    store = Store()
    for port in _start(store, enable_SMTPUTF8=True):
        yield Server(store, port)


def _contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    client_side = ssl.create_default_context(cafile=str(cert))
    return server_side, client_side


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    server_side, client_side = _contexts(*certificate)
    store = Store()

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"geheim"
        return AuthResult(success=ok, handled=False)  # handled=True would leave it unanswered

    for port in _start(
        store,
        tls_context=server_side,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    ):
        yield Server(store, port, client_side)


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    server_side, client_side = _contexts(*certificate)
    store = Store()
    for port in _start(store, ssl_context=server_side):
        yield Server(store, port, client_side)


# --- helpers -----------------------------------------------------------------------------


def mailer(server: Server, tls: TlsMode = TlsMode.none, **options: Any) -> SmtpMailer:
    return SmtpMailer(
        "127.0.0.1",
        server.port,
        tls=tls,
        tls_context=server.client_tls,
        timeout=5,
        local_hostname="test.sto.example",
        **options,
    )


def composer() -> Composer:
    return Composer(Renderer(), SENDER)


def outgoing(**changes: Any) -> Outgoing:
    values: dict[str, Any] = {
        "template": "request_approved",
        "language": "nl",
        "context": CONTEXT,
        "to": "jose@school.example",
        "to_name": NAME,
        "key": "request:STO-2027-0042:7:requester",
    }
    values.update(changes)
    return Outgoing(**values)


def compose(**changes: Any) -> Mail:
    return composer().mail(outgoing(**changes), now=NOW)


def row(n: int = 1, **changes: Any) -> Message:
    values: dict[str, Any] = {
        "id": n,
        "key": f"request:STO-2027-0042:{n}:requester",
        "template": "request_approved",
        "channel": "email",
        "recipient": "jose@school.example",
        "language": "nl",
        "context": CONTEXT,
        "subject_type": "request",
        "subject_id": 42,
        "attempts": 1,
    }
    values.update(changes)
    return Message(**values)


def send_all(smtp: SmtpMailer, mails: list[Mail]) -> None:
    async def run() -> None:
        try:
            for mail in mails:
                await smtp.send(mail)
        finally:
            await smtp.close()

    asyncio.run(run())


def parts(msg: EmailMessage) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for part in msg.walk():
        assert isinstance(part, EmailMessage)
        found.setdefault(part.get_content_type(), part)
    return found


# --- what arrives ------------------------------------------------------------------------


def test_a_notification_arrives_as_a_well_formed_multipart_mail(server: Server) -> None:
    send_all(mailer(server), [compose()])
    got = server.store.parsed()
    assert got.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in got.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert got["Subject"].startswith("[STO-2027-0042] ")
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["X-Auto-Response-Suppress"] == "All"
    assert got["Content-Language"] == "nl"
    assert got["Date"].datetime == NOW
    assert got["From"].addresses[0].addr_spec == SENDER
    assert got["From"].addresses[0].display_name == "Ondersteuningsteam Sterk Techniekonderwijs"
    assert got["To"].addresses[0].addr_spec == "jose@school.example"
    assert got["In-Reply-To"] is None
    assert server.store.envelopes == [(SENDER, ["jose@school.example"], False)]


def test_dutch_characters_round_trip_in_headers_and_bodies(server: Server) -> None:
    theme = "één, ïdeeën & ‘techniek’"  # noqa: RUF001
    send_all(mailer(server), [compose(context={**CONTEXT, "theme": theme})])
    raw = server.store.messages[-1]
    assert raw.isascii()  # headers encoded (RFC 2047), bodies quoted-printable
    got = server.store.parsed()
    assert got["To"].addresses[0].display_name == NAME
    assert "Súdwest-Fryslân" in got["Subject"]
    found = parts(got)
    for kind in ("text/plain", "text/html"):
        assert found[kind].get_content_charset() == "utf-8"
        body = found[kind].get_content()
        assert f"Beste {NAME}," in body
        assert "Súdwest-Fryslân" in body
        assert "1,5 dag" in body
    assert theme in found["text/plain"].get_content()
    assert "één, ïdeeën &amp; ‘techniek’" in found["text/html"].get_content()  # noqa: RUF001


def test_message_id_is_derived_from_the_dedupe_key(server: Server) -> None:
    key = "request:STO-2027-0042:7:requester"
    first, again, other = compose(key=key), compose(key=key), compose(key=key + "x")
    send_all(mailer(server), [first, again, other])
    ids = [server.store.parsed(i)["Message-ID"] for i in range(3)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] == message_id(key, "sto.example")
    assert ids[0].startswith("<sto.") and ids[0].endswith("@sto.example>")
    assert len(ids[0]) == len("<sto.@sto.example>") + 32


def test_an_answer_threads_under_the_mail_it_answers(server: Server) -> None:
    thread = Thread(
        in_reply_to="<CAF=abc.123@mail.gmail.com>",
        references=("<root.1@school.example>", "<CAF=abc.123@mail.gmail.com>"),
    )
    send_all(mailer(server), [compose(answer=True, thread=thread)])
    got = server.store.parsed()
    assert got["In-Reply-To"] == "<CAF=abc.123@mail.gmail.com>"
    assert got["References"] == "<root.1@school.example> <CAF=abc.123@mail.gmail.com>"
    assert got["Auto-Submitted"] == "auto-replied"


def test_a_notification_lists_the_requests_thread(server: Server) -> None:
    notifier = MailNotifier(mailer(server), composer(), FixedClock(NOW))
    asyncio.run(_deliver(notifier, [row(1), row(2, template="request_assigned", context={
        **CONTEXT, "supporter": "Piet de Vrïes"})]))  # fmt: skip
    first, second = server.store.parsed(0), server.store.parsed(1)
    assert first["References"] == second["References"] == "<sto.request.STO-2027-0042@sto.example>"
    assert first["In-Reply-To"] is None
    assert "Piet de Vrïes" in second["Subject"]


async def _deliver(notifier: MailNotifier, rows: list[Message]) -> None:
    try:
        for message in rows:
            await notifier.deliver(message)
    finally:
        await notifier.close()


EVIL = "\r\nBcc: victim@evil.example\r\nX-Injected: yes"


def test_no_user_value_can_add_a_header(server: Server) -> None:
    context = {**CONTEXT, "region_name": "Zeeland" + EVIL, "theme": "thema" + EVIL}
    thread = Thread(
        in_reply_to="<a@b.example>" + EVIL, references=("<r@b.example>\nBcc: x@evil.example",)
    )
    message = compose(context=context, to_name="Jan" + EVIL, thread=thread, answer=True)
    send_all(mailer(server), [message])
    got = server.store.parsed()
    raw = server.store.messages[-1]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Injected" not in head
    assert got["Bcc"] is None and got["X-Injected"] is None
    assert server.store.envelopes[-1][1] == ["jose@school.example"]
    assert got["In-Reply-To"] == "<a@b.example>"
    assert got["References"] == "<r@b.example> <a@b.example>"
    assert got["Subject"] == (
        "[STO-2027-0042] Uw aanvraag voor Zeeland Bcc: victim@evil.example X-Injected: yes"
        " is goedgekeurd"
    )
    assert got["To"].addresses[0].display_name == "Jan Bcc: victim@evil.example X-Injected: yes"
    assert {k.lower() for k in got} == {
        "from", "to", "subject", "date", "message-id", "in-reply-to", "references",
        "auto-submitted", "x-auto-response-suppress", "mime-version", "content-type",
        "content-language", "x-sto-assistant",
    }  # fmt: skip


@pytest.mark.parametrize(
    "recipient",
    [
        "jose@school.example\r\nBcc: victim@evil.example",
        "a@b@c",
        "",
        "not an address",
        "x@",
        "josé@school.example",  # Python's email package cannot write a non-ASCII local part
    ],
)
def test_a_recipient_that_is_not_one_mailbox_fails_for_good(recipient: str) -> None:
    notifier = MailNotifier(RecordingMailer(), composer(), FixedClock(NOW))
    with pytest.raises(PermanentFailure, match="not a mail address"):
        asyncio.run(notifier.deliver(row(recipient=recipient)))
    assert notifier.mailer.sent == []  # type: ignore[attr-defined]


def test_an_unknown_template_fails_for_good() -> None:
    notifier = MailNotifier(RecordingMailer(), composer(), FixedClock(NOW))
    with pytest.raises(PermanentFailure, match="no mail template"):
        asyncio.run(notifier.deliver(row(template="team_request")))


# --- the connection ----------------------------------------------------------------------


def test_one_connection_carries_many_messages(server: Server) -> None:
    smtp = mailer(server)
    send_all(smtp, [compose(key=f"k{n}") for n in range(25)])
    assert len(server.store.messages) == 25
    assert len(server.store.peers) == 1
    assert smtp.connections == 1


def test_a_dropped_connection_is_replaced_and_nothing_is_lost(server: Server) -> None:
    smtp = mailer(server)

    async def run() -> None:
        await smtp.send(compose(key="a"))
        server.store.drop_after_next = True
        await smtp.send(compose(key="b"))
        await asyncio.sleep(0.3)  # the server has closed the connection by now
        await smtp.send(compose(key="c"))
        await smtp.close()

    asyncio.run(run())
    ids = [server.store.parsed(i)["Message-ID"] for i in range(3)]
    assert ids == [message_id(k, "sto.example") for k in "abc"]
    assert smtp.connections == 2
    assert len(server.store.peers) == 2


def test_an_idle_connection_is_renewed_before_use(server: Server) -> None:
    smtp = mailer(server, max_idle=0.0)
    send_all(smtp, [compose(key="a"), compose(key="b")])
    assert smtp.connections == 2 and len(server.store.messages) == 2


def test_451_is_temporary_and_550_permanent(server: Server) -> None:
    server.store.refuse = {
        "later@school.example": "451 4.3.0 Probeer het later opnieuw",
        "nobody@school.example": "550 5.1.1 Onbekende gebruiker",
    }
    smtp = mailer(server)

    async def run() -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for to in ("later@school.example", "nobody@school.example", "jose@school.example"):
            try:
                await smtp.send(compose(to=to, key=to))
                outcomes.append(None)
            except (TemporaryFailure, PermanentFailure) as exc:
                outcomes.append(exc)
        await smtp.close()
        return outcomes

    later, nobody, fine = asyncio.run(run())
    assert isinstance(later, TemporaryFailure) and "451" in str(later)
    assert isinstance(nobody, PermanentFailure) and "550" in str(nobody)
    assert fine is None
    assert len(server.store.messages) == 1
    assert smtp.connections == 1  # a refusal does not cost the connection


def test_a_notifier_maps_refusals_for_the_dispatcher(server: Server) -> None:
    server.store.refuse = {"nobody@school.example": "550 5.1.1 Onbekende gebruiker"}
    notifier = MailNotifier(mailer(server), composer(), FixedClock(NOW))
    with pytest.raises(PermanentFailure):
        asyncio.run(_deliver(notifier, [row(recipient="nobody@school.example")]))


def test_a_server_that_is_down_is_a_temporary_failure() -> None:
    smtp = SmtpMailer("127.0.0.1", free_port(), tls=TlsMode.none, timeout=2, local_hostname="t")
    with pytest.raises(TemporaryFailure, match="connect"):
        send_all(smtp, [compose()])


def test_starttls_with_login(starttls_server: Server) -> None:
    smtp = mailer(starttls_server, TlsMode.starttls, username="sto", password="geheim")
    send_all(smtp, [compose(key="a"), compose(key="b")])
    assert [e[2] for e in starttls_server.store.envelopes] == [True, True]  # over TLS
    assert len(starttls_server.store.peers) == 1
    assert starttls_server.store.parsed()["Subject"].startswith("[STO-2027-0042]")


def test_a_refused_login_is_temporary(starttls_server: Server) -> None:
    smtp = mailer(starttls_server, TlsMode.starttls, username="sto", password="fout")
    with pytest.raises(TemporaryFailure, match="535"):
        send_all(smtp, [compose()])
    assert starttls_server.store.messages == []


def test_plain_smtp_is_refused_where_starttls_is_required(starttls_server: Server) -> None:
    with pytest.raises(TemporaryFailure, match="530"):  # our set-up: the mail waits for a fix
        send_all(mailer(starttls_server, TlsMode.none), [compose()])


def test_implicit_tls(tls_server: Server) -> None:
    send_all(mailer(tls_server, TlsMode.tls), [compose()])
    assert len(tls_server.store.messages) == 1


def test_an_unknown_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    server_side, _ = _contexts(*certificate)
    store = Store()
    for port in _start(store, ssl_context=server_side):
        smtp = SmtpMailer("127.0.0.1", port, tls=TlsMode.tls, timeout=5, local_hostname="t")
        with pytest.raises(TemporaryFailure):
            send_all(smtp, [compose()])
    assert store.messages == []


def test_an_international_domain_travels_in_its_ascii_form(server: Server) -> None:
    send_all(mailer(server), [compose(to="jose@café.example")])
    got = server.store.parsed()
    assert got["To"].addresses[0].addr_spec == "jose@xn--caf-dma.example"
    assert server.store.envelopes[-1][1] == ["jose@xn--caf-dma.example"]


def test_a_refused_sender_waits_for_a_corrected_setting(server: Server) -> None:
    async def refuse(*args: Any) -> str:
        return "553 5.7.1 Sender address rejected: not owned by user"

    server.store.handle_MAIL = refuse  # type: ignore[attr-defined]
    with pytest.raises(TemporaryFailure, match="553"):
        send_all(mailer(server), [compose()])


def test_an_outbox_answer_threads_under_the_persons_mail() -> None:
    mailer = RecordingMailer()
    notifier = MailNotifier(mailer, composer(), FixedClock(NOW))
    context = {
        **CONTEXT,
        "in_reply_to": "<CAF=abc@mail.gmail.com>",
        "references": ["<root@school.example>", "<CAF=abc@mail.gmail.com>"],
    }
    asyncio.run(notifier.deliver(row(context=context)))
    (got,) = mailer.sent
    assert got["Auto-Submitted"] == "auto-replied"
    assert got["In-Reply-To"] == "<CAF=abc@mail.gmail.com>"
    assert got["References"] == "<root@school.example> <CAF=abc@mail.gmail.com>"
