"""Reminders 48 hours before a meeting: written, cancelled and re-timed with the change.

The reminder is an outbox row written in the transaction that gives someone a
seat; cancelling the registration or the meeting cancels it in the same
transaction; moving the start re-times it. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import RecordingMailer
from bot.render import Renderer
from models import meetings as mt
from models.clock import FixedClock
from models.db import transaction
from models.tables import Notification
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM
from tests.test_meetings import START, new_meeting, reg

DUE = START - timedelta(hours=48)


def reminders(engine: Engine) -> list[tuple[str, str, object]]:
    """(recipient, status, due_at) of every reminder row, oldest first."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification)
            .where(Notification.template == "meeting_reminder")
            .order_by(col(Notification.id))
        ).all()
        return [(r.recipient, r.status, r.due_at) for r in rows]


def test_a_seat_brings_a_reminder_48_hours_before(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    reg(engine, code, 1)
    reg(engine, code, 2)  # waitlisted: no reminder yet
    assert reminders(engine) == [("p1@school.example", "pending", DUE)]
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, "p1@school.example"), by=TEAM, now=NOW)
    # cancelled with the registration; the promoted person gets one in the same transaction
    assert reminders(engine) == [
        ("p1@school.example", "cancelled", DUE),
        ("p2@school.example", "pending", DUE),
    ]


def test_no_reminder_when_48_hours_before_has_passed(engine: Engine) -> None:
    code = new_meeting(engine, registration_deadline=START - timedelta(hours=1))
    reg(engine, code, 1, now=DUE - timedelta(minutes=1))
    reg(engine, code, 2, now=DUE + timedelta(minutes=1))
    assert [r[0] for r in reminders(engine)] == ["p1@school.example"]


def test_cancelling_the_meeting_cancels_the_reminders(engine: Engine) -> None:
    code = new_meeting(engine)
    reg(engine, code, 1)
    reg(engine, code, 2)
    with transaction(engine) as session:
        mt.cancel_meeting(session, code, by=TEAM, now=NOW)
    assert [r[1] for r in reminders(engine)] == ["cancelled", "cancelled"]


def test_moving_the_start_re_times_the_reminder(engine: Engine) -> None:
    code = new_meeting(engine)
    reg(engine, code, 1)
    later = START + timedelta(days=7)
    with transaction(engine) as session:
        mt.edit_meeting(
            session, code, starts_at=later, ends_at=later + timedelta(hours=3), by=TEAM, now=NOW
        )
    assert reminders(engine) == [
        ("p1@school.example", "cancelled", DUE),
        ("p1@school.example", "pending", later - timedelta(hours=48)),
    ]
    # Moved so close that the moment has passed: the pending reminder goes, none comes.
    soon = NOW + timedelta(hours=30)
    with transaction(engine) as session:
        mt.edit_meeting(
            session, code, starts_at=soon, ends_at=soon + timedelta(hours=2),
            registration_deadline=soon - timedelta(hours=1), by=TEAM, now=NOW,
        )  # fmt: skip
    assert [r[1] for r in reminders(engine)] == ["cancelled", "cancelled"]


def test_the_reminder_goes_out_at_its_time_with_the_latest_details(
    engine: Engine, tmp_path: Path
) -> None:
    code = new_meeting(engine)
    reg(engine, code, 1)
    with transaction(engine) as session:
        mt.edit_meeting(session, code, location="Amersfoort, De Observant", by=TEAM, now=NOW)
    mailer = RecordingMailer()
    clock = FixedClock(DUE - timedelta(seconds=1))
    notifier = MailNotifier(mailer, Composer(Renderer(), "team@sto.example"), clock)
    dispatcher = Dispatcher(engine, {"email": notifier}, clock)
    asyncio.run(dispatcher.run_once())
    subjects = [str(m["Subject"]) for m in mailer.sent]
    assert not [s for s in subjects if "Herinnering" in s]  # not a second early
    clock.set(DUE)
    mailer.mails.clear()
    asyncio.run(dispatcher.run_once())
    (msg,) = mailer.sent
    assert str(msg["Subject"]) == f"[{code}] Herinnering: Techniek in de regio"
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Over twee dagen" in text and "Amersfoort, De Observant" in text
    assert "dinsdag 2 maart 2027 van 10:00 tot 13:00" in text
