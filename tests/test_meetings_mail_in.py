"""Registering for and cancelling theme meetings by mail, end to end, on both databases.

Mail goes in as a mail server delivers it: smtplib to the built-in SMTP
receiver (bot.mail.receiver, handing each mail to the inbound pipeline), from
contacts as their mail clients write (tests/mail_corpus/meetings/: Outlook on
the web HTML-only, Gmail with quoted history, Apple Mail on an iPhone,
Outlook with a signature). The answers go out through the dispatcher and the
mail notifier over SMTP to an aiosmtpd server and are read back from there;
the registrations are checked in the database.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.mail.compose import Composer
from bot.mail.headers import domain_of, message_id
from bot.mail.imap import ImapInbox
from bot.mail.inbound import Inbound, MailDeps
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import SmtpMailer
from bot.mail.receiver import Receiver, start_receiver
from bot.render import Renderer
from config.settings import Settings, TlsMode
from models import meetings as mt
from models import outbox
from models.clock import FixedClock
from models.db import transaction
from models.tables import (
    Contact,
    FlaggedMail,
    Notification,
    Region,
    RegionContact,
    Registration,
)
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM, RegionFactory
from tests.imap_server import running_dovecot
from tests.test_mail_imap import config_for
from tests.test_mail_out import Store, free_port

OURS = "ondersteuning@sto.example"
DOMAIN = domain_of(OURS)
CORPUS = Path(__file__).parent / "mail_corpus" / "meetings"

ZEE = "zeger@zeeland-school.example"  # Zeeland only
BOTH = "bea@twee-regios.example"  # Zeeland and Twente
FATIMA = "f.elamrani@rijnmond-techniek.example"  # Outlook on the web
SANNE = "sanne.dekker.techniek@gmail.example"  # Gmail
EMRE = "e.yilmaz@techniekcampus-zuid.example"  # Apple Mail
ANNA = "a.smith@bes-techniek.example"  # Outlook, English
PIET = "piet.jansen@gmail.example"  # a colleague without an account
TIMEOUT = 20.0
TITLE, SMALL_TITLE = "Doorlopende leerlijnen", "Techniek in de onderbouw"


# --- the world: regions, contacts, meetings -----------------------------------------------


@dataclass
class World:
    engine: Engine
    code: str  # capacity 2, open
    small: str  # capacity 1, open
    closed: str  # registration deadline passed
    contacts: dict[str, int] = field(default_factory=dict)

    def meeting_id(self, code: str) -> int:
        with Session(self.engine) as session:
            meeting_id = mt.get_meeting(session, code).id
        assert meeting_id is not None
        return meeting_id


def _meeting(engine: Engine, title: str, capacity: int, deadline: datetime) -> str:
    with transaction(engine) as session:
        meeting = mt.create_meeting(
            session,
            title=title,
            theme="doorlopende-leerlijnen",
            description="",
            starts_at=datetime(2027, 3, 2, 9, 0, tzinfo=NOW.tzinfo),
            ends_at=datetime(2027, 3, 2, 12, 0, tzinfo=NOW.tzinfo),
            timezone="Europe/Amsterdam",
            location="Utrecht",
            online_url="",
            capacity=capacity,
            registration_deadline=deadline,
            by=TEAM,
            now=NOW - timedelta(days=10),
        )
        return meeting.code


@pytest.fixture
def world(engine: Engine, make_region: RegionFactory) -> World:
    make_region("ZEELAND")
    make_region("TWENTE")
    open_until = NOW + timedelta(days=60)
    found = World(
        engine,
        code=_meeting(engine, "Doorlopende leerlijnen", 2, open_until),
        small=_meeting(engine, "Techniek in de onderbouw", 1, open_until),
        closed=_meeting(engine, "Gesloten bijeenkomst", 5, NOW - timedelta(days=1)),
    )
    people = [
        (ZEE, "Zeger Zeeuw", "nl", ["ZEELAND"]),
        (BOTH, "Bea Beide", "nl", ["ZEELAND", "TWENTE"]),
        (FATIMA, "Fatima El Amrani", "nl", ["ZEELAND"]),
        (SANNE, "Sanne Dekker", "nl", ["TWENTE"]),
        (EMRE, "Emre Yilmaz", "nl", ["TWENTE"]),
        (ANNA, "Anna Smith", "en", ["ZEELAND"]),
    ]
    with transaction(engine) as session:
        regions = {r.code: r.id for r in session.exec(select(Region)).all()}
        for address, name, language, codes in people:
            contact = Contact(email=address, name=name, language=language)
            session.add(contact)
            session.flush()
            assert contact.id is not None
            found.contacts[address] = contact.id
            for code in codes:
                region_id = regions[code]
                assert region_id is not None
                session.add(RegionContact(region_id=region_id, contact_id=contact.id))
    return found


# --- the post: receiver in, aiosmtpd out --------------------------------------------------


class Post:
    """The built-in receiver and the dispatcher in one background loop; aiosmtpd outside."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        clock = FixedClock(NOW)
        self.store = Store()
        self.smtp_port = free_port()
        self.controller = Controller(self.store, hostname="127.0.0.1", port=self.smtp_port)
        self.controller.start()
        self.inbound = Inbound(MailDeps(settings=settings, engine=engine, clock=clock))
        mailer = SmtpMailer(
            "127.0.0.1", self.smtp_port, tls=TlsMode.none, timeout=5, local_hostname="sto.test"
        )
        self.notifier = MailNotifier(mailer, Composer(Renderer(), OURS), clock)
        self.dispatcher = Dispatcher(engine, {"email": self.notifier}, clock)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver: Receiver = self._run(start_receiver("127.0.0.1", 0, self.inbound.handle))
        self.read = 0

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def send(self, raw: bytes, sender: str = "") -> None:
        """Deliver as a mail server does; the receiver answers 250 once it is recorded."""
        with smtplib.SMTP("127.0.0.1", self.receiver.port, timeout=TIMEOUT) as client:
            refused = client.sendmail(sender or "mta@school.example", [OURS], raw)
        assert refused == {}

    def answers(self) -> list[EmailMessage]:
        """Dispatch what is due and return the mails that arrived since the last call."""
        self._run(self.dispatcher.run_once())
        new = self.store.messages[self.read :]
        self.read = len(self.store.messages)
        parsed = [email.message_from_bytes(m, policy=email.policy.default) for m in new]
        return [m for m in parsed if isinstance(m, EmailMessage)]

    def close(self) -> None:
        self._run(self.receiver.close(grace=5))
        self._run(self.notifier.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()
        self.controller.stop()


def _settings(engine: Engine, trust: bool) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        mail_from=OURS,
        mail_trust_from=trust,
    )


@pytest.fixture
def post(world: World) -> Iterator[Post]:
    running = Post(world.engine, _settings(world.engine, trust=True))
    yield running
    running.close()


# --- helpers ------------------------------------------------------------------------------


def mail(
    sender: str,
    body: str,
    subject: str = "Themabijeenkomst",
    *,
    reply_to: str | None = None,
    name: str = "",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name or 'Afzender'} <{sender}>"
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0100"
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def corpus(name: str, **values: str) -> bytes:
    raw = (CORPUS / name).read_bytes()
    for key, value in values.items():
        raw = raw.replace(f"@@{key.upper()}@@".encode(), value.encode())
    assert b"@@" not in raw, "a placeholder was left"
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as on the wire


def registrations(engine: Engine, code: str) -> list[tuple[str, str, str | None, str]]:
    """(email, status, region code, channel) of every registration, in order."""
    with Session(engine) as session:
        meeting = mt.get_meeting(session, code)
        rows = session.exec(
            select(Registration)
            .where(Registration.meeting_id == meeting.id)
            .order_by(col(Registration.id))
        ).all()
        regions = {r.id: r.code for r in session.exec(select(Region)).all()}
        return [(r.email, r.status, regions.get(r.region_id), r.channel) for r in rows]


def text(answer: EmailMessage) -> str:
    body = answer.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html(answer: EmailMessage) -> str:
    body = answer.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def one_to(answers: list[EmailMessage], address: str) -> EmailMessage:
    found = [a for a in answers if address in str(a["To"])]
    assert len(found) == 1, [(a["To"], a["Subject"]) for a in answers]
    return found[0]


def threaded_under(answer: EmailMessage, raw: bytes) -> None:
    """An answer to a person's mail: In-Reply-To their Message-ID, auto-replied."""
    asked = email.message_from_bytes(raw, policy=email.policy.default)
    assert answer["In-Reply-To"] == str(asked["Message-ID"]).strip()
    assert str(asked["Message-ID"]).strip() in str(answer["References"])
    assert answer["Auto-Submitted"] == "auto-replied"


def announce(world: World, address: str, code: str) -> str:
    """The meeting's announcement mail to a contact, as `sto meetings announce` writes it;
    returns its Message-ID."""
    meeting_id = world.meeting_id(code)
    key = f"meeting:{meeting_id}:announce:{world.contacts[address]}"
    with transaction(world.engine) as session:
        contact = session.get(Contact, world.contacts[address])
        assert contact is not None
        row = outbox.to_contact(
            session,
            contact,
            key=key,
            template="meeting_announce",
            now=NOW,
            context={"code": code},
            subject=("meeting", meeting_id),
            reply={},  # by mail
        )
        row.status, row.sent_at = "sent", NOW  # announced before this test begins
        session.add(row)
    return message_id(key, DOMAIN)


def our_mail_about(engine: Engine, recipient: str, template: str) -> str:
    """The Message-ID of our mail of this template to this address."""
    with Session(engine) as session:
        row = session.exec(
            select(Notification).where(
                Notification.recipient == recipient, Notification.template == template
            )
        ).one()
    return message_id(row.dedupe_key, DOMAIN)


# --- registering --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Themabijeenkomst", "aanmelden {code}"),
        ("Aanmelding", "Beste team,\n\nGraag meld ik me aan voor {code}.\n\nGroet,\nZeger"),
        ("Inschrijven {code}", "Hierbij wil ik mij inschrijven."),
        ("Meeting", "Hello, please register me for {code}. Thanks!"),
        ("Meeting", "Sign me up for {lower}"),
    ],
)  # fmt: skip
def test_a_contact_registers_with_the_code_and_gets_the_registration_threaded(
    world: World, post: Post, subject: str, body: str
) -> None:
    values = {"code": world.code, "lower": world.code.lower()}
    raw = mail(ZEE, body.format(**values), subject.format(**values), name="Zeger Zeeuw")
    post.send(raw)
    assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]
    [answer] = post.answers()
    assert answer["Subject"] == f"[{world.code}] U bent aangemeld: Doorlopende leerlijnen"
    assert answer["To"] == f"Zeger Zeeuw <{ZEE}>"
    threaded_under(answer, raw)
    assert "dinsdag 2 maart 2027 van 10:00 tot 13:00" in text(answer)
    assert "Utrecht" in html(answer)


def test_outlook_on_the_web_html_only_with_signature_and_history(world: World, post: Post) -> None:
    raw = corpus(
        "meeting_register_outlook_web_html_only_nl.eml", code=world.code, other_code=world.small
    )
    post.send(raw)
    # The quoted history names another meeting and the signature another address: neither counts.
    assert registrations(world.engine, world.code) == [(FATIMA, "registered", "ZEELAND", "email")]
    assert registrations(world.engine, world.small) == []
    with Session(world.engine) as session:
        assert session.exec(select(Registration)).all()[0].contact_id == world.contacts[FATIMA]
    [answer] = post.answers()
    assert answer["Subject"] == f"[{world.code}] U bent aangemeld: Doorlopende leerlijnen"
    threaded_under(answer, raw)


def test_an_english_outlook_mail_is_answered_in_english(world: World, post: Post) -> None:
    raw = corpus("meeting_register_outlook_en_signature.eml", code=world.code)
    post.send(raw)
    assert registrations(world.engine, world.code) == [(ANNA, "registered", "ZEELAND", "email")]
    [answer] = post.answers()  # office@ in the signature is nobody to register
    assert answer["Subject"] == f"[{world.code}] You are registered: Doorlopende leerlijnen"
    assert "Tuesday 2 March 2027" in text(answer)
    threaded_under(answer, raw)


def test_a_gmail_reply_to_the_announcement_registers_the_writer_and_a_colleague(
    world: World, post: Post
) -> None:
    announcement = announce(world, SANNE, world.code)
    raw = corpus(
        "meeting_announce_reply_gmail_nl.eml", in_reply_to=announcement, other_code=world.small
    )
    post.send(raw)
    assert registrations(world.engine, world.code) == [
        (SANNE, "registered", "TWENTE", "email"),
        (PIET, "registered", "TWENTE", "email"),
    ]
    answers = post.answers()
    assert len(answers) == 3
    own = [a for a in answers if SANNE in str(a["To"]) and "[" in str(a["Subject"])]
    assert [a["Subject"] for a in own] == [f"[{world.code}] U bent aangemeld: {TITLE}"]
    threaded_under(own[0], raw)
    summary = next(a for a in answers if SANNE in str(a["To"]) and a not in own)
    threaded_under(summary, raw)
    assert "Piet Jansen (piet.jansen@gmail.example): aangemeld" in text(summary)
    piet = one_to(answers, PIET)
    assert piet["Subject"] == f"[{world.code}] U bent aangemeld: Doorlopende leerlijnen"
    assert piet["In-Reply-To"] is None  # Piet wrote nothing: a notification, not an answer
    assert piet["Auto-Submitted"] == "auto-generated"
    assert "Beste Piet Jansen," in text(piet)


def test_a_reply_to_the_announcement_through_the_imap_mailbox(world: World, post: Post) -> None:
    """The normal deployment: the team's mailbox in Dovecot, read over IMAP."""
    announcement = announce(world, SANNE, world.code)
    raw = corpus(
        "meeting_announce_reply_gmail_nl.eml", in_reply_to=announcement, other_code=world.small
    )
    with running_dovecot() as dovecot:
        dovecot.deliver(raw)

        async def read_the_mailbox() -> None:
            inbox = ImapInbox(config_for(dovecot), post.inbound.handle)
            stop = asyncio.Event()
            task = asyncio.create_task(inbox.run(stop))
            await asyncio.wait_for(inbox.waiting.wait(), TIMEOUT)  # the first round is over
            stop.set()
            await asyncio.wait_for(task, TIMEOUT)

        post._run(read_the_mailbox())
        assert dovecot.unseen() == set()  # marked read once recorded
    assert registrations(world.engine, world.code) == [
        (SANNE, "registered", "TWENTE", "email"),
        (PIET, "registered", "TWENTE", "email"),
    ]
    answers = post.answers()
    assert sorted(str(a["To"]).split("<")[1].rstrip(">") for a in answers) == sorted(
        [PIET, SANNE, SANNE]
    )


@pytest.mark.parametrize("body", ["ja, ik kom graag", "Aanmelden graag!", "Count me in."])
def test_a_short_reply_to_the_announcement_registers(world: World, post: Post, body: str) -> None:
    announcement = announce(world, ZEE, world.small)
    raw = mail(ZEE, body, "Re: Uitnodiging themabijeenkomst", reply_to=announcement)
    post.send(raw)
    assert registrations(world.engine, world.small) == [(ZEE, "registered", "ZEELAND", "email")]
    [answer] = post.answers()
    assert str(answer["Subject"]).startswith(f"[{world.small}] U bent aangemeld")
    threaded_under(answer, raw)


def test_a_forwarded_announcement_is_found_too(world: World, post: Post) -> None:
    announcement = announce(world, ZEE, world.code)  # sent to Zeger, answered by Fatima
    raw = mail(FATIMA, "Ik kom graag!", "Re: Fwd: Uitnodiging", reply_to=announcement)
    post.send(raw)
    assert registrations(world.engine, world.code) == [(FATIMA, "registered", "ZEELAND", "email")]


def test_a_colleague_is_registered_by_name_and_address(world: World, post: Post) -> None:
    body = f"aanmelden {world.code} voor Piet Jansen <piet@school.example>"
    raw = mail(ZEE, body)
    post.send(raw)
    # Only Piet: Zeger registers a colleague, not himself.
    assert registrations(world.engine, world.code) == [
        ("piet@school.example", "registered", "ZEELAND", "email")
    ]
    answers = post.answers()
    assert len(answers) == 2
    piet = one_to(answers, "piet@school.example")
    assert piet["Subject"] == f"[{world.code}] U bent aangemeld: Doorlopende leerlijnen"
    summary = one_to(answers, ZEE)
    threaded_under(summary, raw)
    assert "Piet Jansen (piet@school.example): aangemeld" in text(summary)


@pytest.mark.parametrize(
    ("colleague", "expected"),
    [
        ("Piet Jansen <piet@school>", '"piet@school" is geen geldig e-mailadres'),
        ("Piet Jansen <piet at school.example>", "is geen geldig e-mailadres"),
        ("Piet Jansen", "wij hebben het e-mailadres nodig"),
    ],
)
def test_a_colleague_without_a_valid_address_is_not_registered(
    world: World, post: Post, colleague: str, expected: str
) -> None:
    raw = mail(ZEE, f"aanmelden {world.code} voor {colleague}")
    post.send(raw)
    assert registrations(world.engine, world.code) == []
    [answer] = post.answers()
    threaded_under(answer, raw)
    assert "Piet Jansen" in text(answer) and expected in text(answer)
    assert "niet aangemeld" in text(answer)
    # The reply in the thread brings the address: Piet is registered, Zeger still is not.
    fixed = mail(ZEE, "Piet Jansen <piet@school.example>", "Re: x", reply_to=answer["Message-ID"])
    post.send(fixed)
    assert registrations(world.engine, world.code) == [
        ("piet@school.example", "registered", "ZEELAND", "email")
    ]
    summary = one_to(post.answers(), ZEE)
    threaded_under(summary, fixed)
    assert "Piet Jansen (piet@school.example): aangemeld" in text(summary)


def test_more_seats_than_names_asks_who_else_comes(world: World, post: Post) -> None:
    raw = mail(ZEE, f"Graag 2 plaatsen voor {world.code}.")
    post.send(raw)
    assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]
    answers = post.answers()
    assert len(answers) == 2  # Zeger's registration, and the question who else comes
    ask = next(a for a in answers if "Wie komt er nog meer?" in text(a))
    threaded_under(ask, raw)
    reply = mail(
        ZEE, "Dat is Anna de Boer <anna@school.example>", "Re: x", reply_to=ask["Message-ID"]
    )
    post.send(reply)
    assert [r[0] for r in registrations(world.engine, world.code)] == [ZEE, "anna@school.example"]


def test_a_full_meeting_puts_people_on_the_waitlist_with_their_place(
    world: World, post: Post
) -> None:
    post.send(mail(ZEE, f"aanmelden {world.small}"))
    post.answers()
    raw = mail(FATIMA, f"aanmelden {world.small}")
    post.send(raw)
    post.send(mail(SANNE, f"inschrijven {world.small}"))
    assert registrations(world.engine, world.small) == [
        (ZEE, "registered", "ZEELAND", "email"),
        (FATIMA, "waitlisted", "ZEELAND", "email"),
        (SANNE, "waitlisted", "TWENTE", "email"),
    ]
    answers = post.answers()
    fatima, sanne = one_to(answers, FATIMA), one_to(answers, SANNE)
    assert str(fatima["Subject"]).startswith(f"[{world.small}] U staat op de wachtlijst")
    threaded_under(fatima, raw)
    assert "op plaats 1" in text(fatima)
    assert "op plaats 2" in text(sanne)


def test_already_registered_or_waiting_is_told_with_status_and_place(
    world: World, post: Post
) -> None:
    post.send(mail(ZEE, f"aanmelden {world.small}"))
    post.send(mail(FATIMA, f"aanmelden {world.small}"))
    post.answers()
    post.send(mail(ZEE, f"Graag meld ik me aan voor {world.small}"))
    raw = mail(FATIMA, f"aanmelden {world.small}")
    post.send(raw)
    assert len(registrations(world.engine, world.small)) == 2
    answers = post.answers()
    assert "bent al aangemeld" in text(one_to(answers, ZEE))
    fatima = one_to(answers, FATIMA)
    threaded_under(fatima, raw)
    assert "staat al op de wachtlijst" in text(fatima) and "op plaats 1" in text(fatima)


def test_a_closed_meeting_says_why_and_registers_nobody(world: World, post: Post) -> None:
    raw = mail(ZEE, f"aanmelden {world.closed} en mijn collega Piet <piet@school.example>")
    post.send(raw)
    assert registrations(world.engine, world.closed) == []
    [answer] = post.answers()
    threaded_under(answer, raw)
    assert "aanmelddeadline" in text(answer) and world.closed in text(answer)


def test_a_wrong_code_lists_the_meetings_and_the_reply_with_the_right_one_registers(
    world: World, post: Post
) -> None:
    raw = mail(ZEE, "aanmelden TB-2027-42")
    post.send(raw)
    [answer] = post.answers()
    threaded_under(answer, raw)
    body = text(answer)
    assert "geen themabijeenkomst met de code TB-2027-42" in body
    assert f"{world.code}: Doorlopende leerlijnen" in body and "2 plaatsen vrij" in body
    assert f"{world.closed}: Gesloten bijeenkomst" in body and "aanmelden is gesloten" in body
    reply = mail(ZEE, world.code, "Re: Themabijeenkomst", reply_to=str(answer["Message-ID"]))
    post.send(reply)
    assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]
    [registered] = post.answers()
    threaded_under(registered, reply)


def test_no_code_at_all_asks_which_meeting(world: World, post: Post) -> None:
    raw = mail(ZEE, "Ik wil me graag aanmelden voor de themabijeenkomst over leerlijnen.")
    post.send(raw)
    [answer] = post.answers()
    assert "noemt geen code" in text(answer) and world.code in text(answer)
    post.send(mail(ZEE, f"Dat is {world.code}", "Re: x", reply_to=str(answer["Message-ID"])))
    assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]


def test_a_contact_of_two_regions_is_asked_which_region(world: World, post: Post) -> None:
    post.send(mail(BOTH, f"aanmelden {world.code}"))
    assert registrations(world.engine, world.code) == []
    [ask] = post.answers()
    assert "Twente (TWENTE)" in text(ask) and "Zeeland (ZEELAND)" in text(ask)
    post.send(mail(BOTH, "Voor Twente.", "Re: x", reply_to=str(ask["Message-ID"])))
    assert registrations(world.engine, world.code) == [(BOTH, "registered", "TWENTE", "email")]


def test_a_contact_of_two_regions_may_name_it_at_once(world: World, post: Post) -> None:
    post.send(mail(BOTH, f"aanmelden {world.code} voor regio Twente"))
    assert registrations(world.engine, world.code) == [(BOTH, "registered", "TWENTE", "email")]


def test_the_same_mail_delivered_twice_registers_once(world: World, post: Post) -> None:
    raw = mail(ZEE, f"aanmelden {world.code} en ook Piet <piet@school.example>")
    post.send(raw)
    post.send(raw)
    assert [r[0] for r in registrations(world.engine, world.code)] == [ZEE, "piet@school.example"]
    assert len(post.answers()) == 3  # Zeger's registration, the summary, Piet's registration


def test_an_unknown_sender_registers_nobody(world: World, post: Post) -> None:
    post.send(mail("wie@elders.example", f"aanmelden {world.code}"))
    assert registrations(world.engine, world.code) == []
    [answer] = post.answers()
    assert "niet bekend als contactpersoon" in text(answer)


# --- cancelling ---------------------------------------------------------------------------


def test_cancelling_by_replying_from_an_iphone_promotes_the_first_in_line(
    world: World, post: Post
) -> None:
    post.send(mail(EMRE, f"aanmelden {world.small}"))
    post.send(mail(ZEE, f"aanmelden {world.small}"))
    post.send(mail(FATIMA, f"aanmelden {world.small}"))
    post.answers()
    registered = our_mail_about(world.engine, EMRE, "meeting_registered")
    raw = corpus(
        "meeting_cancel_apple_mail_iphone_nl.eml", code=world.small, in_reply_to=registered
    )
    post.send(raw)
    assert registrations(world.engine, world.small) == [
        (EMRE, "cancelled", "TWENTE", "email"),
        (ZEE, "registered", "ZEELAND", "email"),  # first in line
        (FATIMA, "waitlisted", "ZEELAND", "email"),
    ]
    answers = post.answers()
    assert len(answers) == 2
    emre = one_to(answers, EMRE)
    assert emre["Subject"] == f"[{world.small}] U bent afgemeld: Techniek in de onderbouw"
    threaded_under(emre, raw)
    promoted = one_to(answers, ZEE)
    assert promoted["Subject"] == f"[{world.small}] Er is een plaats voor u: {SMALL_TITLE}"


IPHONE_CANCEL = (
    b"Ik kan helaas niet komen, er is iets tussengekomen. Geeft u mijn plek maar=\r\n aan=20\r\n"
    b"iemand anders."
)


@pytest.mark.parametrize(
    "question",
    [
        "Kan ik me later nog afmelden als het niet doorgaat?",
        "Is het mogelijk om af te melden als ik ziek ben?",
        "What if I can't make it?",
        "Wat als ik niet kan komen?",
    ],
)
def test_a_question_about_cancelling_keeps_the_seat_and_goes_to_the_team(
    world: World, post: Post, question: str
) -> None:
    post.send(mail(EMRE, f"aanmelden {world.code}"))
    post.answers()
    registered = our_mail_about(world.engine, EMRE, "meeting_registered")
    raw = corpus("meeting_cancel_apple_mail_iphone_nl.eml", code=world.code, in_reply_to=registered)
    assert IPHONE_CANCEL in raw
    raw = raw.replace(IPHONE_CANCEL, question.encode())
    post.send(raw)
    assert registrations(world.engine, world.code) == [(EMRE, "registered", "TWENTE", "email")]
    [answer] = post.answers()
    threaded_under(answer, raw)
    assert "Vragen beantwoordt de assistent niet zelf" in text(answer)
    with Session(world.engine) as session:
        [flag] = session.exec(select(FlaggedMail)).all()
    assert (flag.sender, flag.reason) == (EMRE, "question")


def test_coming_said_beside_a_question_registers_and_the_question_is_kept(
    world: World, post: Post
) -> None:
    announcement = announce(world, ZEE, world.code)
    body = "Ja, ik kom graag! Kan ik ook iets later komen?"
    post.send(mail(ZEE, body, "Re: Uitnodiging", reply_to=announcement))
    assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]
    with Session(world.engine) as session:
        [flag] = session.exec(select(FlaggedMail)).all()
    assert flag.reason == "question" and "later komen" in flag.excerpt


def test_cancelling_with_the_code(world: World, post: Post) -> None:
    post.send(mail(ZEE, f"aanmelden {world.code}"))
    post.answers()
    raw = mail(ZEE, f"afmelden {world.code}", "Afmelding")
    post.send(raw)
    assert registrations(world.engine, world.code) == [(ZEE, "cancelled", "ZEELAND", "email")]
    [answer] = post.answers()
    threaded_under(answer, raw)
    assert "U bent afgemeld" in text(answer)


def test_cancelling_what_was_never_registered_says_so(world: World, post: Post) -> None:
    raw = mail(ZEE, f"Ik kan helaas niet komen naar {world.code}.")
    post.send(raw)
    [answer] = post.answers()
    threaded_under(answer, raw)
    assert f"geen aanmelding van {ZEE}" in text(answer)


def test_a_request_cancellation_is_still_a_request_cancellation(world: World, post: Post) -> None:
    """A cancellation in a request's thread is not about meetings."""
    with transaction(world.engine) as session:
        from models import requests as rq
        from models.actor import Actor
        from models.types import Channel

        new = rq.NewRequest(region="ZEELAND", kind="process", half_days=2,
                            requester_contact_id=world.contacts[ZEE])  # fmt: skip
        request = rq.submit(session, new, Actor("test", Channel.cli), NOW)
        ref = request.ref
    post.send(mail(ZEE, "Wij willen deze aanvraag graag annuleren.", f"Re: [{ref}] Uw aanvraag"))
    with Session(world.engine) as session:
        assert rq.get_request(session, ref).status == "cancelled"


# --- trust --------------------------------------------------------------------------------


def test_without_trust_registering_waits_for_the_code(world: World) -> None:
    running = Post(world.engine, _settings(world.engine, trust=False))
    try:
        running.send(mail(ZEE, f"aanmelden {world.code}"))
        assert registrations(world.engine, world.code) == []
        [ask] = running.answers()
        assert "aan te melden voor een themabijeenkomst" in text(ask)
        with Session(world.engine) as session:
            assert session.exec(select(Registration)).all() == []
        code = next(w for w in text(ask).split() if w.isdigit() and len(w) == 6)
        reply = mail(ZEE, f"Hier is de code: {code}", "Re: x", reply_to=str(ask["Message-ID"]))
        running.send(reply)
        assert registrations(world.engine, world.code) == [(ZEE, "registered", "ZEELAND", "email")]
        [registered] = running.answers()
        threaded_under(registered, reply)
    finally:
        running.close()


# --- the answers themselves ---------------------------------------------------------------

EVIL = '<script>alert("x")</script>'
WHEN = {
    "starts_at": "2027-03-02T09:00:00+00:00",
    "ends_at": "2027-03-02T12:00:00+00:00",
    "timezone": "Europe/Amsterdam",
}
MEETING = {"code": "TB-2027-01", "title": EVIL, **WHEN}
ANSWERS: dict[str, dict[str, Any]] = {
    "mail_meeting_unknown": {
        "code": "TB-2027-42",
        "action": "register",
        "meetings": [{**MEETING, "seats_left": 1, "open": True}],
    },
    "mail_meeting_ask_region": {**MEETING, "regions": [["TWENTE", "Twente"]]},
    "mail_meeting_closed": {**MEETING, "reason": "deadline_passed"},
    "mail_meeting_already": {**MEETING, "email": ZEE, "status": "waitlisted", "place": 3},
    "mail_meeting_not_registered": {**MEETING, "email": ZEE},
    "mail_meeting_colleagues": {
        **MEETING,
        "lines": [
            {"name": EVIL, "email": "piet@school.example", "outcome": "waitlisted", "place": 2},
            {"name": "Klaas", "email": "klaas@school", "outcome": "invalid_address", "place": None},
        ],
        "unnamed": 1,
    },
    "meeting_unregistered": {
        **MEETING,
        "name": "Zeger",
        "location": "Utrecht",
        "online_url": "",
        "sequence": 0,
        "place": None,
    },
}


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("template", sorted(ANSWERS))
def test_every_meeting_answer_renders_in_both_languages_and_escapes_html(
    lang: str, template: str
) -> None:
    composer = Composer(Renderer(), OURS)
    context = {**ANSWERS[template], "reply_subject": "Aanmelding", "in_reply_to": "<a@b>"}
    parts = composer.render(template, lang, context, name="Zeger")
    assert "<script>" not in parts.html and "&lt;script&gt;" in parts.html
    assert "Undefined" not in parts.text + parts.html and "{{" not in parts.text
    assert "\n-- \n" in parts.text
    if template.startswith("mail_"):
        assert parts.subject == ("Re: Aanmelding")
    if lang == "nl":
        words = set(re.findall(r"[a-zë]+", parts.text.lower()))
        assert words & {"u", "uw"} and not words & {"je", "jij", "jouw", "jullie"}
