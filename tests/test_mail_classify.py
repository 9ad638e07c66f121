"""Which mails may be answered: never an auto-reply, bounce, list mail or our own (RFC 3834)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.classify import OWN_MARKER, Classification, Verdict, classify, explain
from bot.mail.parse import parse

CORPUS = Path(__file__).parent / "mail_corpus"
OWN = ("ondersteuning@sto.example",)

EXPECTED: dict[str, tuple[Verdict, str]] = {
    "apple_mail_iphone_flowed_nl.eml": (Verdict.answer, "written by a person"),
    "balance_question_nl.eml": (Verdict.answer, "written by a person"),
    "bounce_dsn_multipart_report.eml": (Verdict.bounce, "multipart/report delivery-status"),
    "bounce_exchange_onbestelbaar_nl.eml": (Verdict.bounce, "delivery failure subject"),
    "calendar_reply_google_declined_nl.eml": (
        Verdict.calendar_reply,
        "text/calendar METHOD:REPLY",
    ),
    "calendar_reply_outlook_accepted_nl.eml": (
        Verdict.calendar_reply,
        "text/calendar METHOD:REPLY",
    ),
    "calendar_reply_outlook_tentative_en_subject_only.eml": (
        Verdict.calendar_reply,
        "calendar reply subject",
    ),
    "cancellation_reply_sto_ref.eml": (Verdict.answer, "written by a person"),
    "empty_body.eml": (Verdict.answer, "written by a person"),
    "exchange_afwezig_inbox_rules_loop.eml": (
        Verdict.auto_reply,
        "carries x-ms-exchange-inbox-rules-loop",
    ),
    "from_assistant_itself.eml": (Verdict.own, "from our own address ondersteuning@sto.example"),
    "gmail_reply_en_on_wrote.eml": (Verdict.answer, "written by a person"),
    "gmail_reply_nl_op_schreef.eml": (Verdict.answer, "written by a person"),
    "html_only_outlook_web_nl.eml": (Verdict.answer, "written by a person"),
    "iso_8859_1_request_nl.eml": (Verdict.answer, "written by a person"),
    "large_attachment_regioplan.eml": (Verdict.answer, "written by a person"),
    "mailing_list_list_id.eml": (Verdict.list, "carries list-id"),
    "malformed_mime_broken_boundary.eml": (Verdict.answer, "written by a person"),
    "malformed_mime_unclosed_boundary.eml": (Verdict.answer, "written by a person"),
    "no_message_id.eml": (Verdict.answer, "written by a person"),
    "outlook_autoreply_nl_subject_only.eml": (Verdict.auto_reply, "out-of-office subject"),
    "outlook_web_autoreply_nl_auto_submitted.eml": (
        Verdict.auto_reply,
        "Auto-Submitted: auto-generated",
    ),
    "outlook_windows_reply_quoted_nl.eml": (Verdict.answer, "written by a person"),
    "read_receipt_mdn_nl.eml": (Verdict.auto_reply, "multipart/report disposition-notification"),
    "request_en_process_support.eml": (Verdict.answer, "written by a person"),
    "request_nl_doorlopende_leerlijnen.eml": (Verdict.answer, "written by a person"),
    "subject_10000_chars.eml": (Verdict.answer, "written by a person"),
    "vacation_autoreply_x_autoreply_en.eml": (Verdict.auto_reply, "carries x-autoreply"),
    "wrong_charset_utf8_is_windows1252.eml": (Verdict.answer, "written by a person"),
}


def mail(
    extra: str = "",
    *,
    subject: str = "Aanvraag twee dagen",
    sender: str = "Jan de Vries <jan@school.example>",
    message_id: str = "<m1@school.example>",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: ondersteuning@sto.example\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n{extra}Content-Type: {content_type}\r\n\r\n"
        "Wij willen graag twee dagen ondersteuning.\r\n"
    ).encode()


def verdict(raw: bytes, own: tuple[str, ...] = OWN) -> Classification:
    return explain(parse(raw), own_addresses=own)


def test_every_corpus_mail_has_a_verdict() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_verdict(name: str) -> None:
    parsed = parse((CORPUS / name).read_bytes())
    assert explain(parsed, own_addresses=OWN) == Classification(*EXPECTED[name])
    assert classify(parsed, own_addresses=OWN) is EXPECTED[name][0]


def test_verdict_is_a_str_enum() -> None:
    assert [v.value for v in Verdict] == [
        "answer",
        "auto_reply",
        "bounce",
        "list",
        "own",
        "calendar_reply",
    ]
    assert Verdict.auto_reply == "auto_reply"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("Auto-Submitted: auto-replied\r\n", (Verdict.auto_reply, "Auto-Submitted: auto-replied")),
        (
            "Auto-Submitted: Auto-Generated; owner-email=x@y\r\n",
            (Verdict.auto_reply, "Auto-Submitted: auto-generated"),
        ),
        ("Auto-Submitted: no\r\n", (Verdict.answer, "written by a person")),
        ("X-Autoreply: yes\r\n", (Verdict.auto_reply, "carries x-autoreply")),
        ("X-Autorespond: Vakantie\r\n", (Verdict.auto_reply, "carries x-autorespond")),
        (
            "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\r\n",
            (Verdict.auto_reply, "carries x-ms-exchange-generated-message-source"),
        ),
        (
            "X-Auto-Response-Suppress: All\r\n",
            (Verdict.auto_reply, "X-Auto-Response-Suppress of an auto-reply"),
        ),
        (
            "X-Auto-Response-Suppress: DR, OOF, AutoReply\r\n",
            (Verdict.auto_reply, "X-Auto-Response-Suppress of an auto-reply"),
        ),
        # Set on ordinary mail too: only the values auto-generated mail uses count.
        ("X-Auto-Response-Suppress: RN, NRN\r\n", (Verdict.answer, "written by a person")),
        ("Precedence: auto_reply\r\n", (Verdict.auto_reply, "Precedence: auto_reply")),
        ("Precedence: bulk\r\n", (Verdict.auto_reply, "Precedence: bulk")),
        ("Precedence: junk\r\n", (Verdict.auto_reply, "Precedence: junk")),
        ("Precedence: list\r\n", (Verdict.list, "Precedence: list")),
        ("List-Id: <regio.lists.example>\r\n", (Verdict.list, "carries list-id")),
        (
            "List-Unsubscribe: <mailto:uit@lists.example>\r\n",
            (Verdict.list, "carries list-unsubscribe"),
        ),
        ("List-Post: <mailto:lijst@lists.example>\r\n", (Verdict.list, "carries list-post")),
        (
            "List-Unsubscribe: <mailto:uit@lists.example>\r\nPrecedence: bulk\r\n",
            (Verdict.list, "carries list-unsubscribe"),
        ),
        ("Return-Path: <>\r\n", (Verdict.bounce, "empty Return-Path")),
        ("Return-Path: <MAILER-DAEMON>\r\n", (Verdict.bounce, "empty Return-Path")),
        ("Return-Path: <jan@school.example>\r\n", (Verdict.answer, "written by a person")),
        # RFC 3834 auto-replies use the null sender too: the stronger signal names it.
        (
            "Return-Path: <>\r\nAuto-Submitted: auto-replied\r\n",
            (Verdict.auto_reply, "Auto-Submitted: auto-replied"),
        ),
        ("X-Failed-Recipients: weg@school.example\r\n", (Verdict.bounce, "X-Failed-Recipients")),
        (f"{OWN_MARKER}: 1\r\n", (Verdict.own, f"carries {OWN_MARKER}")),
        (
            "In-Reply-To: <sto.0123456789abcdef0123456789abcdef@sto.example>\r\n",
            (Verdict.answer, "written by a person"),
        ),
    ],
)
def test_header_signals(extra: str, expected: tuple[Verdict, str]) -> None:
    assert verdict(mail(extra)) == Classification(*expected)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Automatisch antwoord: Aanvraag twee dagen", Verdict.auto_reply),
        ("automatisch antwoord:Aanvraag", Verdict.auto_reply),
        ("Afwezig: Aanvraag twee dagen", Verdict.auto_reply),
        ("Out of Office: Support request", Verdict.auto_reply),
        ("Out of Office AutoReply: Support request", Verdict.auto_reply),
        ("Autoreply: Support request", Verdict.auto_reply),
        ("Auto-Reply: Support request", Verdict.auto_reply),
        ("Automatic reply: Support request", Verdict.auto_reply),
        ("Réponse automatique : demande", Verdict.auto_reply),
        ("Automatische Antwort: Anfrage", Verdict.auto_reply),
        ("=?utf-8?q?Automatisch_antwoord=3A_=C3=A9=C3=A9n_dag?=", Verdict.auto_reply),
        ("Undeliverable: Aanvraag", Verdict.bounce),
        ("Onbestelbaar: Aanvraag", Verdict.bounce),
        ("Unzustellbar: Anfrage", Verdict.bounce),
        ("Delivery Status Notification (Failure)", Verdict.bounce),
        ("Mail delivery failed: returning message to sender", Verdict.bounce),
        ("Undelivered Mail Returned to Sender", Verdict.bounce),
        # A person answering an out-of-office, or writing about absence, is a person.
        ("RE: Automatisch antwoord: Aanvraag twee dagen", Verdict.answer),
        ("Afwezigheid van onze coördinator in maart", Verdict.answer),
        ("Out of office tomorrow: can we move the visit?", Verdict.answer),
        ("Wij zijn morgen out of office", Verdict.answer),
        ("Aanvraag: afwezig op 3 maart", Verdict.answer),
    ],
)
def test_subject_signals(subject: str, expected: Verdict) -> None:
    assert verdict(mail(subject=subject)).verdict is expected


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("MAILER-DAEMON@mx.school.example", (Verdict.bounce, "from mailer-daemon")),
        ("Postmaster <postmaster@school.example>", (Verdict.bounce, "from postmaster")),
        ("noreply@portal.example", (Verdict.auto_reply, "from a no-reply address")),
        (
            "Do Not Reply <do-not-reply@portal.example>",
            (Verdict.auto_reply, "from a no-reply address"),
        ),
        ("Jan Noreply-Jansen <jan@school.example>", (Verdict.answer, "written by a person")),
        (
            "STO <Ondersteuning@STO.example>",
            (Verdict.own, "from our own address ondersteuning@sto.example"),
        ),
    ],
)
def test_sender_signals(sender: str, expected: tuple[Verdict, str]) -> None:
    assert verdict(mail(sender=sender)) == Classification(*expected)


def test_own_addresses_may_be_written_with_a_name_and_any_case() -> None:
    raw = mail(sender="hulp@sto.example")
    assert verdict(raw, ("STO Hulp <Hulp@STO.Example>",)).verdict is Verdict.own
    assert verdict(raw, ()).verdict is Verdict.answer


def test_a_message_id_we_made_is_our_own_mail() -> None:
    ours = "<sto.0123456789abcdef0123456789abcdef@sto.example>"
    assert verdict(mail(message_id=ours)) == Classification(Verdict.own, "a Message-ID we made")
    # The same shape from another domain is not ours.
    theirs = "<sto.0123456789abcdef0123456789abcdef@school.example>"
    assert verdict(mail(message_id=theirs)).verdict is Verdict.answer


def test_reports_other_than_delivery_status() -> None:
    raw = mail(content_type='multipart/report; report-type="feedback-report"; boundary=x')
    assert verdict(raw) == Classification(Verdict.auto_reply, "multipart/report feedback-report")


def test_own_comes_before_everything_else() -> None:
    raw = mail("Auto-Submitted: auto-generated\r\nList-Id: <x>\r\n", sender=OWN[0])
    assert verdict(raw).verdict is Verdict.own


# Every signal alone and in any combination keeps a mail from being answered.
SIGNALS = [
    "Auto-Submitted: auto-replied\r\n",
    "Auto-Submitted: auto-generated\r\n",
    "X-Autoreply: yes\r\n",
    "X-Autorespond: yes\r\n",
    "X-Auto-Response-Suppress: All\r\n",
    "X-MS-Exchange-Inbox-Rules-Loop: jan@school.example\r\n",
    "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\r\n",
    "Precedence: auto_reply\r\n",
    "Precedence: bulk\r\n",
    "Precedence: junk\r\n",
    "Precedence: list\r\n",
    "List-Id: <lijst.example>\r\n",
    "List-Unsubscribe: <mailto:uit@lijst.example>\r\n",
    "List-Post: <mailto:lijst@lijst.example>\r\n",
    "Return-Path: <>\r\n",
    "X-Failed-Recipients: weg@school.example\r\n",
    f"{OWN_MARKER}: 1\r\n",
]
SUBJECTS = ["Aanvraag twee dagen", "Automatisch antwoord: Aanvraag", "Onbestelbaar: Aanvraag"]
SENDERS = ["Jan <jan@school.example>", "MAILER-DAEMON@mx.example", OWN[0]]


@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.sampled_from(SIGNALS)),
    st.sampled_from(SUBJECTS),
    st.sampled_from(SENDERS),
    st.booleans(),
)
def test_no_signal_is_ever_answered(
    signals: set[str], subject: str, sender: str, report: bool
) -> None:
    content_type = (
        "multipart/report; report-type=delivery-status; boundary=x"
        if report
        else "text/plain; charset=utf-8"
    )
    raw = mail("".join(sorted(signals)), subject=subject, sender=sender, content_type=content_type)
    human = not signals and subject == SUBJECTS[0] and sender == SENDERS[0] and not report
    assert (classify(parse(raw), own_addresses=OWN) is Verdict.answer) is human


def calendar_mail(subject: str, method: str | None) -> bytes:
    """A calendar's answer as Outlook sends it: empty text, the iCalendar part inline."""
    head = (
        f"From: Jan de Vries <jan@school.example>\r\nTo: ondersteuning@sto.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <cal1@school.example>\r\n"
    )
    if method is None:
        return (head + "Content-Type: text/plain\r\n\r\nIk kom graag.\r\n").encode()
    ics = (
        f"BEGIN:VCALENDAR\r\nMETHOD:{method}\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
        "UID:x@sto.example\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:jan@school.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
        f'--b\r\nContent-Type: text/calendar; charset="utf-8"; method={method}\r\n\r\n{ics}'
        "--b--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("subject", "method", "expected"),
    [
        # The calendar part decides, whatever the subject.
        ("Geaccepteerd: Themabijeenkomst [TB-2027-03]", "REPLY", Verdict.calendar_reply),
        ("Accepted: Lunch", "REPLY", Verdict.calendar_reply),
        ("Wat een mooie dag", "REPLY", Verdict.calendar_reply),
        # A new time proposed, or an invitation forwarded, is a person's business.
        ("Nieuwe tijd voorgesteld: Themabijeenkomst [TB-2027-03]", "COUNTER", Verdict.answer),
        ("Geaccepteerd: Themabijeenkomst [TB-2027-03]", "COUNTER", Verdict.answer),
        ("FW: Themabijeenkomst [TB-2027-03]", "REQUEST", Verdict.answer),
        # Without a calendar part the subject decides, when it names what we invite to.
        ("Geaccepteerd: Themabijeenkomst: Doorlopende leerlijnen [TB-2027-03]", None, "cal"),
        ("Declined: Support Sterk Techniekonderwijs, Zeeland [STO-2027-0042]", None, "cal"),
        ("Geweigerd: Bezoek critical friend Piet, Zeeland", None, "cal"),
        ("Voorlopig geaccepteerd: Themabijeenkomst [TB-2027-03]", None, "cal"),
        ("Tentatively Accepted: Theme meeting [TB-2027-03]", None, "cal"),
        ("Accepted: Lunch on Friday", None, Verdict.answer),
        ("RE: Geaccepteerd: Themabijeenkomst [TB-2027-03]", None, Verdict.answer),
        ("Aanvraag geaccepteerd: [STO-2027-0042]", None, Verdict.answer),
    ],
)
def test_calendar_replies(subject: str, method: str | None, expected: Verdict | str) -> None:
    want = Verdict.calendar_reply if expected == "cal" else expected
    assert verdict(calendar_mail(subject, method)).verdict is want
