"""Composing one outgoing mail: text and HTML from templates, headers that thread and behave.

Every mail is multipart/alternative (text/plain, text/html, and an iCalendar
part when it carries an invitation, which is also attached as invite.ics).
Headers follow what mail clients and RFC 3834 expect of a machine:

- `Message-ID` is derived from the notification's dedupe key, so a repeat
  after a crash is recognisably the same message;
- `In-Reply-To` / `References` thread an answer under the mail it answers;
  notifications about a request list the request's thread id in References;
- `Auto-Submitted: auto-generated` on notifications, `auto-replied` on
  answers, and `X-Auto-Response-Suppress: All` so Exchange sends no
  out-of-office back.

Values from people (names, a theme, a reason, ids from a mail we answer) only
reach headers through `bot.mail.headers`, which folds any line break away.

The result is a `Mail`: the bytes that go on the wire (written directly by
`bot.mail.mime`, no refolding), the envelope, and the same mail as an
EmailMessage, built when someone asks for it (tests, tools).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from functools import cached_property
from typing import Any

from jinja2 import TemplateNotFound

from bot.mail import mime
from bot.mail.calendar import Invite, to_ics
from bot.mail.headers import domain_of, mailbox, message_id, message_ids, one_line, thread_id
from bot.render import Renderer

AUTO_GENERATED = "auto-generated"
AUTO_REPLIED = "auto-replied"
MAX_SUBJECT = 250
OWN_HEADER = "X-STO-Assistant"  # marks our own mail, so the inbound side never answers it


class MissingTemplate(LookupError):
    """No mail template (or subject, or phrase) of this name in this language."""


@dataclass(frozen=True)
class Thread:
    """Where a mail belongs: the mail it answers, and that mail's own References."""

    in_reply_to: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """One mail to compose.

    `template` names `mail/<template>.txt`, `mail/<template>.html` and the
    subject macro `mail.subject_<template>`; `key` is the dedupe key the
    Message-ID derives from; `answer` marks a reply to a person's mail.
    """

    template: str
    language: str
    context: Mapping[str, Any]
    to: str
    key: str
    to_name: str = ""
    answer: bool = False
    thread: Thread = field(default_factory=Thread)
    invite: Invite | None = None


class Mail:
    """One mail ready to send: its bytes and envelope; `message` parses nothing, it is
    built from the same parts (and flattens to exactly `data`)."""

    def __init__(
        self,
        data: bytes,
        sender: str,
        recipients: tuple[str, ...],
        message_id: str,
        build: Callable[[], EmailMessage],
    ) -> None:
        self.data = data
        self.sender = sender
        self.recipients = recipients
        self.message_id = message_id
        self._build = build

    @cached_property
    def message(self) -> EmailMessage:
        return self._build()

    @classmethod
    def of(cls, message: EmailMessage) -> Mail:
        """A mail built elsewhere: envelope from From / To, Cc, Bcc; Bcc left off the wire."""
        sender = getaddresses([str(v) for v in message.get_all("From", [])])
        fields = [str(v) for k in ("To", "Cc", "Bcc") for v in message.get_all(k, [])]
        visible = copy.copy(message)  # shallow: deleting a header gives it its own list
        del visible["Bcc"]
        return cls(
            data=visible.as_bytes(policy=policy.SMTP),
            sender=sender[0][1] if sender else "",
            recipients=tuple(addr for _, addr in getaddresses(fields) if addr),
            message_id=str(message.get("Message-ID", "")),
            build=lambda: message,
        )


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Composer:
    """Builds mails from templates; one per process, shared by every sender."""

    def __init__(self, renderer: Renderer, sender: str) -> None:
        self.renderer = renderer
        self.sender = mailbox(sender).addr_spec
        self.domain = domain_of(self.sender)
        self._arguments: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._from_names: dict[str, str] = {}

    def message_id(self, key: str) -> str:
        return message_id(key, self.domain)

    def thread_id(self, ref: str) -> str | None:
        return thread_id(ref, self.domain)

    def phrase(self, name: str, language: str, context: Mapping[str, Any]) -> str:
        """A macro of mail.j2, given only the arguments it declares."""
        arguments = self._macro_arguments(language, name)
        if arguments is None:
            raise MissingTemplate(f"mail.{name}")
        given = {k: v for k, v in context.items() if k in arguments}
        return self.renderer.render(f"mail.{name}", language, **given)

    def language(self, language: str) -> str:
        """The language a mail is actually written in (unknown ones fall back to Dutch)."""
        return str(self.renderer.env(language).globals["lang"])

    def _macro_arguments(self, language: str, name: str) -> tuple[str, ...] | None:
        key = (language, name)
        if key not in self._arguments:
            lang = self.language(language)
            module = self.renderer.env(lang).get_template(f"{lang}/mail.j2").module
            macro = getattr(module, name, None)
            self._arguments[key] = None if macro is None else tuple(macro.arguments)
        return self._arguments[key]

    def render(
        self, template: str, language: str, context: Mapping[str, Any], **extra: Any
    ) -> Rendered:
        """Subject, text and HTML of a mail; the body templates also get `subject`."""
        subject = one_line(self.phrase(f"subject_{template}", language, context), MAX_SUBJECT)
        values = {"name": "", "dates": [], "invite": False, **context, **extra}
        values["subject"] = subject
        try:
            text = self.renderer.render(f"mail/{template}.txt", language, **values)
            html = self.renderer.render(f"mail/{template}.html", language, **values)
        except TemplateNotFound as exc:
            raise MissingTemplate(f"mail/{template} ({exc.name})") from exc
        return Rendered(subject=subject, text=text, html=html)

    def from_name(self, language: str) -> str:
        lang = self.language(language)
        if lang not in self._from_names:
            self._from_names[lang] = one_line(self.phrase("from_name", lang, {}), 120)
        return self._from_names[lang]

    def compose(self, mail: Outgoing, *, now: datetime) -> EmailMessage:
        """The finished message; InvalidAddress for a recipient that is not one mailbox."""
        return self.mail(mail, now=now).message

    def mail(self, mail: Outgoing, *, now: datetime) -> Mail:
        """The finished mail with its envelope; InvalidAddress for a bad recipient."""
        to = mailbox(mail.to, mail.to_name or str(mail.context.get("name", "")))
        extra = {"name": to.display_name, "invite": mail.invite is not None}
        parts = self.render(mail.template, mail.language, mail.context, **extra)
        ident = self.message_id(mail.key)
        headers = [
            ("From", mime.address_value("From", self.sender, self.from_name(mail.language))),
            ("To", mime.address_value("To", to.addr_spec, to.display_name)),
            ("Subject", mime.text_value("Subject", parts.subject)),
            ("Date", format_datetime(now.astimezone(UTC))),
            ("Message-ID", ident),
            *_thread(mail.thread),
            ("Auto-Submitted", AUTO_REPLIED if mail.answer else AUTO_GENERATED),
            ("X-Auto-Response-Suppress", "All"),
            (OWN_HEADER, "1"),
            ("Content-Language", self.language(mail.language)),
        ]
        body = _body(parts, mail.invite, now)
        return Mail(
            data=mime.wire(headers, body, ident),
            sender=self.sender,
            recipients=(to.addr_spec,),
            message_id=ident,
            build=lambda: mime.message(headers, body, ident),
        )


def _body(parts: Rendered, invite: Invite | None, now: datetime) -> mime.Multi:
    alternative: list[mime.Leaf | mime.Multi] = [
        mime.text("plain", parts.text),
        mime.text("html", parts.html),
    ]
    if invite is None:
        return mime.Multi("alternative", alternative)
    ics = to_ics(invite, stamp=now).encode("utf-8")  # base64 keeps its CRLF line ends
    alternative.append(mime.binary(f'text/calendar; charset="utf-8"; method={invite.method}', ics))
    attachment = mime.binary(
        'application/ics; name="invite.ics"', ics, 'attachment; filename="invite.ics"'
    )
    return mime.Multi("mixed", [mime.Multi("alternative", alternative), attachment])


def _thread(thread: Thread) -> list[tuple[str, str]]:
    parent = message_ids([thread.in_reply_to])
    chain = message_ids([*thread.references, *parent])
    lines = [("In-Reply-To", parent[0])] if parent else []
    if chain:
        lines.append(("References", mime.ids_value("References", chain)))
    return lines
