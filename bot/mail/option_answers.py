"""An answer by mail to a proposal of options (visit slots, a request's dates): "1", "2" or
"3" picks one, "geen" / "none" asks for others.

The proposal mail's Message-ID follows from its outbox key, so an answer is
recognised by its thread (In-Reply-To / References). What cannot be read or
cannot be done gets an answer in the same thread; a refused choice changes
nothing (a savepoint around the domain call).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlmodel import Session

from bot.mail.headers import domain_of, message_id
from bot.mail.parse import ParsedMail
from config.settings import Settings
from models import mailbox, outbox
from models.actor import Actor
from models.errors import DomainError
from models.quantity import json_number
from models.tables import Contact
from models.types import Channel

P = TypeVar("P")

_CHOICE = re.compile(
    r"^(?:optie|option|keuze|choice|nr\.?|nummer|number)?\s*([1-9])\s*[.)!]?$", re.I
)
_NONE = re.compile(r"^(geen|none|geen van deze|none of these|geen van allen)\b", re.I)


def read_answer(text: str) -> int | None:
    """The option in the first line of an answer: 1..9, 0 for "none", None when unreadable."""
    for line in text.splitlines():
        line = line.strip().strip("*_").strip()
        if not line:
            continue
        if _NONE.match(line):
            return 0
        found = _CHOICE.match(line)
        return int(found.group(1)) if found else None
    return None


def answered(
    settings: Settings,
    mail: ParsedMail,
    contact: Contact,
    proposals: Iterable[P],
    key: Callable[[P, int], str],
) -> P | None:
    """The proposal (of those sent to this contact) whose mail this one answers, if any."""
    ids = {*mail.in_reply_to, *mail.references}
    if not ids or contact.id is None:
        return None
    domain = domain_of(settings.mail_from)
    for proposal in proposals:
        sent = key(proposal, contact.id)
        # By mail from the start, or as the mail standing in for a Slack message that failed.
        if {message_id(k, domain) for k in (sent, outbox.mail_fallback_key(sent))} & ids:
            return proposal
    return None


def act(
    session: Session,
    mail: ParsedMail,
    contact: Contact,
    now: datetime,
    *,
    what: str,
    apply: Callable[[Actor, int], None],
    thanks: str | None = None,
) -> str:
    """Read the option and `apply` it (0: none of these); returns what happened, for the log."""
    option = read_answer(mail.new_text)
    if option is None:
        answer(session, mail, contact, now, "visit_reply_unclear", {})
        return f"{what} answer not understood"
    by = Actor(f"mail:{contact.email}", Channel.email)
    try:
        with session.begin_nested():
            apply(by, option)
    except DomainError as error:
        params = {
            k: json_number(v) if isinstance(v, Decimal) else v for k, v in error.params.items()
        }
        answer(session, mail, contact, now, "mail_refused", {"error": error.code, "params": params})
        return f"{what} answer refused: {error.code}"
    if option == 0:  # a choice is answered by its confirmation; "none" perhaps by thanks
        if thanks is not None:
            answer(session, mail, contact, now, thanks, {})
        return f"{what} declined"
    return f"{what} option {option} chosen"


def answer(
    session: Session,
    mail: ParsedMail,
    contact: Contact,
    now: datetime,
    template: str,
    context: dict[str, Any],
) -> None:
    """A mail in the thread of the one we answer (within the per-hour answer limit)."""
    if mailbox.answers_last_hour(session, contact.email, now) >= mailbox.ANSWERS_PER_HOUR:
        return
    outbox.enqueue(
        session,
        key=f"mail:{mail.message_id}:{template}",
        template=template,
        channel=outbox.OutboxChannel.email,
        recipient=contact.email,
        now=now,
        language=contact.language,
        context={
            **context,
            "in_reply_to": mail.message_id,
            "references": [*mail.references, mail.message_id],
            "name": contact.name,
            "reply_subject": mail.subject,
        },
    )
