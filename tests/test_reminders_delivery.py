"""Periodic reminders delivered as people read them: by mail through a real SMTP
server (aiosmtpd), in Slack text, in Dutch and English; a Slack message that fails
for good falls back to mail; `sto reminders` shows what is still to come."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import SmtpMailer
from bot.render import default_renderer
from config.settings import TlsMode
from models.clock import FixedClock
from models.db import transaction
from models.tables import Notification
from scheduling.dispatcher import Dispatcher, Message, PermanentFailure
from scheduling.jobs import PeriodicJobs
from scheduling.rules import JOBS
from tests.cli_helpers import Sto
from tests.conftest import RegionFactory
from tests.test_mail_out import Server, server  # noqa: F401 (the aiosmtpd fixture)
from tests.test_periodic_jobs import add_contact, add_team, submit, utc

SENDER = "ondersteuning@sto.example"


def tick(engine: Engine, at: datetime) -> None:
    PeriodicJobs(engine, FixedClock(at), JOBS, timezone="Europe/Amsterdam", holder="t").tick()


def mail_notifier(port: int, at: datetime) -> MailNotifier:
    mailer = SmtpMailer("127.0.0.1", port, tls=TlsMode.none)
    return MailNotifier(mailer, Composer(default_renderer(), SENDER), FixedClock(at))


async def drain(dispatcher: Dispatcher) -> None:
    while await dispatcher.run_once():
        pass


def test_the_digest_and_unused_days_arrive_by_mail_in_dutch(
    engine: Engine,
    make_region: RegionFactory,
    server: Server,  # noqa: F811
) -> None:
    make_region("ZEELAND", days="3")
    add_team(engine, slack_id=None)
    add_contact(engine, "ZEELAND", "zee@school.example")
    ref = submit(engine, "ZEELAND", utc(2026, 11, 25, 10, 0))
    at = utc(2026, 12, 1, 8, 0)
    tick(engine, at)
    notifier = mail_notifier(server.port, at)
    dispatcher = Dispatcher(engine, {"email": notifier}, FixedClock(at))

    async def deliver() -> None:
        await drain(dispatcher)
        await notifier.close()

    asyncio.run(deliver())
    mails = [server.store.parsed(i) for i in range(len(server.store.messages))]
    by_subject = {(m["To"].addresses[0].addr_spec, str(m["Subject"])): m for m in mails}
    assert sorted(by_subject) == [
        ("coordinator@sto.example", "Overzicht voor het team, dinsdag 1 december 2026"),
        ("coordinator@sto.example", f"[{ref}] Wacht 4 werkdagen op een besluit"),
        ("zee@school.example", "Zeeland: nog 2 dagen ondersteuning te gebruiken in 2026"),
    ]
    digest = by_subject[
        ("coordinator@sto.example", "Overzicht voor het team, dinsdag 1 december 2026")
    ]
    text = digest.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert f"{ref} · Zeeland · 1 dag inhoudelijk advies · wacht 4 werkdagen (!)" in body
    assert "Zeeland (ZEELAND): nog 2 dagen beschikbaar" in body
    unused = by_subject[
        ("zee@school.example", "Zeeland: nog 2 dagen ondersteuning te gebruiken in 2026")
    ]
    plain = unused.get_body(("plain",))
    assert plain is not None
    assert "donderdag 31 december 2026" in plain.get_content()
    with Session(engine) as session:
        statuses = session.exec(
            select(Notification.status).where(Notification.channel == "email")
        ).all()
    assert set(statuses) == {"sent"}


@pytest.mark.parametrize(
    ("template", "context", "nl", "en"),
    [
        (
            "request_nudge",
            {"ref": "STO-2026-0007", "region_name": "Twente", "days": "1.5", "kind": "process",
             "waited": 3, "step": 3},
            "Aanvraag STO-2026-0007 van Twente (1,5 dag procesbegeleiding) wacht al 3 werkdagen",
            "Request STO-2026-0007 from Twente (1.5 days process support) has been waiting 3",
        ),
        (
            "supporter_agenda",
            {"week_start": "2026-12-07", "items": [
                {"day": "2026-12-09", "ref": "STO-2026-0001", "region": "ZEELAND",
                 "region_name": "Zeeland", "kind": "content", "theme": ""}]},
            "- woensdag 9 december 2026: Zeeland (STO-2026-0001), inhoudelijk advies",
            "- Wednesday 9 December 2026: Zeeland (STO-2026-0001), content advice",
        ),
        (
            "period_rollover",
            {"region_name": "Zeeland", "previous": "2026", "period": "2027",
             "expired_days": 2.5, "carried_days": 0, "available_days": 5,
             "available_visits": 4},
            "Voor Zeeland is 2,5 dag vervallen. Voor 2027 heeft Zeeland nu 5 dagen",
            "For Zeeland, 2.5 days expired. For 2027, Zeeland now has 5 days",
        ),
    ],
)  # fmt: skip
def test_reminder_texts_in_slack_read_in_both_languages(
    template: str, context: dict[str, object], nl: str, en: str
) -> None:
    say = default_renderer()
    assert nl in say.render(f"notify.{template}", "nl", **context, fallback_email="x@y.nl")
    assert en in say.render(f"notify.{template}", "en", **context, fallback_email="x@y.nl")


class FailingSlack:
    async def deliver(self, message: Message) -> None:
        raise PermanentFailure("user_not_found")


class Recording:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def deliver(self, message: Message) -> None:
        self.messages.append(message)


def test_a_slack_message_that_fails_for_good_goes_out_by_mail(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="3")
    add_team(engine, slack_id="UGONE")
    submit(engine, "ZEELAND", utc(2026, 11, 25, 10, 0))
    at = utc(2026, 12, 1, 8, 0)
    tick(engine, at)
    mail = Recording()
    dispatcher = Dispatcher(engine, {"slack": FailingSlack(), "email": mail}, FixedClock(at))
    asyncio.run(drain(dispatcher))
    assert sorted(m.template for m in mail.messages) == ["request_nudge", "team_digest"]
    assert {m.recipient for m in mail.messages} == {"coordinator@sto.example"}
    assert all("fallback_email" not in m.context for m in mail.messages)
    with Session(engine) as session:
        rows = session.exec(select(Notification).order_by(col(Notification.id))).all()
        by_channel = {
            (r.channel, r.template): r.status
            for r in rows
            if r.template != "team_request" and r.channel != "home"  # (not its channels)
        }
    assert by_channel == {
        ("slack", "team_digest"): "failed",
        ("slack", "request_nudge"): "failed",
        ("email", "team_digest"): "sent",
        ("email", "request_nudge"): "sent",
    }


def test_a_failed_mail_has_no_fallback(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(
            Notification(
                dedupe_key="k1",
                template="unused_days",
                channel="email",
                recipient="bad@school.example",
                context={"fallback_email": "other@school.example"},
                due_at=utc(2026, 12, 1),
                created_at=utc(2026, 12, 1),
            )
        )

    class Refusing:
        async def deliver(self, message: Message) -> None:
            raise PermanentFailure("550 no such user")

    dispatcher = Dispatcher(engine, {"email": Refusing()}, FixedClock(utc(2026, 12, 1, 1)))
    asyncio.run(drain(dispatcher))
    with Session(engine) as session:
        assert [(r.dedupe_key, r.status) for r in session.exec(select(Notification))] == [
            ("k1", "failed")
        ]


def test_sto_reminders_list_and_run(
    engine: Engine,
    make_region: RegionFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_region("ZEELAND", days="3")
    add_team(engine, slack_id=None)
    submit(engine, "ZEELAND", utc(2026, 11, 25, 10, 0))
    sto = Sto(engine, capsys, monkeypatch, datetime(2026, 12, 1, 8, 30, tzinfo=UTC))
    ran = sto("reminders", "run")
    assert ran.code == 0, ran.err
    assert "team_digest (2026-12-01): 1 bericht klaargezet." in ran.out
    again = sto("reminders", "run")
    assert "Er is nu geen periodieke taak aan de beurt." in again.out
    listed = sto("reminders", "list")
    assert listed.code == 0
    assert "dagoverzicht voor het team" in listed.out
    assert "dinsdag 1 december 2026 09:30" in listed.out
    rows = json.loads(sto("reminders", "list", "--json").out)
    assert sorted(r["template"] for r in rows) == ["request_nudge", "team_digest", "team_request"]
    due = json.loads(sto("reminders", "list", "--due", "--json").out)
    assert len(due) == 3
    sto.clock.set(datetime(2026, 11, 1, tzinfo=UTC))
    assert json.loads(sto("reminders", "list", "--due", "--json").out) == []
