"""A requester answers a request's proposed dates by mail: "1", "2" or "3" picks an option,
"geen" / "none" asks the supporter for new dates.

Mirrors `visit_replies`: the answer is recognised by its thread (In-Reply-To /
References carry the Message-ID of the proposal mail, which follows from the
proposal's outbox key). A choice schedules the request (the domain writes the
confirmation with its invitation), "geen" a word of thanks; what cannot be
read or cannot be done gets an answer in the same thread. A refused choice
changes nothing (a savepoint around the domain call).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from bot.mail.headers import domain_of, message_id
from bot.mail.parse import ParsedMail
from bot.mail.visit_replies import _answer, read_answer
from config.settings import Settings
from models import request_proposals as rp
from models.actor import Actor
from models.errors import DomainError
from models.quantity import json_number
from models.tables import Contact, RegionContact, RequestProposal, SupportRequest
from models.types import Channel


def _answered_proposal(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact
) -> RequestProposal | None:
    """The proposal (to this contact) whose mail this one answers, if any."""
    ids = {*mail.in_reply_to, *mail.references}
    if not ids or contact.id is None:
        return None
    domain = domain_of(settings.mail_from)
    proposals = session.exec(
        select(RequestProposal)
        .join(SupportRequest, col(SupportRequest.id) == col(RequestProposal.request_id))
        .join(RegionContact, col(RegionContact.region_id) == col(SupportRequest.region_id))
        .where(RegionContact.contact_id == contact.id)
        .order_by(col(RequestProposal.id).desc())
    ).all()
    for proposal in proposals:
        assert proposal.id is not None
        if message_id(rp.proposal_key(proposal.id, contact.id), domain) in ids:
            return proposal
    return None


def handle(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact, now: datetime
) -> str | None:
    """Act on an answer to proposed dates; None when the mail is not one (the caller goes on)."""
    proposal = _answered_proposal(session, settings, mail, contact)
    if proposal is None:
        return None
    assert proposal.id is not None
    option = read_answer(mail.new_text)
    if option is None:
        _answer(session, mail, contact, now, "visit_reply_unclear", {})
        return "request dates answer not understood"
    by = Actor(f"mail:{contact.email}", Channel.email)
    try:
        with session.begin_nested():
            if option == 0:
                rp.decline_dates(session, proposal.id, by, now)
            else:
                rp.choose_dates(session, proposal.id, option, by, now)
    except DomainError as error:
        params = {
            k: json_number(v) if isinstance(v, Decimal) else v for k, v in error.params.items()
        }
        _answer(
            session, mail, contact, now, "mail_refused", {"error": error.code, "params": params}
        )
        return f"request dates answer refused: {error.code}"
    if option == 0:  # a choice is answered by the confirmation; "geen" gets a word of thanks
        _answer(session, mail, contact, now, "request_dates_thanks", {})
        return "request dates declined"
    return f"request dates option {option} chosen"
