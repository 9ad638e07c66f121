"""The mail notifier behind the real dispatcher, fed by the real request lifecycle.

A contact without a Slack id gets every message about their request by mail:
the dispatcher claims the outbox rows the domain wrote, MailNotifier composes
them, and FileMailer writes them as .eml files (the embedded default), which
are parsed back here. A refusal maps onto the outbox as the dispatcher expects.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import FileMailer, RecordingMailer, SmtpMailer, build_mailer, eml_name
from bot.render import Renderer
from config.settings import Settings
from models import requests as rq
from models.actor import Actor
from models.clock import FixedClock
from models.db import transaction
from models.tables import Contact, Notification, RegionContact, Supporter
from models.types import Channel
from scheduling.dispatcher import Dispatcher, PermanentFailure, TemporaryFailure
from tests.conftest import NOW, RegionFactory

NAME = "José van ’t Hoëk"  # noqa: RUF001 (the Dutch apostrophe, on purpose)
TEAM = Actor("cli:anouk", Channel.cli)
SENDER = "ondersteuning@sto.example"


def _contact(engine: Engine, region_id: int, language: str = "nl") -> int:
    with transaction(engine) as s:
        contact = Contact(email="jose@school.example", name=NAME, language=language)
        s.add(contact)
        s.add(Supporter(email="piet@sto.example", name="Piet de Vrïes", role="specialist"))
        s.flush()
        assert contact.id is not None
        s.add(RegionContact(region_id=region_id, contact_id=contact.id))
        return contact.id


def _lifecycle(engine: Engine, contact_id: int) -> tuple[str, str, str]:
    def new() -> str:
        with transaction(engine) as s:
            request = rq.NewRequest(
                region="ZEELAND", kind="process", half_days=3, theme="leerlijnen",
                requester_contact_id=contact_id,
            )  # fmt: skip
            return rq.submit(s, request, TEAM, NOW).ref

    done, rejected, cancelled = new(), new(), new()
    with transaction(engine) as s:
        rq.approve(s, done, TEAM, NOW)
        rq.assign(s, done, TEAM, NOW, supporter_email="piet@sto.example")
        rq.schedule(s, done, TEAM, NOW, days=[date(2026, 12, 1), date(2026, 12, 8)])
        rq.complete(s, done, TEAM, NOW)
        rq.reject(s, rejected, TEAM, NOW, reason="het budget is op")
        rq.approve(s, cancelled, TEAM, NOW)
        rq.schedule(s, cancelled, TEAM, NOW, days=[date(2026, 12, 2), date(2026, 12, 3)])
        rq.cancel(s, cancelled, TEAM, NOW, reason="school dicht")
    return done, rejected, cancelled


def _read(folder: Path) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        assert path.name == eml_name(msg["Message-ID"])
        found.append(msg)
    return found


def _rows(engine: Engine) -> list[Notification]:
    with transaction(engine) as s:
        return list(
            s.exec(
                select(Notification)
                .where(Notification.channel == "email")
                .order_by(col(Notification.id))
            ).all()
        )


def test_every_request_mail_goes_out_through_the_dispatcher(
    engine: Engine, make_region: RegionFactory, tmp_path: Path
) -> None:
    region = make_region()
    assert region.id is not None
    done, rejected, cancelled = _lifecycle(engine, _contact(engine, region.id))
    clock = FixedClock(NOW)
    notifier = MailNotifier(FileMailer(tmp_path), Composer(Renderer(), SENDER), clock)
    dispatcher = Dispatcher(engine, {"email": notifier}, clock)
    asyncio.run(dispatcher.run_once())

    everything = _rows(engine)
    # The assigned supporter (no Slack id) is asked by mail to propose dates.
    [to_piet] = [r for r in everything if r.recipient == "piet@sto.example"]
    assert to_piet.template == "request_assigned_supporter" and to_piet.status == "sent"
    rows = [r for r in everything if r is not to_piet]
    assert len(rows) == 11  # 5 + 2 + 4 transitions
    assert {r.status for r in rows} == {"sent"}
    mails = _read(tmp_path)
    assert len(mails) == 12
    [piet_mail] = [m for m in mails if m["To"].addresses[0].addr_spec == "piet@sto.example"]
    assert f"sto requests propose {done} --suggest" in str(piet_mail.get_body(("plain",)))
    mails = [m for m in mails if m is not piet_mail]
    by_id = {m["Message-ID"]: m for m in mails}
    for r in rows:
        mail = by_id[notifier.composer.message_id(r.dedupe_key)]
        ref = r.context["ref"]
        assert mail["Subject"].startswith(f"[{ref}] ")
        assert mail["To"].addresses[0].addr_spec == "jose@school.example"
        assert mail["References"] == f"<sto.request.{ref}@sto.example>"
        text = mail.get_body(("plain",))
        assert text is not None and ref in text.get_content()
    templates = sorted(r.template for r in rows)
    assert templates.count("request_submitted") == 3
    assert set(templates) == {
        "request_submitted", "request_approved", "request_assigned", "request_scheduled",
        "request_completed", "request_rejected", "request_cancelled",
    }  # fmt: skip

    invitations = [
        m for m in mails if any(p.get_content_type() == "text/calendar" for p in m.walk())
    ]
    # The two schedulings, and the cancellation of the second one's invitation.
    assert len(invitations) == 3
    events = [_event(m) for m in invitations]
    assert {e["DTSTART"].params["VALUE"] for e in events} == {"DATE"}
    assert all(int(e.decoded("SEQUENCE")) > 0 for e in events)
    uids = " ".join(str(e["UID"]) for e in events)
    assert done in uids and cancelled in uids and rejected not in uids
    methods = sorted(_method(m) for m in invitations)
    assert methods == ["CANCEL", "REQUEST", "REQUEST"]
    [cancel] = [e for e, m in zip(events, invitations, strict=True) if _method(m) == "CANCEL"]
    [scheduled] = [
        e for e, m in zip(events, invitations, strict=True)
        if _method(m) == "REQUEST" and cancelled in str(e["UID"])
    ]  # fmt: skip
    assert str(cancel["UID"]) == str(scheduled["UID"])
    assert int(cancel.decoded("SEQUENCE")) > int(scheduled.decoded("SEQUENCE"))


def _method(mail: EmailMessage) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(icalendar.Calendar.from_ical(data)["METHOD"])


def _event(mail: EmailMessage) -> icalendar.Event:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    assert isinstance(event, icalendar.Event)
    return event


def test_a_mail_that_is_written_twice_is_one_file(tmp_path: Path) -> None:
    composer = Composer(Renderer(), SENDER)
    from bot.mail.compose import Outgoing

    out = Outgoing(
        template="request_approved", language="en", to="a@school.example", key="k",
        context={"ref": "STO-2027-0001", "region": "Z", "region_name": "Zeeland", "days": "2",
                 "kind": "content", "status": "approved", "theme": "", "reason": ""},
    )  # fmt: skip
    mailer = FileMailer(tmp_path / "outbox")
    for _ in range(2):
        asyncio.run(mailer.send(composer.mail(out, now=NOW)))
    (mail,) = _read(tmp_path / "outbox")
    assert mail["Subject"] == "[STO-2027-0001] Your request for Zeeland has been approved"
    name = eml_name(mail["Message-ID"])
    assert list((tmp_path / "outbox").iterdir()) == [tmp_path / "outbox" / name]
    assert name.startswith("sto.") and name.endswith("@sto.example.eml")


@pytest.mark.parametrize(
    ("failure", "status"),
    [(TemporaryFailure("451 later"), "pending"), (PermanentFailure("550 no such user"), "failed")],
)
def test_failures_reach_the_outbox(
    engine: Engine,
    make_region: RegionFactory,
    failure: Exception,
    status: str,
) -> None:
    region = make_region()
    assert region.id is not None
    contact_id = _contact(engine, region.id)
    with transaction(engine) as s:
        new = rq.NewRequest(
            region="ZEELAND", kind="process", half_days=1, requester_contact_id=contact_id
        )
        rq.submit(s, new, TEAM, NOW)
    mailer = RecordingMailer()
    mailer.fail = failure
    clock = FixedClock(NOW)
    notifier = MailNotifier(mailer, Composer(Renderer(), SENDER), clock)
    asyncio.run(Dispatcher(engine, {"email": notifier}, clock).run_once())
    (row,) = _rows(engine)
    assert row.status == status
    assert str(failure) in row.last_error


def test_without_an_smtp_host_mails_become_files(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, smtp_host=None, var_dir=tmp_path, mail_from=SENDER)
    mailer = build_mailer(settings)
    assert isinstance(mailer, FileMailer) and mailer.directory == tmp_path / "outbox"
    notifier = MailNotifier.from_settings(settings)
    assert isinstance(notifier.mailer, FileMailer)
    assert notifier.composer.sender == SENDER
    smtp = build_mailer(Settings(_env_file=None, smtp_host="mail.example", smtp_tls="tls"))
    assert isinstance(smtp, SmtpMailer) and smtp.port == 465
