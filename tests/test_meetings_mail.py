"""Meeting notifications leave as real mails (no missing template turns them into failures)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import FileMailer
from bot.render import Renderer
from models import meetings as mt
from models.clock import FixedClock
from models.db import transaction
from models.tables import Notification
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM


def test_registration_mails_are_sent(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as session:
        meeting = mt.create_meeting(
            session,
            title="Doorlopende leerlijnen",
            theme="doorlopende-leerlijnen",
            description="",
            starts_at=NOW + timedelta(days=30),
            ends_at=NOW + timedelta(days=30, hours=3),
            timezone="Europe/Amsterdam",
            location="Utrecht",
            online_url="",
            capacity=1,
            registration_deadline=NOW + timedelta(days=20),
            by=TEAM,
            now=NOW,
        )
        code = meeting.code
    for who in ("anna@school.example", "bram@school.example"):
        with transaction(engine) as session:
            mt.register(
                session, code, name=who.split("@")[0].title(), email=who, region_code=None,
                contact_id=None, channel="cli", by=TEAM, now=NOW,
            )  # fmt: skip
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, "anna@school.example"), by=TEAM, now=NOW)
    clock = FixedClock(NOW)
    notifier = MailNotifier(FileMailer(tmp_path), Composer(Renderer(), "team@sto.example"), clock)
    asyncio.run(Dispatcher(engine, {"email": notifier}, clock).run_once())
    with transaction(engine) as session:
        rows = session.exec(select(Notification).order_by(col(Notification.id))).all()
        assert [(r.template, r.status) for r in rows] == [
            ("meeting_registered", "cancelled"),  # Anna cancelled before it went out
            ("meeting_reminder", "cancelled"),  # and her reminder with it
            ("meeting_waitlisted", "sent"),
            ("meeting_unregistered", "sent"),  # her confirmation
            ("meeting_promoted", "sent"),
            ("meeting_reminder", "pending"),  # Bram's, due 48 hours before the start
        ]
    subjects = sorted(
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"])
        for p in tmp_path.glob("*.eml")
    )
    assert subjects == [
        f"[{code}] Er is een plaats voor u: Doorlopende leerlijnen",
        f"[{code}] U bent afgemeld: Doorlopende leerlijnen",
        f"[{code}] U staat op de wachtlijst: Doorlopende leerlijnen",
    ]
