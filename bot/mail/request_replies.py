"""A requester answers a request's proposed dates by mail: "1", "2" or "3" picks an option,
"geen" / "none" asks the supporter for new dates (see `option_answers`). A choice
schedules the request (the domain writes the confirmation with its invitation), "geen"
gets a word of thanks.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.mail import option_answers
from bot.mail.parse import ParsedMail
from config.settings import Settings
from models import request_proposals as rp
from models.actor import Actor
from models.tables import Contact, RegionContact, RequestProposal, SupportRequest


def handle(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact, now: datetime
) -> str | None:
    """Act on an answer to proposed dates; None when the mail is not one (the caller goes on)."""
    if not (mail.in_reply_to or mail.references):
        return None  # an answer is a reply in the proposal's thread
    sent = session.exec(
        select(RequestProposal)
        .join(SupportRequest, col(SupportRequest.id) == col(RequestProposal.request_id))
        .join(RegionContact, col(RegionContact.region_id) == col(SupportRequest.region_id))
        .where(RegionContact.contact_id == contact.id)
        .order_by(col(RequestProposal.id).desc())
    ).all()
    proposal = option_answers.answered(
        settings, mail, contact, sent, lambda p, c: rp.proposal_key(p.id or 0, c)
    )
    if proposal is None or proposal.id is None:
        return None
    proposal_id = proposal.id

    def apply(by: Actor, option: int) -> None:
        if option == 0:
            rp.decline_dates(session, proposal_id, by, now)
        else:
            rp.choose_dates(session, proposal_id, option, by, now)

    return option_answers.act(
        session,
        mail,
        contact,
        now,
        what="request dates",
        apply=apply,
        thanks="request_dates_thanks",
    )
