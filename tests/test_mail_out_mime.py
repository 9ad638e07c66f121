"""The MIME writer: what goes on the wire is what the email package would write, and reads
back as it was meant, whatever the names and subjects contain."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from bot.mail import mime
from bot.mail.calendar import Invite, Person
from bot.mail.compose import Composer, Mail, Outgoing, Thread
from bot.render import Renderer

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "ref": "STO-2027-0042",
    "region": "ZEELAND",
    "region_name": "Zeeland",
    "days": "2",
    "kind": "strategic",
    "status": "scheduled",
    "theme": "",
    "reason": "2027-03-02, 2027-03-03",
    "dates": [date(2027, 3, 2), date(2027, 3, 3)],
    "fallback_email": "x@school.example",
}
NAMES = [
    "José van ’t Hoëk",  # noqa: RUF001 (the Dutch apostrophe, on purpose)
    'Jan "de Man", Zeeland <baas>',
    "Anne-Marie Ünal-de Vries van Oosterhout tot Heemstede en Bergen op Zoom en Ïjsselmonde",
    "Plain Name",
    "Ëlise Ünal Çelik Øster Ågård Ïjssel Ëlbert Ærø",  # one run longer than an encoded word
    "=?utf-8?b?SGFjaw==?= literally",
    "",
]
REGIONS = [
    "Zeeland",
    "Súdwest-Fryslân",
    "Noord-Holland Noord, " + "heel lang " * 20 + "ëinde",
    "=?utf-8?b?TmVw?= region",
    "a" * 120,
]


def mail(name: str = "", region: str = "Zeeland", invite: bool = False, **extra: Any) -> Mail:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    outgoing = Outgoing(
        template="request_scheduled",
        language="nl",
        context={**CONTEXT, "region_name": region},
        to="jose@school.example",
        to_name=name,
        key="request:STO-2027-0042:9:requester",
        invite=Invite(
            uid="u@sto.example", sequence=9, summary="S", description="D",
            organizer=Person("ondersteuning@sto.example"), attendee=Person("jose@school.example"),
            days=(date(2027, 3, 2),),
        ) if invite else None,
        **extra,
    )  # fmt: skip
    return composer.mail(outgoing, now=NOW)


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("invite", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_the_wire_bytes_are_what_the_email_package_writes(name: str, invite: bool) -> None:
    out = mail(name, invite=invite)
    assert out.message.as_bytes(policy=email.policy.SMTP) == out.data
    assert out.data.isascii()
    head, _, body = out.data.partition(b"\r\n\r\n")
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert all(len(line) <= 78 for line in body.split(b"\r\n"))
    assert b"\n" not in out.data.replace(b"\r\n", b"")  # only CRLF line ends


@pytest.mark.parametrize("name", NAMES)
def test_display_names_read_back_as_written(name: str) -> None:
    got = parse(mail(name).data)
    (to,) = got["To"].addresses
    # Between two encoded words the folding is not part of the name (RFC 2047 6.2); Python's
    # address parser keeps it as a space, so runs of spaces are compared as one.
    assert (" ".join(to.display_name.split()), to.addr_spec) == (name, "jose@school.example")
    assert got["From"].addresses[0].display_name == "Ondersteuningsteam Sterk Techniekonderwijs"


@pytest.mark.parametrize("region", REGIONS)
def test_subjects_read_back_as_written(region: str) -> None:
    got = parse(mail(region=region).data)
    expected = f"[STO-2027-0042] Uw ondersteuning voor {' '.join(region.split())} is ingepland"
    if len(expected) > 250:
        expected = expected[:249].rstrip() + "…"
    assert got["Subject"] == expected


def test_the_envelope_is_the_recipient_and_our_address() -> None:
    out = mail("José")
    assert out.sender == "ondersteuning@sto.example"
    assert out.recipients == ("jose@school.example",)
    assert out.message_id == out.message["Message-ID"]


def test_a_long_thread_keeps_its_root_and_the_latest_ids() -> None:
    ids = tuple(f"<id{n}@school.example>" for n in range(30))
    got = parse(mail(thread=Thread(in_reply_to="<last@school.example>", references=ids)).data)
    chain = got["References"].split()
    assert len(chain) == 20
    assert chain[0] == "<id0@school.example>" and chain[-1] == "<last@school.example>"


def test_a_message_built_elsewhere_keeps_bcc_off_the_wire() -> None:
    msg = EmailMessage()
    msg["From"] = "Team <team@sto.example>"
    msg["To"] = "a@school.example, B <b@school.example>"
    msg["Bcc"] = "secret@sto.example"
    msg["Message-ID"] = "<x@sto.example>"
    msg.set_content("hallo")
    out = Mail.of(msg)
    assert out.sender == "team@sto.example"
    assert out.recipients == ("a@school.example", "b@school.example", "secret@sto.example")
    assert b"secret" not in out.data and msg["Bcc"] == "secret@sto.example"
    assert out.message is msg and out.message_id == "<x@sto.example>"


def test_folding_never_splits_a_word_or_an_id() -> None:
    value = mime.ids_value("References", [f"<{'x' * 30}{n}@school.example>" for n in range(5)])
    lines = value.split("\r\n")
    assert len(lines) == 5 and all(line.strip().startswith("<") for line in lines)
