"""The dispatcher's notifier for channel "email": one outbox row becomes one mail.

The row's template names the mail (`templates/<lang>/mail/<template>.txt|.html`
and the subject `mail.subject_<template>`), its context fills it, its dedupe
key fixes the Message-ID. Notifications about a request list the request's
thread id in References, so a mail client keeps them together, and a reply
carries the reference back. A scheduled request carries an invitation for
its days; a cancelled one that had days carries the cancellation of that
invitation (same UID, higher SEQUENCE). A meeting's registration, promotion
and change carry a timed invitation in the meeting's time zone; its
cancellation, and a registrant's own, carry `METHOD:CANCEL` (context keys
`code`, `starts_at`, `ends_at` (ISO), `timezone`, `location`, `online_url`,
`sequence`, see `models.meetings._context`); `place` set means the reader was
on the waitlist, who gets no calendar part with a cancellation.

Context keys beyond what every request notification has (all optional):
`dates` (ISO days; for request_scheduled they are otherwise read from
`reason`), `sequence` (the invitation's SEQUENCE; otherwise the outbox row
id, which grows with every later notification), `name` (the reader's name),
`in_reply_to` / `references` (thread under a mail the person sent; such a
mail is an answer: `Auto-Submitted: auto-replied`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from bot.mail.calendar import Invite, Person, invite_uid
from bot.mail.compose import Composer, MissingTemplate, Outgoing, Thread
from bot.mail.headers import InvalidAddress
from bot.mail.outbound import Mailer, build_mailer
from bot.render import Renderer, default_renderer
from config.settings import Settings
from models.clock import Clock, SystemClock
from scheduling.dispatcher import Message, PermanentFailure

log = logging.getLogger("sto.mail")
# Templates whose mail carries an invitation: True when it is a cancellation.
INVITATIONS = {
    "request_scheduled": False,
    "request_cancelled": True,
    "meeting_registered": False,
    "meeting_promoted": False,
    "meeting_changed": False,
    "meeting_cancelled": True,
    "meeting_unregistered": True,
    "visit_scheduled": False,
    "visit_cancelled": True,
}
# Subjects whose invitation has phrases of its own in mail.j2 (`visit_invite_summary`, ...).
INVITE_PHRASES = {"visit": "visit_"}


def days_of(template: str, context: Mapping[str, Any]) -> list[date]:
    """The days a notification is about: `dates`, or the ISO list a scheduling gives as reason."""
    raw: Any = context.get("dates")
    if raw is None and template == "request_scheduled":
        raw = str(context.get("reason", "")).split(",")
    if isinstance(raw, str):
        raw = raw.split(",")
    days: list[date] = []
    for item in raw or ():
        if isinstance(item, date):
            days.append(item)
            continue
        try:
            days.append(date.fromisoformat(str(item).strip()))
        except ValueError:
            log.warning("not a day in a %s notification: %r", template, item)
            return []
    return sorted(set(days))


class MailNotifier:
    def __init__(self, mailer: Mailer, composer: Composer, clock: Clock | None = None) -> None:
        self.mailer = mailer
        self.composer = composer
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        renderer: Renderer | None = None,
        clock: Clock | None = None,
        mailer: Mailer | None = None,
    ) -> MailNotifier:
        """SMTP when STO_SMTP_HOST is set, else .eml files under var/outbox."""
        composer = Composer(renderer or default_renderer(), settings.mail_from)
        return cls(mailer or build_mailer(settings), composer, clock)

    async def deliver(self, message: Message) -> None:
        try:
            outgoing = self.outgoing(message)
            mail = self.composer.mail(outgoing, now=self.clock.now())
        except InvalidAddress as exc:
            raise PermanentFailure(f"not a mail address: {message.recipient!r}") from exc
        except MissingTemplate as exc:
            raise PermanentFailure(f"no mail template {exc}") from exc
        await self.mailer.send(mail)

    async def close(self) -> None:
        await self.mailer.close()

    def outgoing(self, message: Message) -> Outgoing:
        """What to compose for one outbox row (no I/O)."""
        context = dict(message.context)
        days = days_of(message.template, context)
        context["dates"] = days
        extra = context.get("references", ())
        references = (extra,) if isinstance(extra, str) else tuple(str(r) for r in extra)
        in_reply_to = str(context.get("in_reply_to", ""))
        ref = str(context.get("ref", ""))
        root = self.composer.thread_id(ref) if ref and not in_reply_to else None
        # A notification joins its request's thread; an answer follows the mail it answers.
        thread = Thread(
            in_reply_to=in_reply_to, references=(root, *references) if root else references
        )
        return Outgoing(
            template=message.template,
            language=message.language,
            context=context,
            to=message.recipient,
            to_name=str(context.get("name", "")),
            key=message.key,
            answer=bool(thread.in_reply_to),  # an answer to a person's mail, not a notification
            thread=thread,
            invite=self._invite(message, context, days),
        )

    def _invite(self, message: Message, context: dict[str, Any], days: list[date]) -> Invite | None:
        cancel = INVITATIONS.get(message.template)
        if cancel is not None and message.template.startswith("meeting_"):
            if cancel and context.get("place") is not None:
                return None  # they were on the waitlist: nothing in their calendar to remove
            return self._meeting_invite(message, context, cancel=cancel)
        start, end = _instants(context)
        if cancel is None or not (days or start):
            return None
        # The UID follows the subject ("request:STO-2027-0042"), so every version updates
        # the same calendar entry.
        subject = f"{message.subject_type or 'request'}:{context.get('ref') or message.subject_id}"
        lang = message.language
        prefix = INVITE_PHRASES.get(message.subject_type, "")
        return Invite(
            uid=invite_uid(subject, self.composer.domain),
            sequence=int(context.get("sequence", message.id)),
            summary=self.composer.phrase(f"{prefix}invite_summary", lang, context),
            description=self.composer.phrase(f"{prefix}invite_description", lang, context),
            organizer=Person(self.composer.sender, self.composer.from_name(lang)),
            attendee=Person(message.recipient, str(context.get("name", ""))),
            days=() if start else tuple(days),
            start=start,
            end=end,
            timezone=str(context.get("timezone") or "Europe/Amsterdam"),
            cancel=cancel,
        )

    def _meeting_invite(
        self, message: Message, context: dict[str, Any], *, cancel: bool
    ) -> Invite | None:
        """A timed event in the meeting's own zone; one UID per meeting ("meeting:TB-2027-03").

        SEQUENCE comes with the row (`models.meetings._sequence`): the meeting's, which every
        change raises, so the update replaces the entry, plus one for each earlier
        registration of the same address, so registering again after one's own
        cancellation (which removed the copy with the number then current) is newer.
        """
        try:
            start = datetime.fromisoformat(str(context["starts_at"]))
            end = datetime.fromisoformat(str(context["ends_at"]))
            code, sequence = str(context["code"]), int(context["sequence"])
        except (KeyError, ValueError, TypeError):
            log.warning(
                "no invitation: %s notification %s lacks its times", message.template, message.id
            )
            return None
        lang = message.language
        location, url = str(context.get("location", "")), str(context.get("online_url", ""))
        return Invite(
            uid=invite_uid(f"meeting:{code}", self.composer.domain),
            sequence=sequence,
            summary=self.composer.phrase("meeting_invite_summary", lang, context),
            description=self.composer.phrase("meeting_invite_description", lang, context),
            organizer=Person(self.composer.sender, self.composer.from_name(lang)),
            attendee=Person(message.recipient, str(context.get("name", ""))),
            start=start,
            end=end,
            timezone=str(context.get("timezone") or "Europe/Amsterdam"),
            location=location or url,
            url=url,
            cancel=cancel,
        )


def _instants(context: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """A timed invitation's start and end (ISO instants in the context), or None."""
    start, end = context.get("starts_at"), context.get("ends_at")
    if not start or not end:
        return None, None
    return datetime.fromisoformat(str(start)), datetime.fromisoformat(str(end))
