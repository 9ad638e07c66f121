"""A contact answers a visit proposal by mail: "1", "2" or "3" picks a slot, "geen" / "none"
asks for new ones (see `option_answers`). A choice brings the invitation (the domain
writes it), "geen" a new proposal.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.mail import option_answers
from bot.mail.parse import ParsedMail
from config.settings import Settings
from models import visits as vs
from models.actor import Actor
from models.tables import Contact, RegionContact, Visit, VisitProposal
from scheduling import planner


def handle(
    session: Session, settings: Settings, mail: ParsedMail, contact: Contact, now: datetime
) -> str | None:
    """Act on an answer to a visit proposal; None when the mail is not one (the caller goes on)."""
    if not (mail.in_reply_to or mail.references):
        return None  # an answer is a reply in the proposal's thread
    sent = session.exec(
        select(VisitProposal)
        .join(Visit, col(Visit.id) == col(VisitProposal.visit_id))
        .join(RegionContact, col(RegionContact.region_id) == col(Visit.region_id))
        .where(RegionContact.contact_id == contact.id)
        .order_by(col(VisitProposal.id).desc())
    ).all()
    proposal = option_answers.answered(
        settings, mail, contact, sent, lambda p, c: vs.proposal_key(p.id or 0, c)
    )
    if proposal is None or proposal.id is None:
        return None
    proposal_id = proposal.id

    def apply(by: Actor, option: int) -> None:
        if option == 0:
            vs.decline(session, proposal_id, by, now, planner.find_slots)
        else:
            vs.choose_slot(session, proposal_id, option, by, now)

    return option_answers.act(session, mail, contact, now, what="visit proposal", apply=apply)
