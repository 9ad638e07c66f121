"""Reading inbound mail: the corpus, the bad input of issue 4, and random bytes."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.parse import MAX_SUBJECT, Attachment, ParsedMail, parse

CORPUS = Path(__file__).parent / "mail_corpus"
ID = re.compile(r"<[^<>\s]+>")
SYNTHETIC = re.compile(r"<[0-9a-f]{40}@synthetic\.sto\.invalid>")
OUR_ID = "<sto.{}@sto.example>"


def load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def read(name: str) -> ParsedMail:
    return parse(load(name))


@dataclass(frozen=True)
class Expect:
    from_address: str
    from_name: str
    subject: str
    message_id: str | None  # None: synthetic
    new_has: tuple[str, ...] = ()
    new_lacks: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    reference: str | None = None
    problems: tuple[str, ...] = ()
    source: str = "plain"
    attachments: tuple[Attachment, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


EXPECTED: dict[str, Expect] = {
    "outlook_windows_reply_quoted_nl.eml": Expect(
        from_address="j.devries@csg-noorderlicht.example",
        from_name="Vries, Jan de",
        subject="RE: [STO-2027-0042] Uw aanvraag voor ondersteuningsdagen",
        message_id=(
            "<AM0PR04MB6417C2D1E5F0A9B3C4D5E6F7A8B9@AM0PR04MB6417.eurprd04.prod.outlook.example>"
        ),
        new_has=(
            "Wij willen de tweede dag graag verschuiven naar week 12. Kan dat nog?",
            "De coördinator techniek is dan ook aanwezig",
        ),
        new_lacks=("Met vriendelijke groet", "Jan de Vries", "Van:", "Wij hebben uw aanvraag"),
        in_reply_to=(OUR_ID.format("0123456789abcdef0123456789abcdef"),),
        reference="STO-2027-0042",
    ),
    "outlook_web_autoreply_nl_auto_submitted.eml": Expect(
        from_address="a.bakker@vmbo-de-brug.example",
        from_name="Anouk Bakker",
        subject=(
            "Automatisch antwoord: [STO-2027-0051] Herinnering: bezoek van uw critical friend"
            " op 10 maart"
        ),
        message_id="<1b2c3d4e5f6a4b7c8d9e0f1a2b3c4d5e@DB9PR02MB7051.eurprd02.prod.outlook.example>",
        new_has=("Ik ben afwezig tot en met vrijdag 12 maart 2027",),
        new_lacks=("Anouk Bakker",),
        in_reply_to=(OUR_ID.format("fedcba9876543210fedcba9876543210"),),
        reference="STO-2027-0051",
    ),
    "outlook_autoreply_nl_subject_only.eml": Expect(
        from_address="m.bokker@kennispoort-vmbo.example",
        from_name="Martijn Bökker",
        subject="Automatisch antwoord: Vraag over één dag ondersteuning",
        message_id="<VI1PR09MB4213D9E4A1B2C3D4E5F60718@VI1PR09MB4213.eurprd09.prod.outlook.example>",
        new_has=("Ik ben op studiereis tot 15 maart.",),
        in_reply_to=(OUR_ID.format("00000000000000000000000000000abc"),),
    ),
    "exchange_afwezig_inbox_rules_loop.eml": Expect(
        from_address="s.meijer@oostvaarders-college.example",
        from_name="Sophie Meijer",
        subject="Afwezig: Uw aanvraag STO-2027-0077",
        message_id="<e4d1c0a2-7f3b-4b59-9a61-2f7c1d0b8e33@OSTPR01MB1234.example>",
        new_has=("Ik ben deze week afwezig.",),
        reference="STO-2027-0077",
    ),
    "vacation_autoreply_x_autoreply_en.eml": Expect(
        from_address="tom.hendriks@brainport-vmbo.example",
        from_name="Tom Hendriks",
        subject="Re: [STO-2027-0060] Your support request",
        message_id="<vacation.9f8e7d6c5b4a@brainport-vmbo.example>",
        new_has=("I am on leave until 22 March",),
        in_reply_to=(OUR_ID.format("11111111111111111111111111111111"),),
        reference="STO-2027-0060",
    ),
    "gmail_reply_nl_op_schreef.eml": Expect(
        from_address="sanne.dekker.techniek@gmail.example",
        from_name="Sanne Dekker",
        subject="Re: [STO-2027-0043] Wat wilt u precies aanvragen?",
        message_id="<CAKx7Hq3vR2+8YbN0mT5ZpQ1Lw4eKdJ9sF6aGuVhc2XoE1nB7iA@mail.gmail.example>",
        new_has=("Doe maar twee dagdelen procesbegeleiding, het liefst in april.",),
        new_lacks=("Groetjes", "Sanne", "schreef", "Hoeveel dagen"),
        in_reply_to=(OUR_ID.format("22222222222222222222222222222222"),),
        reference="STO-2027-0043",
    ),
    "gmail_reply_en_on_wrote.eml": Expect(
        from_address="emma.visser@bonaire-skol.example",
        from_name="Emma Visser",
        subject="Re: [STO-2027-0044] How many days would you like?",
        message_id="<CAJz2Lb8Qq1wE3rT5yU7iO9pA1sD3fG5hJ7kL9zX1cV3bN5mQ7w@mail.gmail.example>",
        new_has=("Half a day is enough for us, preferably in the first week of April.",),
        new_lacks=("Best,", "Emma", "wrote:", "How many days"),
        in_reply_to=(OUR_ID.format("33333333333333333333333333333333"),),
        reference="STO-2027-0044",
    ),
    "apple_mail_iphone_flowed_nl.eml": Expect(
        from_address="e.yilmaz@techniekcampus-zuid.example",
        from_name="Emre Yilmaz",
        subject="Re: [STO-2027-0045] Uw ondersteuning is ingepland",
        message_id="<5D3A1F2E-8B7C-4E6D-9A0B-1C2D3E4F5A6B@techniekcampus-zuid.example>",
        # format=flowed: the wrapped sentence is one line again.
        new_has=(
            "Kunnen we de ondersteuning ook in week 12 plannen in plaats van week 10? "
            "Dan kan de hele sectie techniek erbij zijn.",
        ),
        new_lacks=("Verzonden vanaf mijn iPhone", "geschreven", "ingepland op dinsdag"),
        in_reply_to=(OUR_ID.format("44444444444444444444444444444444"),),
        reference="STO-2027-0045",
        extra={"cc": ("l.vos@techniekcampus-zuid.example",)},
    ),
    "request_nl_doorlopende_leerlijnen.eml": Expect(
        from_address="m.jansen@techniek-twente.example",
        from_name="Marieke Jansen",
        subject="Aanvraag ondersteuning doorlopende leerlijnen",
        message_id="<7c0a4f7e-3d5b-4a1e-9f0e-2b6a8d4c1e90@techniek-twente.example>",
        new_has=(
            "Wij willen graag 2 dagen ondersteuning voor het thema doorlopende leerlijnen, "
            "bij voorkeur in maart.",
            "aansluiting vmbo\u2013mbo",
        ),
        new_lacks=("Met vriendelijke groet", "Marieke Jansen", "Regiocoördinator"),
    ),
    "request_en_process_support.eml": Expect(
        from_address="emma.visser@caribbean-tech.example",
        from_name="Emma Visser",
        subject="Support request: two days of process support",
        message_id="<20270120093000.4F2A1B@mail.caribbean-tech.example>",
        new_has=("We would like to book two days of process support for our regional plan,",),
        new_lacks=("Kind regards", "Emma Visser", "Regional coordinator"),
    ),
    "balance_question_nl.eml": Expect(
        from_address="p.smit@regio-amstelland.example",
        from_name="Pieter Smit",
        subject="Saldo ondersteuningsdagen",
        message_id="<balance.0001@regio-amstelland.example>",
        new_has=("Hoeveel dagen hebben wij nog?",),
        new_lacks=("Pieter Smit", "Projectleider", "06 12"),
    ),
    "cancellation_reply_sto_ref.eml": Expect(
        from_address="j.devries@csg-noorderlicht.example",
        from_name="Jan de Vries",
        subject="Re: [STO-2027-0042] Bevestiging: 2 dagen ondersteuning",
        message_id="<b1c2d3e4-0001-4cde-8f90-cancel@csg-noorderlicht.example>",
        new_has=("Wij willen deze aanvraag helaas annuleren. De studiedag gaat niet door.",),
        new_lacks=("wrote:", "goedgekeurd"),
        in_reply_to=(OUR_ID.format("55555555555555555555555555555555"),),
        reference="STO-2027-0042",
        extra={
            "references": (
                "<sto.request.STO-2027-0042@sto.example>",
                OUR_ID.format("55555555555555555555555555555555"),
            )
        },
    ),
    "iso_8859_1_request_nl.eml": Expect(
        from_address="renee.muller@zeeland-techniek.example",
        from_name="Renée Müller",
        subject="Aanvraag één dag coördinatie",
        message_id="<latin1.20270209111111@zeeland-techniek.example>",
        new_has=(
            "Wij willen graag één dag ondersteuning bij de coördinatie van ons regioplan, "
            "bij voorkeur vóór de meivakantie.",
        ),
        new_lacks=("Groeten", "Renée"),
    ),
    "wrong_charset_utf8_is_windows1252.eml": Expect(
        from_address="k.degroot@westfriesland-vmbo.example",
        from_name="Karin de Groot",
        subject='Vraag over "procesbegeleiding"',
        message_id="<cp1252.mislabelled@westfriesland-vmbo.example>",
        new_has=('Wij willen graag één dag "procesbegeleiding" in week 14 \u2013 kan dat?',),
        problems=("bad_charset",),
        extra={
            "text": "Wij willen graag één dag \u201cprocesbegeleiding\u201d"
            " in week 14 \u2013 kan dat?\n"
        },
    ),
    "html_only_outlook_web_nl.eml": Expect(
        from_address="f.elamrani@rijnmond-techniek.example",
        from_name="Fatima El Amrani",
        subject="RE: Ondersteuning strategie",
        message_id="<AS8PR07MB7777A1B2C3D4E5F6@AS8PR07MB7777.eurprd07.prod.outlook.example>",
        new_has=(
            "Wij willen graag een halve dag strategische ondersteuning in week 15.",
            "Café De Brug is dan ook beschikbaar als locatie.",
        ),
        new_lacks=("Van:", "Verzonden", "Beste mevrouw El Amrani", "margin-top", "<div"),
        source="html",
    ),
    "calendar_reply_outlook_accepted_nl.eml": Expect(
        from_address="f.elamrani@rijnmond-techniek.example",
        from_name="El Amrani, Fatima",
        subject="Geaccepteerd: Themabijeenkomst: Doorlopende leerlijnen [TB-2027-03]",
        message_id=(
            "<AM9PR04MB82117E5D1C0A9B3C4D5E6F7A8B9C@AM9PR04MB8211.eurprd04.prod.outlook.example>"
        ),
        in_reply_to=(OUR_ID.format("3c9a1f0e5b7d4a2c8e6f1b3d5a7c9e0f"),),
        problems=("no_body",),
        source="html",
        attachments=(Attachment("", "text/calendar", 1395),),
    ),
    "calendar_reply_google_declined_nl.eml": Expect(
        from_address="sanne.dekker.techniek@gmail.example",
        from_name="Sanne Dekker",
        subject=(
            "Geweigerd: Themabijeenkomst: Doorlopende leerlijnen [TB-2027-03] @ wo 10 mrt 2027 "
            "13:30 - 16:30 (CET) (ondersteuning@sto.example)"
        ),
        message_id="<calendar-5f0c1d2e-7a8b-4c9d-8e0f-1a2b3c4d5e6f@google.example>",
        new_has=("Sanne Dekker heeft deze uitnodiging afgewezen.",),
        attachments=(
            Attachment("", "text/calendar", 896),
            Attachment("invite.ics", "application/ics", 896),
        ),
    ),
    "calendar_reply_outlook_tentative_en_subject_only.eml": Expect(
        from_address="a.smith@bes-techniek.example",
        from_name="Anna Smith",
        subject="Tentative: Ondersteuning Sterk Techniekonderwijs, Bonaire [STO-2027-0042]",
        message_id=(
            "<SN6PR11MB3455A1B2C3D4E5F6A7B8C9D0@SN6PR11MB3455.namprd11.prod.outlook.example>"
        ),
        new_has=("I might be a bit late.",),
        reference="STO-2027-0042",
        extra={"calendar": ""},
    ),
    "large_attachment_regioplan.eml": Expect(
        from_address="b.kok@regio-drechtsteden.example",
        from_name="Bram Kok",
        subject="Regioplan 2027 ter voorbereiding",
        message_id="<attach.regioplan.2027@regio-drechtsteden.example>",
        new_has=("Hierbij ons regioplan, ter voorbereiding op het bezoek van de critical friend.",),
        new_lacks=("PDF",),
        attachments=(Attachment("Regioplan 2027.pdf", "application/pdf", 48 * 1024),),
    ),
    "empty_body.eml": Expect(
        from_address="l.brouwer@gooi-vmbo.example",
        from_name="Lotte Brouwer",
        subject="Vraag",
        message_id="<empty.body@gooi-vmbo.example>",
        problems=("no_body",),
        source="",
        extra={"text": "", "new_text": ""},
    ),
    "subject_10000_chars.eml": Expect(
        from_address="n.bos@flevoland-techniek.example",
        from_name="Noah Bos",
        subject=("Aanvraag " + "ondersteuning " * 80)[:MAX_SUBJECT].rstrip(),
        message_id="<long.subject@flevoland-techniek.example>",
        new_has=("Zie onderwerp.",),
        problems=("subject_too_long",),
    ),
    "malformed_mime_broken_boundary.eml": Expect(
        from_address="d.mulder@achterhoek-vmbo.example",
        from_name="Daan Mulder",
        subject="Aanvraag halve dag",
        message_id="<broken.boundary@achterhoek-vmbo.example>",
        new_has=("Wij willen graag een halve dag ondersteuning in maart.",),
        new_lacks=("Content-Type", "b0undary", "<p>"),
        problems=("malformed_mime",),
    ),
    "malformed_mime_unclosed_boundary.eml": Expect(
        from_address="d.mulder@achterhoek-vmbo.example",
        from_name="Daan Mulder",
        subject="Aanvraag halve dag (opnieuw)",
        message_id="<unclosed.boundary@achterhoek-vmbo.example>",
        new_has=("Wij willen graag een halve dag ondersteuning in april.",),
        problems=("malformed_mime",),
        attachments=(Attachment("notities.bin", "application/octet-stream", 10),),
    ),
    "bounce_dsn_multipart_report.eml": Expect(
        from_address="mailer-daemon@mail.sto.example",
        from_name="",
        subject="Undelivered Mail Returned to Sender",
        message_id="<20270223090005.4F1A2B3C4D@mail.sto.example>",
        # The returned original is an attachment, not this mail's text.
        new_has=("your message could not",),
        new_lacks=("Beste contactpersoon", "Herinnering"),
        attachments=(
            Attachment("", "message/delivery-status", 0),
            Attachment("", "message/rfc822", 47),
        ),
    ),
    "bounce_exchange_onbestelbaar_nl.eml": Expect(
        from_address="microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@zuidoost-techniek.example",
        from_name="Microsoft Outlook",
        subject="Onbestelbaar: [STO-2027-0042] Herinnering: bezoek op 2 maart",
        message_id="<ndr.7a6b5c4d@AM9PR01MB0001.eurprd01.prod.outlook.example>",
        new_has=("Uw bericht kan niet worden bezorgd",),
        reference="STO-2027-0042",
        source="html",
    ),
    "read_receipt_mdn_nl.eml": Expect(
        from_address="a.bakker@vmbo-de-brug.example",
        from_name="Anouk Bakker",
        subject="Gelezen: [STO-2027-0051] Herinnering: bezoek van uw critical friend",
        message_id="<mdn.0001@vmbo-de-brug.example>",
        new_has=("Uw bericht is gelezen",),
        new_lacks=("Disposition",),
        reference="STO-2027-0051",
        attachments=(Attachment("", "message/disposition-notification", 0),),
    ),
    "mailing_list_list_id.eml": Expect(
        from_address="redactie@onderwijs.example",
        from_name="Redactie Techniekonderwijs",
        subject="[Techniek-vmbo] Nieuwsbrief februari: wie wil er twee dagen ondersteuning?",
        message_id="<nieuwsbrief.2027-02@onderwijs.example>",
        new_has=("de themabijeenkomsten van het voorjaar",),
    ),
    "from_assistant_itself.eml": Expect(
        from_address="ondersteuning@sto.example",
        from_name="STO Ondersteuning",
        subject="[STO-2027-0042] Herinnering: ondersteuning op dinsdag 2 maart",
        message_id=OUR_ID.format("77777777777777777777777777777777"),
        new_has=("Morgen komt uw ondersteuner.",),
        reference="STO-2027-0042",
    ),
    "no_message_id.eml": Expect(
        from_address="administratie@kleine-school.example",
        from_name="",
        subject="Hoeveel dagen hebben wij nog?",
        message_id=None,
        new_has=("Hoeveel dagen hebben wij nog?",),
        problems=("no_message_id",),
    ),
}


def test_every_corpus_mail_has_expectations() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_mail(name: str) -> None:
    expect = EXPECTED[name]
    mail = read(name)
    assert mail.from_address == expect.from_address
    assert mail.from_name == expect.from_name
    assert mail.subject == expect.subject
    if expect.message_id is None:
        assert SYNTHETIC.fullmatch(mail.message_id)
        assert mail.message_id_synthetic
    else:
        assert mail.message_id == expect.message_id
        assert not mail.message_id_synthetic
    assert mail.in_reply_to == expect.in_reply_to
    assert mail.reference == expect.reference
    for line in expect.new_has:
        assert line in mail.new_text
    for line in expect.new_lacks:
        assert line not in mail.new_text
    assert mail.problems == expect.problems
    assert mail.text_source == expect.source
    assert mail.attachments == expect.attachments
    assert mail.size == len(load(name))
    for attribute, value in expect.extra.items():
        assert getattr(mail, attribute) == value
    # Always true of every mail:
    assert mail.to or mail.from_address == ""
    assert mail.date is not None and mail.date.tzinfo is not None


@pytest.mark.parametrize(
    ("name", "method", "partstat"),
    [
        ("calendar_reply_outlook_accepted_nl.eml", "METHOD:REPLY", "PARTSTAT=ACCEPTED"),
        ("calendar_reply_google_declined_nl.eml", "METHOD:REPLY", "PARTSTAT=DECLINED"),
    ],
)
def test_the_calendar_part_is_kept_as_text(name: str, method: str, partstat: str) -> None:
    mail = read(name)
    assert method in mail.calendar and partstat in mail.calendar
    assert "UID:sto-meeting-TB-2027-03-dd58dd4c0067@sto.example" in mail.calendar
    assert "BEGIN:VCALENDAR" not in mail.text  # the calendar is no body text


def test_an_oversized_calendar_part_is_not_read() -> None:
    raw = (
        b"From: a@school.example\r\nTo: b@sto.example\r\nSubject: x\r\n"
        b"Message-ID: <c1@school.example>\r\nContent-Type: text/calendar; method=REPLY\r\n\r\n"
        + b"METHOD:REPLY\r\n"
        * 1000
    )
    assert parse(raw).calendar.startswith("METHOD:REPLY")
    assert parse(raw, max_attachment=100).calendar == ""


def test_outlook_text_keeps_the_history_and_its_characters() -> None:
    mail = read("outlook_windows_reply_quoted_nl.eml")
    assert mail.text.startswith("Beste collega\u2019s,")  # windows-1252 =92, quoted-printable
    assert "Van: STO Ondersteuning" in mail.text  # the text is whole; new_text is not
    assert mail.date == datetime(2027, 2, 2, 14, 3, 12, tzinfo=UTC)
    assert mail.references == (
        "<sto.request.STO-2027-0042@sto.example>",
        OUR_ID.format("0123456789abcdef0123456789abcdef"),
    )
    assert mail.headers.first("thread-index") == "AQHZx2k3mQ0aBcdEfGhIjKlMnOpQrAAbCdEf"
    assert len(mail.authentication_results) == 1
    assert "dmarc=pass header.from=CSG-Noorderlicht.example" in mail.authentication_results[0]


def test_headers_are_case_insensitive_and_keep_every_value() -> None:
    mail = parse(
        b"From: a@b.example\r\nReceived: one\r\nRECEIVED: two\r\nX-Thing:\r\n folded\r\n"
        b"  value\r\n\r\nhi\r\n"
    )
    assert mail.headers["received"] == ("one", "two")
    assert mail.headers["Received"] == ("one", "two")
    assert "x-thing" in mail.headers and "X-THING" in mail.headers
    assert mail.headers.first("x-thing") == " folded  value"
    assert mail.headers.first("missing", "none") == "none"
    assert "missing" not in mail.headers


def test_parsed_mail_is_frozen() -> None:
    mail = read("balance_question_nl.eml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "x"  # type: ignore[misc]


# --- message ids and threading --------------------------------------------------


def test_synthetic_id_is_the_same_for_the_same_mail_delivered_twice() -> None:
    raw = load("no_message_id.eml")
    first = parse(raw)
    # Another hop adds trace fields; a mailbox may store LF instead of CRLF.
    redelivered = b"Received: from elsewhere.example by mx2.sto.example\r\n" + raw
    assert parse(redelivered).message_id == first.message_id
    assert parse(raw.replace(b"\r\n", b"\n")).message_id == first.message_id
    changed = raw.replace(b"Hoeveel dagen hebben wij nog?\r\n", b"Hoeveel dagen?\r\n")
    assert parse(changed).message_id != first.message_id


@pytest.mark.parametrize(
    ("header", "expected", "problems"),
    [
        ("Message-ID: <abc@x.example>", "<abc@x.example>", ()),
        ("Message-Id:   <abc@x.example> (comment)", "<abc@x.example>", ()),
        ("Message-ID: abc@x.example", "<abc@x.example>", ()),  # brackets forgotten
        ("Message-ID:", None, ("no_message_id",)),
        ("Message-ID: just words", None, ("bad_message_id",)),
        ("Message-ID: <" + "a" * 300 + "@x.example>", None, ("bad_message_id",)),
    ],
)
def test_message_id_is_normalised(
    header: str, expected: str | None, problems: tuple[str, ...]
) -> None:
    mail = parse(f"From: a@b.example\r\n{header}\r\n\r\nhi\r\n".encode())
    assert mail.message_id_synthetic is (expected is None)
    assert mail.message_id == expected if expected else SYNTHETIC.fullmatch(mail.message_id)
    assert mail.problems == problems


@pytest.mark.parametrize(
    ("headers", "reference"),
    [
        ("Subject: Re: [sto-2027-0042] vraag", "STO-2027-0042"),
        ("Subject: Re: vraag\r\nReferences: <sto.request.STO-2027-0099@x>", "STO-2027-0099"),
        ("Subject: Re: vraag", "STO-2026-0007"),  # from the body
        ("Subject: STO-2027-42 is geen referentie", "STO-2026-0007"),
        ("Subject: XSTO-2027-0042 ook niet", "STO-2026-0007"),
    ],
)
def test_reference_from_subject_thread_or_body(headers: str, reference: str) -> None:
    raw = f"From: a@b.example\r\n{headers}\r\n\r\nOver aanvraag STO-2026-0007, graag.\r\n"
    assert parse(raw.encode()).reference == reference


def test_references_keep_root_and_recent_ids_of_a_long_chain() -> None:
    ids = [f"<m{i}@x.example>" for i in range(300)]
    mail = parse(f"From: a@b.example\r\nReferences: {' '.join(ids)}\r\n\r\nhi".encode())
    assert len(mail.references) == 100
    assert mail.references[0] == ids[0] and mail.references[-1] == ids[-1]


# --- dates, addresses, header encodings --------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "problems"),
    [
        ("Tue, 2 Mar 2027 09:40:17 +0100", datetime(2027, 3, 2, 8, 40, 17, tzinfo=UTC), ()),
        ("Tue, 2 Mar 2027 09:40:17 -0000", datetime(2027, 3, 2, 9, 40, 17, tzinfo=UTC), ()),
        ("2 Mar 2027 09:40 -0400", datetime(2027, 3, 2, 13, 40, tzinfo=UTC), ()),
        ("gisteren", None, ("bad_date",)),
        ("Tue, 31 Feb 2027 09:40:17 +0100", None, ("bad_date",)),
        ("Tue, 2 Mar 2027 09:40:17 +9999", None, ("bad_date",)),
    ],
)
def test_date_is_aware_or_none(
    value: str, expected: datetime | None, problems: tuple[str, ...]
) -> None:
    mail = parse(f"From: a@b.example\r\nMessage-ID: <a@b>\r\nDate: {value}\r\n\r\nhi".encode())
    assert mail.date == expected
    if mail.date is not None:
        assert mail.date.utcoffset() is not None
    assert mail.problems == problems


def test_date_keeps_the_senders_offset() -> None:
    mail = read("gmail_reply_en_on_wrote.eml")
    assert mail.date is not None
    assert mail.date.utcoffset() == timedelta(hours=-4)
    assert mail.date.tzinfo == timezone(timedelta(hours=-4))


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        ('"De Vries, Jan" <Jan@School.Example>', "jan@school.example", "De Vries, Jan"),
        ("=?utf-8?q?J=C3=A9r=C3=B4me?= <j@x.example>", "j@x.example", "Jérôme"),
        ("=?utf-8?q?J=E9r=F4me?= <j@x.example>", "j@x.example", "Jérôme"),  # wrong charset
        ("J\u00e9r\u00f4me <j@x.example>", "j@x.example", "Jérôme"),  # raw UTF-8 in the header
        ("j@x.example (Jan)", "j@x.example", ""),
        ('"Jan <jan@x.example>', "jan@x.example", ""),  # unterminated quote: the pattern reads
        ("Jan <jan@x.example", "jan@x.example", "Jan"),
        ("jan@x.example, piet@y.example", "jan@x.example", ""),
        ("undisclosed-recipients:;", "", ""),
    ],
)
def test_from_address_and_name(value: str, address: str, name: str) -> None:
    mail = parse(f"From: {value}\r\nMessage-ID: <a@b>\r\n\r\nhi".encode())
    assert mail.from_address == address
    assert mail.from_name == name
    assert ("no_from" in mail.problems) is (address == "")


def test_address_parser_crash_is_a_problem_not_an_exception() -> None:
    # The email package's registry raises AttributeError on this one (CPython 3.11).
    mail = parse(b"From: <a@[1.2.3.4>\r\nMessage-ID: <a@b>\r\n\r\nhi")
    assert "bad_header" in mail.problems


def test_raw_windows_1252_in_a_header_is_read() -> None:
    mail = parse(b"From: Ren\xe9e <r@x.example>\r\nSubject: caf\xe9 \x93ja\x94\r\n\r\nhi")
    assert mail.from_name == "Renée"
    assert mail.subject == "café \u201cja\u201d"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?= =?utf-8?q?_en_th=C3=A9?=", "café en thé"),
        # A character split over two words by a client that splits bytes.
        ("=?utf-8?b?w6k=?==?utf-8?b?w6g=?=", "éè"),
        ("=?utf-8?b?ww==?= =?utf-8?b?qQ==?=", "é"),
        ("Re: =?windows-1252?Q?Automatisch_antwoord=3A_caf=E9?=", "Re: Automatisch antwoord: café"),
        ("=?x-unknown?q?caf=E9?=", "café"),  # unknown charset: fallbacks
        ("=?utf-8?b?!!!?= rest", "=?utf-8?b?!!!?= rest"),  # undecodable: kept as written
        ("=?iso-8859-1?q?a?= b =?iso-8859-1?q?c?=", "a b c"),
        ("tab\there\x00and\r\n  folded", "tab here and folded"),
    ],
)
def test_subject_decoding(subject: str, expected: str) -> None:
    mail = parse(f"From: a@b.example\r\nSubject: {subject}\r\n\r\nhi".encode())
    assert mail.subject == expected


# --- charsets, bodies, attachments ---------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "body", "text", "problems"),
    [
        ("utf-8", "één".encode(), "één", ()),
        ("utf-8", "één".encode("cp1252"), "één", ("bad_charset",)),
        ("iso-8859-1", "één".encode("latin-1"), "één", ()),
        ("iso-8859-1", "één".encode(), "één", ("bad_charset",)),  # UTF-8 labelled latin-1
        ("iso-8859-1", b"\x80 \x81", "\u20ac \x81", ()),  # read as windows-1252, C1 kept
        ("windows-1252", b"\x80 \x81", "\u20ac \x81", ()),  # as browsers read it
        ("windows-1252", b"\x93ja\x94", "\u201cja\u201d", ()),
        ("x-no-such-charset", "één".encode(), "één", ("bad_charset",)),
        ("rot13", b"hi", "hi", ("bad_charset",)),  # a codec, but not a charset
        ('"a\x00b"', b"hi \xe9", "hi é", ("bad_charset",)),
        ("", "één".encode(), "één", ("bad_charset",)),  # none declared: US-ASCII
        ("utf-16", "hé".encode("utf-16"), "hé", ()),
        ("koi8-r", "привет".encode("koi8-r"), "привет", ()),
    ],
)
def test_body_charset(charset: str, body: bytes, text: str, problems: tuple[str, ...]) -> None:
    declared = f"; charset={charset}" if charset else ""
    head = f"From: a@b.example\r\nMessage-ID: <a@b>\r\nContent-Type: text/plain{declared}\r\n"
    mail = parse(head.encode() + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
    assert mail.text == text
    assert mail.problems == problems


def test_html_is_read_only_without_a_plain_part() -> None:
    both = read("gmail_reply_nl_op_schreef.eml")
    assert both.text_source == "plain"
    assert "> Beste Sanne," in both.text
    html_only = read("html_only_outlook_web_nl.eml")
    assert html_only.text == (
        "Wij willen graag een halve dag strategische ondersteuning in week 15.\n\n"
        "Café De Brug is dan ook beschikbaar als locatie."
    )


def test_html_that_breaks_the_html_parser_is_stripped() -> None:
    raw = b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n<p>Twee dagen</p><![foo bar]>"
    mail = parse(raw)
    assert "Twee dagen" in mail.text
    assert "bad_html" in mail.problems


def test_pathological_html_is_read_in_linear_time() -> None:
    # Python's HTMLParser alone takes tens of seconds on these (it rescans per "<").
    for body in (b"<!--" * 50_000, b"<a" * 100_000, b"</" * 100_000):
        started = time.perf_counter()
        parse(b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + body)
        assert time.perf_counter() - started < 5


def test_attachment_above_the_limit_is_listed_not_decoded() -> None:
    mail = parse(load("large_attachment_regioplan.eml"), max_attachment=10_000)
    (attachment,) = mail.attachments
    assert attachment.oversized
    assert attachment.filename == "Regioplan 2027.pdf"
    assert 48 * 1024 <= attachment.size <= 48 * 1024 * 1.05  # estimated from base64
    assert mail.problems == ("attachment_too_big",)
    assert "Hierbij ons regioplan" in mail.new_text


def test_huge_attachment_with_default_limits() -> None:
    data = base64.encodebytes(bytes(6_000_000)).replace(b"\n", b"\r\n")
    raw = (
        b"From: a@b.example\r\nMessage-ID: <a@b>\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n"
        b'--b\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename="x.mp4"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + data + b"--b--\r\n"
    )
    mail = parse(raw)
    assert mail.attachments[0].oversized and mail.attachments[0].content_type == "video/mp4"
    assert mail.problems == ("attachment_too_big",)
    assert mail.new_text == "Zie bijlage."


def test_mail_above_max_bytes_is_read_in_part() -> None:
    raw = load("request_nl_doorlopende_leerlijnen.eml")
    mail = parse(raw, max_bytes=len(raw) - 100)
    assert "too_big" in mail.problems
    assert mail.message_id == "<7c0a4f7e-3d5b-4a1e-9f0e-2b6a8d4c1e90@techniek-twente.example>"
    assert mail.size == len(raw)
    assert "Wij willen graag 2 dagen" in mail.new_text


def test_absurd_nesting_and_part_counts_are_cut() -> None:
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(3000)
    )
    started = time.perf_counter()
    mail = parse(b"From: a@b.example\r\n" + nested + b"Content-Type: text/plain\r\n\r\nx\r\n")
    assert "too_many_parts" in mail.problems
    flat = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 20_000
    mail = parse(b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + flat)
    assert "too_many_parts" in mail.problems
    assert time.perf_counter() - started < 10


def test_very_long_text_is_capped() -> None:
    mail = parse(b"From: a@b.example\r\n\r\n" + b"Twee dagen graag.\r\n" * 50_000)
    assert "text_too_long" in mail.problems
    assert len(mail.text) == 200_000
    assert mail.new_text.startswith("Twee dagen graag.")


def test_unparseable_input_still_gives_a_mail() -> None:
    mail = parse("not bytes")  # type: ignore[arg-type]
    assert mail.problems == ("parse_failed", "no_body")
    assert mail.message_id_synthetic and ID.fullmatch(mail.message_id)


# --- random input --------------------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "MIME-Version",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "Return-Path",
        "X-Auto-Response-Suppress",
    ]
)
FRAGMENTS = st.sampled_from(
    [
        "=?",
        "?=",
        "=?utf-8?b?",
        "=?utf-8?q?",
        "=?x?q?=E9?=",
        "<",
        ">",
        "@",
        '"',
        "(",
        ")",
        ",",
        ";",
        ":",
        "\\",
        "multipart/mixed; boundary=b",
        "multipart/report; report-type=delivery-status",
        "text/plain; charset=",
        "base64",
        "quoted-printable",
        "attachment; filename*=utf-8''%E9",
        "\r\n ",
        "\t",
        "é",
        "\x00",
        "\udce9",
    ]
)
VALUES = st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=12).map("".join)
BODY_LINES = st.lists(
    st.one_of(st.sampled_from(["--b", "--b--", "", "> quoted", "-- ", "=E9=", "<p>"]), VALUES),
    max_size=15,
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(mail: ParsedMail) -> None:
    from bot.mail.classify import classify

    assert ID.fullmatch(mail.message_id)
    assert len(mail.subject) <= MAX_SUBJECT and "\n" not in mail.subject
    assert mail.from_address == mail.from_address.lower()
    assert mail.date is None or mail.date.tzinfo is not None
    assert all(ID.fullmatch(i) for i in (*mail.in_reply_to, *mail.references))
    classify(mail, own_addresses=["ondersteuning@sto.example"])


@SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(parse(raw))


@SETTINGS
@given(st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=20), BODY_LINES)
def test_header_soup_never_raises(headers: list[tuple[str, str]], body: list[str]) -> None:
    text = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + "\r\n".join(body)
    raw = text.encode("utf-8", "surrogateescape")
    _check(parse(raw))
    _check(parse(raw, max_bytes=len(raw) // 2 + 1, max_attachment=10))


@SETTINGS
@given(st.sampled_from(sorted(EXPECTED)), st.data())
def test_damaged_corpus_mail_never_raises(name: str, data: st.DataObject) -> None:
    raw = bytearray(load(name))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw)))
        if data.draw(st.booleans()):
            del raw[position : position + data.draw(st.integers(1, 40))]
        else:
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=12))
    _check(parse(bytes(raw)))
