"""Dates for a support request, proposed by its supporter the way visits are proposed.

The supporter assigned to an approved request (or the team) offers up to three
options, each the days the request needs (one per started day:
ceil(half_days / 2)). The requester, or when nobody is named the region's
contacts, gets them by Slack DM (a button per option and "none of these") or
by mail (answered with 1, 2, 3 or "geen"). Choosing schedules the request
through `requests.schedule` in the same transaction, so the usual scheduled
notification, with its calendar invitation, goes out; declining asks the
supporter to propose again. A new proposal replaces an open one.

Every verb takes the session (the caller owns the transaction), the actor and
`now`, locks the rows it changes, checks, then writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from models import outbox
from models import requests as rq
from models import supporters as sp
from models.actor import Actor
from models.audit import record
from models.errors import InvalidDates, InvalidSlot, ProposalClosed, UnknownProposal
from models.people import Person
from models.quantity import from_units
from models.request_proposal_state import ProposalStatus
from models.tables import Contact, Period, Region, RequestProposal, Supporter, SupportRequest
from models.types import AllowanceKind, RequestStatus

SUBJECT = "request"
MAX_OPTIONS = 3


# --- small helpers -----------------------------------------------------------------------


def days_needed(request: SupportRequest) -> int:
    """One day per started day: 3 half days need 2 days."""
    return math.ceil(request.half_days / 2)


def _encode(days: Sequence[date]) -> str:
    return ",".join(d.isoformat() for d in sorted(days))


def _decode(text: str | None) -> list[date]:
    return [date.fromisoformat(t) for t in (text or "").split(",") if t.strip()]


def options_of(proposal: RequestProposal) -> list[list[date]]:
    """The options of a proposal, in order, each its sorted days."""
    return [
        _decode(text)
        for text in (proposal.option_1, proposal.option_2, proposal.option_3)
        if text is not None
    ]


def proposal_key(proposal_id: int, contact_id: int) -> str:
    """The outbox key of a proposal to one contact (a mail answer finds its proposal by it)."""
    return f"request_proposal:{proposal_id}:contact:{contact_id}"


def get_proposal(session: Session, proposal_id: int, *, lock: bool = False) -> RequestProposal:
    query = select(RequestProposal).where(RequestProposal.id == proposal_id)
    if lock:
        query = query.with_for_update()
    proposal = session.exec(query).first()
    if proposal is None:
        raise UnknownProposal(str(proposal_id))
    if lock:
        session.refresh(proposal)
    return proposal


def open_proposal(session: Session, request_id: int) -> RequestProposal | None:
    return session.exec(
        select(RequestProposal)
        .where(
            RequestProposal.request_id == request_id,
            RequestProposal.status == ProposalStatus.open.value,
        )
        .order_by(col(RequestProposal.id).desc())
    ).first()


def recipients(session: Session, request: SupportRequest) -> list[Contact]:
    """Who chooses: the requester, or when none is known the region's contacts."""
    if request.requester_contact_id is not None:
        contact = session.get(Contact, request.requester_contact_id)
        if contact is not None:
            return [contact]
    return sp.region_contacts(session, request.region_id)


def region_code(session: Session, request_id: int) -> str:
    request = session.get(SupportRequest, request_id)
    assert request is not None
    region = session.get(Region, request.region_id)
    assert region is not None
    return region.code


def _context(
    session: Session, request: SupportRequest, supporter: Supporter, proposal: RequestProposal
) -> dict[str, Any]:
    """What a proposal message says (JSON: dates as ISO text)."""
    region = session.get(Region, request.region_id)
    assert region is not None
    return {
        "proposal_id": proposal.id,
        "request_id": request.id,
        "ref": request.ref,
        "region": region.code,
        "region_name": region.name,
        "supporter": supporter.name,
        "supporter_email": supporter.email,
        "days": str(from_units(request.half_days, AllowanceKind.support_days)),
        "kind": request.kind,
        "theme": request.theme,
        "options": [[d.isoformat() for d in option] for option in options_of(proposal)],
    }


def _check_options(
    session: Session, request: SupportRequest, options: Sequence[Sequence[date]], now: datetime
) -> list[list[date]]:
    """Each option: exactly the days needed, distinct, after today, within the request's
    period; two options share no day."""
    ref = request.ref
    if not options:
        raise InvalidDates(ref, "no_options")
    if len(options) > MAX_OPTIONS:
        raise InvalidDates(ref, "too_many_options", value=str(MAX_OPTIONS))
    region = session.get(Region, request.region_id)
    period = session.get(Period, request.period_id)
    assert region is not None and period is not None
    today = rq.region_today(region, now)
    needed = days_needed(request)
    seen: set[date] = set()
    checked = []
    for n, option in enumerate(options, 1):
        days = sorted(option)
        if len(set(days)) != len(days):
            dup = next(d for d in days if days.count(d) > 1)
            raise InvalidDates(ref, "duplicate", n, dup.isoformat())
        if len(days) != needed:
            raise InvalidDates(ref, "count", n, str(needed))
        for day in days:
            if day <= today:
                raise InvalidDates(ref, "past", n, day.isoformat())
            if not period.starts_on <= day <= period.ends_on:
                raise InvalidDates(ref, "outside_period", n, day.isoformat())
            if day in seen:
                raise InvalidDates(ref, "overlap", n, day.isoformat())
        seen.update(days)
        checked.append(days)
    return checked


# --- proposing ---------------------------------------------------------------------------


def require_proposer(request: SupportRequest, person: Person | None) -> None:
    """Dates can be proposed for an approved request with a supporter, by that supporter or
    the team (`person` None: the team's command line). A channel asks before it opens a form."""
    if request.status != RequestStatus.approved.value:
        raise InvalidDates(request.ref, "status", value=request.status)
    if request.assigned_supporter_id is None:
        raise InvalidDates(request.ref, "no_supporter")
    own = person is not None and person.kind == "supporter"
    if (
        person is not None
        and not person.is_team
        and not (own and person.id == request.assigned_supporter_id)
    ):
        raise InvalidDates(request.ref, "not_assigned")


def propose_dates(
    session: Session,
    ref: str,
    options: Sequence[Sequence[date]],
    by: Actor,
    now: datetime,
    *,
    person: Person | None = None,
    reason: str = "proposed",
) -> RequestProposal:
    """The assigned supporter (or the team) offers up to three sets of days.

    `person`: who asks, when a channel knows it (None: the team's command line).
    """
    request = rq.get_request(session, ref, lock=True)
    require_proposer(request, person)
    checked = _check_options(session, request, options, now)
    supporter = session.get(Supporter, request.assigned_supporter_id)
    assert supporter is not None and request.id is not None
    for older in session.exec(
        select(RequestProposal)
        .where(
            RequestProposal.request_id == request.id,
            RequestProposal.status == ProposalStatus.open.value,
        )
        .with_for_update()
    ).all():
        older.status = ProposalStatus.expired.value
        older.decided_at = now
        session.add(older)
    padded: list[str | None] = [_encode(o) for o in checked] + [None, None]
    proposal = RequestProposal(
        request_id=request.id,
        supporter_id=supporter.id or 0,
        option_1=padded[0] or "",
        option_2=padded[1],
        option_3=padded[2],
        status=ProposalStatus.open.value,
        proposed_by=by.name,
        created_at=now,
    )
    session.add(proposal)
    session.flush()
    assert proposal.id is not None
    context = {**_context(session, request, supporter, proposal), "reason": reason}
    for contact in recipients(session, request):
        assert contact.id is not None
        outbox.to_contact(
            session,
            contact,
            key=proposal_key(proposal.id, contact.id),
            template="request_proposal",
            now=now,
            context=context,
            subject=(SUBJECT, request.id),
        )
    record(
        session,
        by,
        now,
        "request.dates_proposed",
        request.ref,
        {"proposal": proposal.id, "options": context["options"]},
    )
    return proposal


# --- choosing, declining -----------------------------------------------------------------


def _open(session: Session, proposal_id: int) -> tuple[RequestProposal, SupportRequest]:
    """The open proposal and its request, both locked: the request first, as `propose_dates`
    does, so a choice and a new proposal for one request wait for each other in turn."""
    request_id = get_proposal(session, proposal_id).request_id
    request = session.exec(
        select(SupportRequest).where(SupportRequest.id == request_id).with_for_update()
    ).one()
    session.refresh(request)
    proposal = get_proposal(session, proposal_id, lock=True)
    if proposal.status == ProposalStatus.withdrawn.value:
        # The request moved on without it: say what became of the request.
        raise InvalidDates(request.ref, "status", value=request.status)
    if proposal.status != ProposalStatus.open.value:
        raise ProposalClosed(str(proposal_id), proposal.status)
    return proposal, request


def _require_free(session: Session, request: SupportRequest, days: list[date], option: int) -> None:
    """The supporter is not away and not planned elsewhere on any of these days (their row
    locked first, so two choices for one supporter are checked in turn)."""
    supporter = session.exec(
        select(Supporter).where(Supporter.id == request.assigned_supporter_id).with_for_update()
    ).one()
    assert supporter.id is not None
    planned = sp.planned_days(
        session, supporter.id, days[0], days[-1], exclude_request_id=request.id
    )
    for day in days:
        if day in planned or sp.absent_on(session, supporter.id, day) is not None:
            raise InvalidDates(request.ref, "taken", option, day.isoformat())


def choose_dates(
    session: Session, proposal_id: int, option: int, by: Actor, now: datetime
) -> SupportRequest:
    """The requester picks option 1, 2 or 3: the request is scheduled on those days."""
    proposal, request = _open(session, proposal_id)
    options = options_of(proposal)
    if not 1 <= option <= len(options):
        raise InvalidSlot(str(proposal_id), str(option), "no_such_option")
    days = options[option - 1]
    if request.status != RequestStatus.approved.value:
        raise InvalidDates(request.ref, "status", value=request.status)
    region = session.get(Region, request.region_id)
    assert region is not None
    today = rq.region_today(region, now)
    for day in days:
        if day <= today:
            raise InvalidDates(request.ref, "past", option, day.isoformat())
    _require_free(session, request, days, option)
    # Chosen before scheduling: scheduling withdraws what is still open.
    proposal.status = ProposalStatus.chosen.value
    proposal.chosen = option
    proposal.decided_by = by.name
    proposal.decided_at = now
    session.add(proposal)
    session.flush()
    scheduled = rq.schedule(session, request.ref, by, now, days=days)
    record(
        session,
        by,
        now,
        "request.dates_chosen",
        request.ref,
        {"proposal": proposal_id, "option": option, "days": [d.isoformat() for d in days]},
    )
    return scheduled


def decline_dates(session: Session, proposal_id: int, by: Actor, now: datetime) -> RequestProposal:
    """None of the options suits: the supporter is asked to propose new dates."""
    proposal, request = _open(session, proposal_id)
    if request.status != RequestStatus.approved.value:
        raise InvalidDates(request.ref, "status", value=request.status)
    proposal.status = ProposalStatus.declined.value
    proposal.decided_by = by.name
    proposal.decided_at = now
    session.add(proposal)
    session.flush()
    supporter = session.get(Supporter, proposal.supporter_id)
    assert supporter is not None and request.id is not None
    context = _context(session, request, supporter, proposal)
    outbox.to_supporter(
        session,
        supporter,
        key=f"request_proposal:{proposal_id}:declined",
        template="request_dates_declined",
        now=now,
        context=context,
        subject=(SUBJECT, request.id),
    )
    record(session, by, now, "request.dates_declined", request.ref, {"proposal": proposal_id})
    return proposal


# --- reading -----------------------------------------------------------------------------


def describe(session: Session, proposal: RequestProposal) -> dict[str, Any]:
    request = session.get(SupportRequest, proposal.request_id)
    supporter = session.get(Supporter, proposal.supporter_id)
    assert request is not None and supporter is not None
    return {
        "id": proposal.id,
        "ref": request.ref,
        "supporter": supporter.name,
        "status": proposal.status,
        "chosen": proposal.chosen,
        "options": options_of(proposal),
        "recipients": [c.email for c in recipients(session, request)],
    }
