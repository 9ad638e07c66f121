"""The inbound pipeline: every mail, from IMAP or the built-in receiver, ends here.

One mail is one transaction: it is recorded by its Message-ID first (the same
mail twice acts once), classified (auto-replies, bounces, list mail and our
own mail are recorded and never answered), matched to its sender and thread,
understood, and then acted on through the same domain functions as Slack and
the CLI. Answers are outbox rows written in that transaction, threaded under
the mail they answer. What nobody can understand is flagged for the team. A
calendar's answer to one of our invitations (Accepted, Declined) is recorded
with what it says, and never answered or flagged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from bot.mail import calendar_replies
from bot.mail.classify import Verdict, classify
from bot.mail.conversation import Conversation
from bot.mail.headers import domain_of
from bot.mail.parse import ParsedMail, parse
from bot.render import local_date
from config.settings import Settings
from models import inbound, people
from models.clock import Clock
from models.db import transaction
from models.errors import AlreadyProcessed

log = logging.getLogger("sto.mail")


@dataclass
class MailDeps:
    settings: Settings
    engine: Engine
    clock: Clock
    wake: Callable[[], None] = lambda: None


class Inbound:
    """`handle(raw)` is what the IMAP loop and the SMTP receiver call."""

    def __init__(self, deps: MailDeps) -> None:
        self.deps = deps

    async def handle(self, raw: bytes) -> bool:
        mail = parse(raw)
        verdict = classify(mail, own_addresses={self.deps.settings.mail_from.lower()})
        outcome = await asyncio.to_thread(self.process, mail, verdict)
        log.info("mail %s from %s: %s", mail.message_id, mail.from_address or "?", outcome)
        self.deps.wake()
        return True

    def process(self, mail: ParsedMail, verdict: Verdict) -> str:
        """Record and act on one mail in one transaction; returns what happened (for the log)."""
        now = self.deps.clock.now()
        try:
            with transaction(self.deps.engine) as session:
                return self._act(session, mail, verdict, now)
        except AlreadyProcessed:
            return "duplicate"

    def _act(self, session: Session, mail: ParsedMail, verdict: Verdict, now: datetime) -> str:
        if verdict is Verdict.calendar_reply:
            return self._calendar_reply(session, mail, now)
        if verdict is not Verdict.answer:
            # Recorded (so a redelivery is recognised) but never answered: RFC 3834.
            inbound.claim(session, "email", mail.message_id, now, summary=str(verdict))
            return f"ignored ({verdict})"
        record = inbound.claim(
            session, "email", mail.message_id, now, sender=mail.from_address, summary=mail.subject
        )
        conversation = Conversation(
            session=session,
            settings=self.deps.settings,
            mail=mail,
            record=record,
            now=now,
            today=local_date(now, self.deps.settings.timezone),
        )
        return conversation.run()

    def _calendar_reply(self, session: Session, mail: ParsedMail, now: datetime) -> str:
        """Recorded with what it says (never answered, never flagged: nobody asked anything).

        Who answered is kept when the reply answers one of our own invitations
        (we invited that address) or comes from a person we know.
        """
        reply = calendar_replies.read(mail, domain_of(self.deps.settings.mail_from))
        known = reply.ours or people.by_email(session, mail.from_address) is not None
        by = (reply.attendee or mail.from_address) if known else ""
        summary = reply.summary(by=by)
        inbound.claim(session, "email", mail.message_id, now, sender=by[:254], summary=summary)
        return summary
