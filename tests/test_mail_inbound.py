"""Mail in, answers out: the inbound pipeline against the domain, on both databases.

Mails are built as mail clients send them (headers, threading, charsets);
answers are the outbox rows the pipeline writes, checked by template,
recipient and thread headers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bot.mail.headers import domain_of, message_id
from bot.mail.inbound import Inbound, MailDeps
from config.settings import Settings
from models.clock import FixedClock
from models.db import transaction
from models.tables import (
    Contact,
    FlaggedMail,
    InboundMessage,
    Notification,
    Region,
    RegionContact,
    SupportRequest,
)
from tests.conftest import NOW, RegionFactory

ZEE = "zeger@zeeland-school.example"
BOTH = "bea@twee-regios.example"


@pytest.fixture
def mailer(engine: Engine, make_region: RegionFactory) -> Iterator[Inbound]:
    make_region("ZEELAND", days="4,5")
    make_region("TWENTE", days="5")
    with transaction(engine) as session:
        regions = {r.code: r for r in session.exec(select(Region)).all()}
        zee = Contact(email=ZEE, name="Zeger Zeeuw")
        both = Contact(email=BOTH, name="Bea Beide")
        session.add_all([zee, both])
        session.flush()
        for contact, codes in ((zee, ["ZEELAND"]), (both, ["ZEELAND", "TWENTE"])):
            for code in codes:
                region_id = regions[code].id
                assert region_id is not None and contact.id is not None
                session.add(RegionContact(region_id=region_id, contact_id=contact.id))
    yield Inbound(MailDeps(settings=_settings(engine), engine=engine, clock=FixedClock(NOW)))


def _settings(engine: Engine, **more: Any) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        mail_from="ondersteuning@sto.example",
        mail_trust_from=more.pop("trust", True),
        **more,
    )


def mail(
    sender: str,
    body: str,
    subject: str = "Ondersteuning",
    *,
    reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Afzender <{sender}>"
    msg["To"] = "ondersteuning@sto.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0100"
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = " ".join([*(references or []), reply_to])
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return bytes(msg)


def send(inbound: Inbound, raw: bytes) -> None:
    assert asyncio.run(inbound.handle(raw)) is True


def answers(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        query = select(Notification).where(Notification.channel == "email")
        return list(session.exec(query.order_by(col(Notification.id))).all())


def requests(engine: Engine) -> list[SupportRequest]:
    with Session(engine) as session:
        return list(session.exec(select(SupportRequest)).all())


def our_id(row: Notification) -> str:
    return message_id(row.dedupe_key, domain_of("ondersteuning@sto.example"))


def test_a_dutch_request_is_booked_and_answered_in_its_thread(
    mailer: Inbound, engine: Engine
) -> None:
    raw = mail(
        ZEE,
        "Beste team,\n\nWij willen graag 2 dagen procesbegeleiding voor het thema doorlopende "
        "leerlijnen, bij voorkeur in maart.\n\nMet vriendelijke groet,\nZeger",
    )
    send(mailer, raw)
    send(mailer, raw)  # delivered twice: acts once
    booked = requests(engine)
    assert len(booked) == 1
    request = booked[0]
    assert (request.half_days, request.kind, request.channel) == (4, "process", "email")
    assert (str(request.preferred_from), str(request.preferred_to)) == ("2027-03-01", "2027-03-31")
    [answer] = answers(engine)
    assert (answer.template, answer.recipient) == ("request_submitted", ZEE)
    assert answer.context["in_reply_to"].endswith("@client.example>")


def test_what_is_missing_is_asked_and_the_reply_completes_it(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Wij willen graag 2 dagen ondersteuning in maart."))
    [ask] = answers(engine)
    assert ask.template == "mail_ask_missing" and ask.context["missing"] == ["kind"]
    assert requests(engine) == []
    # The reply threads on our answer's Message-ID, as a mail client does.
    send(mailer, mail(ZEE, "Procesbegeleiding graag.", "Re: Ondersteuning", reply_to=our_id(ask)))
    [request] = requests(engine)
    assert (request.half_days, request.kind) == (4, "process")


def test_a_contact_of_two_regions_is_asked_which(mailer: Inbound, engine: Engine) -> None:
    send(mailer, mail(BOTH, "Graag 1 dag strategisch advies in april."))
    [ask] = answers(engine)
    assert ask.template == "mail_ask_region"
    assert [code for code, _ in ask.context["regions"]] == ["TWENTE", "ZEELAND"]
    send(mailer, mail(BOTH, "Voor Twente.", "Re: x", reply_to=our_id(ask)))
    [request] = requests(engine)
    with Session(engine) as session:
        region = session.get(Region, request.region_id)
    assert region is not None and region.code == "TWENTE"


def test_balance_question(mailer: Inbound, engine: Engine) -> None:
    send(mailer, mail(ZEE, "Hoeveel dagen hebben wij nog?"))
    [answer] = answers(engine)
    assert answer.template == "mail_balance"
    days = [x for x in answer.context["lines"] if x["kind"] == "support_days"]
    assert days == [
        {
            "region": "ZEELAND",
            "name": "Zeeland",
            "kind": "support_days",
            "granted": 4.5,
            "reserved": 0,
            "used": 0,
            "available": 4.5,
        }
    ]


def test_more_than_available_is_refused_with_what_is_left(mailer: Inbound, engine: Engine) -> None:
    send(mailer, mail(ZEE, "Wij willen graag 5 dagen procesbegeleiding."))
    [answer] = answers(engine)
    assert answer.template == "mail_refused"
    assert answer.context["error"] == "insufficient_balance"
    assert answer.context["params"]["available"] == 4.5
    assert requests(engine) == []


def test_cancel_by_replying_to_the_confirmation(mailer: Inbound, engine: Engine) -> None:
    send(mailer, mail(ZEE, "Graag 1 dag inhoudelijk advies."))
    [submitted] = answers(engine)
    send(mailer, mail(ZEE, "Wij willen deze aanvraag graag annuleren.", reply_to=our_id(submitted)))
    [request] = requests(engine)
    assert request.status == "cancelled"
    assert [a.template for a in answers(engine)] == ["request_submitted", "request_cancelled"]


def test_without_trust_a_code_must_come_back(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    with transaction(engine) as session:
        contact = Contact(email=ZEE, name="Zeger")
        session.add(contact)
        session.flush()
        region = session.exec(select(Region)).one()
        assert region.id is not None and contact.id is not None
        session.add(RegionContact(region_id=region.id, contact_id=contact.id))
    inbound = Inbound(
        MailDeps(settings=_settings(engine, trust=False), engine=engine, clock=FixedClock(NOW))
    )
    send(inbound, mail(ZEE, "Graag 1 dag procesbegeleiding."))
    [ask] = answers(engine)
    assert ask.template == "mail_confirm_code" and ask.recipient == ZEE
    assert requests(engine) == []
    code = str(ask.context["code"])
    wrong = "000000" if code != "000000" else "111111"
    send(inbound, mail(ZEE, f"Hierbij de code: {wrong}", reply_to=our_id(ask)))
    assert requests(engine) == []
    assert answers(engine)[-1].template == "mail_code_invalid"
    send(inbound, mail(ZEE, f"Hierbij de code: {code}", reply_to=our_id(ask)))
    assert len(requests(engine)) == 1


def test_dmarc_pass_at_our_own_server_acts_at_once(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    with transaction(engine) as session:
        contact = Contact(email=ZEE, name="Zeger")
        session.add(contact)
        session.flush()
        region = session.exec(select(Region)).one()
        assert region.id is not None and contact.id is not None
        session.add(RegionContact(region_id=region.id, contact_id=contact.id))
    settings = _settings(engine, trust=False, mail_authserv_id="mx.sto.example")
    inbound = Inbound(MailDeps(settings=settings, engine=engine, clock=FixedClock(NOW)))
    forged = {"Authentication-Results": "mx.attacker.example; dmarc=pass header.from=x"}
    send(inbound, mail(ZEE, "Graag 1 dag procesbegeleiding.", headers=forged))
    assert requests(engine) == []
    ours = {"Authentication-Results": "mx.sto.example; spf=pass; dkim=pass; dmarc=pass"}
    send(inbound, mail(ZEE, "Graag 1 dag procesbegeleiding.", headers=ours))
    assert len(requests(engine)) == 1


def test_unknown_senders_get_one_polite_answer_and_are_not_stored(
    mailer: Inbound, engine: Engine
) -> None:
    for _ in range(7):
        send(mailer, mail("wie@elders.example", "Hoeveel dagen hebben wij nog?"))
    sent = answers(engine)
    assert [a.template for a in sent] == ["mail_unknown_sender"]  # one polite answer
    with Session(engine) as session:
        senders = session.exec(select(InboundMessage.sender)).all()
    assert set(senders) == {""}


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<techniek.lists.example>"},
        {"Precedence": "bulk"},
    ],
)
def test_auto_replies_and_list_mail_are_never_answered(
    mailer: Inbound, engine: Engine, headers: dict[str, str]
) -> None:
    send(mailer, mail(ZEE, "Graag 1 dag procesbegeleiding.", headers=headers))
    assert answers(engine) == [] and requests(engine) == []
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 1


def test_an_outlook_out_of_office_without_auto_submitted_is_not_answered(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Ik ben afwezig tot en met 4 januari.", "Automatisch antwoord: x"))
    assert answers(engine) == []


def test_what_nobody_understands_is_flagged_for_the_team(mailer: Inbound, engine: Engine) -> None:
    send(mailer, mail(ZEE, "Kunnen jullie de presentatie van vorige week nog eens sturen?"))
    [answer] = answers(engine)
    assert answer.template == "mail_flagged"
    with Session(engine) as session:
        [flag] = session.exec(select(FlaggedMail)).all()
    assert (flag.reason, flag.sender) == ("not_understood", ZEE)
    assert "presentatie" in flag.excerpt


def test_concurrent_bookings_by_mail_never_overdraw(mailer: Inbound, engine: Engine) -> None:
    raws = [mail(ZEE, "Graag 1 dag procesbegeleiding.") for _ in range(8)]
    barrier = threading.Barrier(len(raws))

    def go(raw: bytes) -> None:
        barrier.wait()
        send(mailer, raw)

    workers = [threading.Thread(target=go, args=(raw,)) for raw in raws]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    booked = requests(engine)
    assert sum(r.half_days for r in booked) == 8  # 4,5 days fit four whole days
    refused = [a for a in answers(engine) if a.template == "mail_refused"]
    assert len(booked) == 4 and len(refused) == 4


def test_a_mail_without_sender_is_kept_for_the_team(mailer: Inbound, engine: Engine) -> None:
    raw = (
        b"To: ondersteuning@sto.example\r\nSubject: ?\r\n"
        b"Message-ID: <x1@c.example>\r\n\r\nHallo\r\n"
    )
    send(mailer, raw)
    assert answers(engine) == []
    with Session(engine) as session:
        [flag] = session.exec(select(FlaggedMail)).all()
    assert flag.reason == "no_sender"


def test_flagged_mail_is_listed_and_resolved_from_the_cli(
    mailer: Inbound,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.cli_helpers import Sto

    send(mailer, mail(ZEE, "Kunnen jullie de presentatie nog eens sturen?", "Presentatie"))
    sto = Sto(engine, capsys, monkeypatch, NOW)
    listed = sto("mail", "list", "--json").json()
    assert [(m["sender"], m["subject"], m["reason"]) for m in listed] == [
        (ZEE, "Presentatie", "not_understood")
    ]
    table = sto("mail", "list")
    assert "niet begrepen" in table.out and "1 e-mail wacht" in table.out
    assert sto("mail", "resolve", str(listed[0]["id"])).code == 0
    assert sto("mail", "list", "--json").json() == []
    assert sto("mail", "resolve", "999").code == 1


def test_mail_that_failed_for_good_is_shown_to_the_team(
    mailer: Inbound,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.cli_helpers import Sto

    send(mailer, mail(ZEE, "Hoeveel dagen hebben wij nog?"))
    with transaction(engine) as session:
        [row] = session.exec(select(Notification)).all()
        row.status, row.last_error = "failed", "permanent: 550 5.1.1 user unknown"
        session.add(row)
    sto = Sto(engine, capsys, monkeypatch, NOW)
    [failed] = sto("mail", "failed", "--json").json()
    assert (failed["recipient"], failed["template"]) == (ZEE, "mail_balance")
    assert "550" in sto("mail", "failed").out


def test_a_reply_in_someone_elses_thread_does_not_take_it_over(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Wij willen graag 2 dagen ondersteuning in maart."))
    [ask] = answers(engine)
    # A colleague answers the question meant for Zeger: that is a new conversation.
    send(mailer, mail(BOTH, "Procesbegeleiding graag.", "Re: Ondersteuning", reply_to=our_id(ask)))
    assert requests(engine) == []
    assert answers(engine)[-1].recipient == BOTH


def test_never_more_than_a_few_answers_per_sender_per_hour(mailer: Inbound, engine: Engine) -> None:
    for _ in range(8):
        send(mailer, mail(ZEE, "Hoeveel dagen hebben wij nog?"))
    assert [a.template for a in answers(engine)] == ["mail_balance"] * 5


def corpus_reply(sender: str, body: str, reply_to: str, ref: str) -> bytes:
    """A Thunderbird reply as the corpus has it (format=flowed, quoted history), with new words."""
    raw = (Path(__file__).parent / "mail_corpus" / "cancellation_reply_sto_ref.eml").read_bytes()
    swaps = {
        b"Jan de Vries <j.devries@csg-noorderlicht.example>": f"Zeger <{sender}>".encode(),
        b"<b1c2d3e4-0001-4cde-8f90-cancel@csg-noorderlicht.example>": make_msgid(
            domain="client.example"
        ).encode(),
        b"<sto.55555555555555555555555555555555@sto.example>": reply_to.encode(),
        b"<sto.request.STO-2027-0042@sto.example>\r\n ": b"",
        b"STO-2027-0042": ref.encode(),
        b"Wij willen deze aanvraag helaas annuleren. De studiedag gaat niet door.": body.encode(),
    }
    for old, new in swaps.items():
        assert old in raw
        raw = raw.replace(old, new)
    return raw


def gmail_reply(sender: str, body: str, reply_to: str, ref: str) -> bytes:
    """A Gmail reply as the corpus has it: plain text hard-wrapped, quoted history below."""
    raw = (Path(__file__).parent / "mail_corpus" / "gmail_reply_nl_op_schreef.eml").read_bytes()
    swaps = {
        b"Sanne Dekker <sanne.dekker.techniek@gmail.example>": f"Zeger <{sender}>".encode(),
        b"<CAKx7Hq3vR2+8YbN0mT5ZpQ1Lw4eKdJ9sF6aGuVhc2XoE1nB7iA@mail.gmail.example>": make_msgid(
            domain="client.example"
        ).encode(),
        b"<sto.22222222222222222222222222222222@sto.example>": reply_to.encode(),
        b"<sto.request.STO-2027-0043@sto.example> ": b"",
        b"STO-2027-0043": ref.encode(),
        b"Doe maar twee dagdelen procesbegeleiding, het liefst in april.": body.encode(),
    }
    for old, new in swaps.items():
        assert old in raw
        raw = raw.replace(old, new)
    return raw


@pytest.mark.parametrize(
    "question",
    [
        "kan ik later annuleren?",
        "Is het mogelijk om te annuleren als het niet doorgaat?",
        "can I cancel later?",
        "Kan ik me later nog afmelden als het niet doorgaat?",
        "kan ik ook een halve dag aanvragen?",
    ],
)
def test_a_question_in_a_requests_thread_changes_nothing_and_goes_to_the_team(
    mailer: Inbound,
    engine: Engine,
    question: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.cli_helpers import Sto

    send(mailer, mail(ZEE, "Graag 1 dag inhoudelijk advies."))  # trusted From: acts at once
    [submitted] = answers(engine)
    [before] = requests(engine)
    assert before.status == "submitted"
    sto = Sto(engine, capsys, monkeypatch, NOW)
    quota_before = sto("quota", "--json").json()

    send(mailer, corpus_reply(ZEE, question, our_id(submitted), before.ref))

    [after] = requests(engine)
    assert (after.status, after.half_days, after.kind) == (before.status, 2, before.kind)
    assert sto("quota", "--json").json() == quota_before
    reply = answers(engine)[-1]
    assert (reply.template, reply.recipient) == ("mail_question", ZEE)
    assert reply.context["ref"] == before.ref
    assert reply.context["in_reply_to"].endswith("@client.example>")
    [flag] = sto("mail", "list", "--json").json()
    assert (flag["sender"], flag["reason"]) == (ZEE, "question")
    assert "vraag" in sto("mail", "list").out

    # An instruction in the same thread still acts: a polite question addressed to us.
    send(mailer, corpus_reply(ZEE, "Kunt u deze aanvraag annuleren?", our_id(reply), before.ref))
    [cancelled] = requests(engine)
    assert cancelled.status == "cancelled"


def test_an_instruction_with_a_question_beside_it_acts_and_flags_the_question(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Graag 1 dag inhoudelijk advies."))
    [submitted] = answers(engine)
    body = "Graag annuleren. Kan ik later opnieuw aanvragen?"
    send(mailer, corpus_reply(ZEE, body, our_id(submitted), requests(engine)[0].ref))
    [request] = requests(engine)
    assert request.status == "cancelled"
    assert [a.template for a in answers(engine)] == ["request_submitted", "request_cancelled"]
    with Session(engine) as session:
        [flag] = session.exec(select(FlaggedMail)).all()
    assert flag.reason == "question" and "opnieuw aanvragen" in flag.excerpt


CORPUS = Path(__file__).parent / "mail_corpus"
MEETING_UID = "sto-meeting-TB-2027-03-dd58dd4c0067@sto.example"


def inbound_rows(engine: Engine) -> list[InboundMessage]:
    with Session(engine) as session:
        return list(session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all())


def flagged(engine: Engine) -> list[FlaggedMail]:
    with Session(engine) as session:
        return list(session.exec(select(FlaggedMail)).all())


@pytest.mark.parametrize(
    ("name", "summary", "sender"),
    [
        (
            "calendar_reply_outlook_accepted_nl.eml",
            "calendar reply: ACCEPTED for meeting:TB-2027-03"
            " by f.elamrani@rijnmond-techniek.example",
            "f.elamrani@rijnmond-techniek.example",
        ),
        (
            "calendar_reply_google_declined_nl.eml",
            "calendar reply: DECLINED for meeting:TB-2027-03"
            " by sanne.dekker.techniek@gmail.example",
            "sanne.dekker.techniek@gmail.example",
        ),
        (
            # Only the subject says it; the sender is nobody we know, so not kept.
            "calendar_reply_outlook_tentative_en_subject_only.eml",
            "calendar reply: TENTATIVE for request:STO-2027-0042",
            "",
        ),
    ],
)
def test_calendar_replies_are_recorded_and_never_answered_or_flagged(
    mailer: Inbound, engine: Engine, name: str, summary: str, sender: str
) -> None:
    raw = (CORPUS / name).read_bytes()
    send(mailer, raw)
    send(mailer, raw)  # delivered twice: recorded once
    assert answers(engine) == []
    assert flagged(engine) == []
    assert requests(engine) == []
    [row] = inbound_rows(engine)
    assert (row.summary, row.sender) == (summary, sender)


def test_a_calendar_reply_from_a_contact_names_them(mailer: Inbound, engine: Engine) -> None:
    raw = (CORPUS / "calendar_reply_outlook_tentative_en_subject_only.eml").read_bytes()
    send(mailer, raw.replace(b"a.smith@bes-techniek.example", ZEE.encode()))
    assert answers(engine) == [] and flagged(engine) == []
    [row] = inbound_rows(engine)
    assert row.summary == f"calendar reply: TENTATIVE for request:STO-2027-0042 by {ZEE}"
    assert row.sender == ZEE


def test_a_calendar_reply_to_a_uid_not_ours_names_nobody(mailer: Inbound, engine: Engine) -> None:
    raw = (CORPUS / "calendar_reply_google_declined_nl.eml").read_bytes()
    forged = MEETING_UID.replace("dd58dd4c0067", "000000000000").encode()
    raw = raw.replace(MEETING_UID.encode(), forged)
    send(mailer, raw.replace(b"[TB-2027-03]", b"[intern]"))
    assert answers(engine) == [] and flagged(engine) == []
    [row] = inbound_rows(engine)
    assert row.summary == f"calendar reply: DECLINED for UID {forged.decode()}"
    assert row.sender == ""


def test_our_own_invitation_answered_by_a_calendar_is_recognised(
    mailer: Inbound, engine: Engine
) -> None:
    """The invitation as we send it, answered the way calendars do: METHOD:REPLY, PARTSTAT."""
    from datetime import UTC, datetime

    from bot.mail.calendar import Invite, Person, invite_uid, to_ics

    invite = Invite(
        uid=invite_uid("visit:7", domain_of("ondersteuning@sto.example")),
        sequence=3,
        summary="Bezoek critical friend Piet, Zeeland (Sterk Techniekonderwijs)",
        description="",
        organizer=Person("ondersteuning@sto.example", "Ondersteuningsteam"),
        attendee=Person(ZEE, "Zeger Zeeuw"),
        start=datetime(2027, 3, 10, 9, 0, tzinfo=UTC),
        end=datetime(2027, 3, 10, 11, 0, tzinfo=UTC),
    )
    ics = to_ics(invite, stamp=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    answer = ics.replace("METHOD:REQUEST", "METHOD:REPLY").replace("NEEDS-ACTION", "ACCEPTED")
    msg = EmailMessage()
    msg["From"] = f"Zeger Zeeuw <{ZEE}>"
    msg["To"] = "ondersteuning@sto.example"
    msg["Subject"] = f"Accepted: {invite.summary}"
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0100"
    msg.set_content("")
    msg.add_alternative(answer, subtype="calendar", params={"method": "REPLY"})
    send(mailer, bytes(msg))
    assert answers(engine) == [] and flagged(engine) == []
    [row] = inbound_rows(engine)
    assert row.summary == f"calendar reply: ACCEPTED for visit:7 by {ZEE}"


def test_a_wrapped_gmail_question_changes_nothing_and_a_wrapped_instruction_acts(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Graag 1 dag inhoudelijk advies."))
    [submitted] = answers(engine)
    ref = requests(engine)[0].ref
    question = "Kan ik de aanvraag voor de studiedag in maart\r\nlater nog annuleren?"
    send(mailer, gmail_reply(ZEE, question, our_id(submitted), ref))
    assert requests(engine)[0].status == "submitted"
    reply = answers(engine)[-1]
    assert reply.template == "mail_question"
    wrapped = "Beste team, kunt u onze aanvraag voor de studiedag in maart\r\nannuleren? Dank u."
    send(mailer, gmail_reply(ZEE, wrapped, our_id(reply), ref))
    assert requests(engine)[0].status == "cancelled"


def test_an_unsure_answer_with_a_question_mark_still_completes_the_request(
    mailer: Inbound, engine: Engine
) -> None:
    send(mailer, mail(ZEE, "Wij willen graag ondersteuning in maart."))
    [ask] = answers(engine)
    assert ask.template == "mail_ask_missing"
    send(mailer, mail(ZEE, "2 dagen procesbegeleiding?", "Re: Ondersteuning", reply_to=our_id(ask)))
    [request] = requests(engine)
    assert (request.half_days, request.kind) == (4, "process")
