"""The states of a request's date proposal, and closing the open one when the request moves on.

Apart from `request_proposals` (which calls `requests`) so that the request lifecycle can
close proposals in its own transition without importing the module that imports it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from models import outbox
from models.actor import Actor
from models.audit import record
from models.tables import RequestProposal, SupportRequest


class ProposalStatus(StrEnum):
    open = "open"
    chosen = "chosen"
    declined = "declined"
    expired = "expired"  # a newer proposal replaced it
    withdrawn = "withdrawn"  # the request left `approved` (scheduled, cancelled) by another way


# What is still to be said about choosing dates; moot once the request has moved on.
DATE_TEMPLATES = {"request_proposal", "request_dates_declined"}


def withdraw_open(session: Session, request: SupportRequest, by: Actor, now: datetime) -> None:
    """Dates can be chosen only for an approved request: when it is scheduled (other than by
    choosing), rejected or cancelled, its open proposal is withdrawn and what has not yet
    gone out about choosing dates is cancelled, in the transition's transaction. A later
    press or answer on the proposal is told what became of the request."""
    assert request.id is not None
    found = session.exec(
        select(RequestProposal)
        .where(
            RequestProposal.request_id == request.id,
            col(RequestProposal.status) == ProposalStatus.open.value,
        )
        .with_for_update()
    ).all()
    for proposal in found:
        proposal.status = ProposalStatus.withdrawn.value
        proposal.decided_by = by.name
        proposal.decided_at = now
        session.add(proposal)
        record(
            session,
            by,
            now,
            "request.dates_withdrawn",
            request.ref,
            {"proposal": proposal.id, "status": request.status},
        )
    if found:
        session.flush()
    outbox.cancel_pending(session, ("request", request.id), now, DATE_TEMPLATES)
