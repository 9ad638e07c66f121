"""A contact answers a visit proposal by mail: "1", "2" or "3" picks a slot, "geen" / "none"
asks for new ones.

The answer is recognised by its thread: In-Reply-To / References carry the
Message-ID of the proposal mail, which follows from the proposal's outbox key.
A choice brings the invitation (the domain writes it), "geen" a new proposal;
what cannot be read or cannot be done gets an answer in the same thread. A
refused choice changes nothing (a savepoint around the domain call).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from bot.mail.headers import domain_of, message_id
from bot.mail.parse import ParsedMail
from config.settings import Settings
from models import mailbox, outbox
from models import visits as vs
from models.actor import Actor
from models.errors import DomainError
from models.quantity import json_number
from models.tables import Contact, RegionContact, Visit, VisitProposal
from models.types import Channel
from scheduling import planner

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


def _answered_proposal(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact
) -> VisitProposal | None:
    """The proposal (to this contact) whose mail this one answers, if any."""
    ids = {*mail.in_reply_to, *mail.references}
    if not ids or contact.id is None:
        return None
    domain = domain_of(settings.mail_from)
    proposals = session.exec(
        select(VisitProposal)
        .join(Visit, col(Visit.id) == col(VisitProposal.visit_id))
        .join(RegionContact, col(RegionContact.region_id) == col(Visit.region_id))
        .where(RegionContact.contact_id == contact.id)
        .order_by(col(VisitProposal.id).desc())
    ).all()
    for proposal in proposals:
        assert proposal.id is not None
        if message_id(vs.proposal_key(proposal.id, contact.id), domain) in ids:
            return proposal
    return None


def handle(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact, now: datetime
) -> str | None:
    """Act on an answer to a visit proposal; None when the mail is not one (the caller goes on)."""
    proposal = _answered_proposal(session, settings, mail, contact)
    if proposal is None:
        return None
    assert proposal.id is not None
    option = read_answer(mail.new_text)
    if option is None:
        _answer(session, mail, contact, now, "visit_reply_unclear", {})
        return "visit proposal answer not understood"
    by = Actor(f"mail:{contact.email}", Channel.email)
    try:
        with session.begin_nested():
            if option == 0:
                vs.decline(session, proposal.id, by, now, planner.find_slots)
            else:
                vs.choose_slot(session, proposal.id, option, by, now)
    except DomainError as error:
        params = {
            k: json_number(v) if isinstance(v, Decimal) else v for k, v in error.params.items()
        }
        _answer(
            session, mail, contact, now, "mail_refused", {"error": error.code, "params": params}
        )
        return f"visit proposal answer refused: {error.code}"
    return "visit proposal declined" if option == 0 else f"visit slot {option} chosen"


def _answer(
    session: Session,
    mail: ParsedMail,
    contact: Contact,
    now: datetime,
    template: str,
    context: dict[str, Any],
) -> None:
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
