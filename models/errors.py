"""Typed domain errors.

Each carries a `code` and the facts a channel needs to explain it; the
sentence itself lives in `templates/<lang>/errors.j2` under the same name,
so the CLI, Slack and mail all say the same thing in the reader's language.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class DomainError(Exception):
    code: str = "domain_error"

    def __init__(self, **params: Any) -> None:
        super().__init__(f"{self.code}: {params}")
        self.params = params


class UnknownRegion(DomainError):
    code = "unknown_region"

    def __init__(self, region: str) -> None:
        super().__init__(region=region)


class UnknownPeriod(DomainError):
    code = "unknown_period"

    def __init__(self, period: str, known: list[str]) -> None:
        super().__init__(period=period, known=known)


class NoCurrentPeriod(DomainError):
    code = "no_current_period"

    def __init__(self, today: str) -> None:
        super().__init__(today=today)


class NoAllowance(DomainError):
    code = "no_allowance"

    def __init__(self, region: str, period: str, kind: str) -> None:
        super().__init__(region=region, period=period, kind=kind)


class UnknownRequest(DomainError):
    code = "unknown_request"

    def __init__(self, ref: str) -> None:
        super().__init__(ref=ref)


class InvalidQuantity(DomainError):
    """Not a number, not a half-day step, or zero/negative where that is not allowed."""

    code = "invalid_quantity"

    def __init__(self, value: str, kind: str, problem: str) -> None:
        # problem: not_a_number | not_half_day | not_whole | not_positive | too_large
        super().__init__(value=value, kind=kind, problem=problem)


class InsufficientBalance(DomainError):
    code = "insufficient_balance"

    def __init__(
        self, region: str, period: str, kind: str, requested: Decimal, available: Decimal
    ) -> None:
        super().__init__(
            region=region, period=period, kind=kind, requested=requested, available=available
        )


class AdjustBelowCommitted(DomainError):
    code = "adjust_below_committed"

    def __init__(
        self, region: str, kind: str, requested: Decimal, available: Decimal, committed: Decimal
    ) -> None:
        super().__init__(
            region=region, kind=kind, requested=requested, available=available, committed=committed
        )


class ExceedsReservation(DomainError):
    code = "exceeds_reservation"

    def __init__(self, ref: str, requested: Decimal, reserved: Decimal) -> None:
        super().__init__(ref=ref, requested=requested, reserved=reserved)


class IllegalTransition(DomainError):
    code = "illegal_transition"

    def __init__(self, ref: str, current: str, target: str) -> None:
        super().__init__(ref=ref, current=current, target=target)


class InvalidRequest(DomainError):
    """A field of a request that cannot be accepted (`field`, `problem`)."""

    code = "invalid_request"

    def __init__(self, field: str, problem: str, value: str = "") -> None:
        super().__init__(field=field, problem=problem, value=value)


class UnknownSupporter(DomainError):
    code = "unknown_supporter"

    def __init__(self, supporter: str) -> None:
        super().__init__(supporter=supporter)


class AlreadyProcessed(DomainError):
    code = "already_processed"

    def __init__(self, source: str, external_id: str) -> None:
        super().__init__(source=source, external_id=external_id)


class NotAllowed(DomainError):
    """The person may not do this (another region's data, or a team-only action)."""

    code = "not_allowed"

    def __init__(self, action: str, region: str = "") -> None:
        super().__init__(action=action, region=region)


class UnknownMeeting(DomainError):
    code = "unknown_meeting"

    def __init__(self, meeting: str) -> None:
        super().__init__(meeting=meeting)


class InvalidMeeting(DomainError):
    """A field of a meeting that cannot be accepted (`field`, `problem`)."""

    code = "invalid_meeting"

    def __init__(self, field: str, problem: str, value: str = "") -> None:
        super().__init__(field=field, problem=problem, value=value)


class MeetingClosed(DomainError):
    """No registration or promotion: `reason` is deadline_passed, started or cancelled."""

    code = "meeting_closed"

    def __init__(self, meeting: str, reason: str) -> None:
        super().__init__(meeting=meeting, reason=reason)


class AlreadyRegistered(DomainError):
    code = "already_registered"

    def __init__(self, meeting: str, email: str, status: str, place: int | None) -> None:
        super().__init__(meeting=meeting, email=email, status=status, place=place)


class UnknownRegistration(DomainError):
    code = "unknown_registration"

    def __init__(self, meeting: str, email: str) -> None:
        super().__init__(meeting=meeting, email=email)


class CapacityBelowRegistered(DomainError):
    code = "capacity_below_registered"

    def __init__(self, meeting: str, capacity: int, registered: int) -> None:
        super().__init__(meeting=meeting, capacity=capacity, registered=registered)


# --- creating and changing meetings ---


# --- supporters' absences ---


class InvalidAbsence(DomainError):
    """An absence that cannot be recorded (`field`, `problem`, `value`).

    problem: reversed (ends before it starts), too_long (the reason), same_person,
    inactive, coordinator (the stand-in does not do the work), absent (the
    stand-in is away then; `value` is "start/end" of that absence).
    """

    code = "invalid_absence"

    def __init__(self, field: str, problem: str, value: str = "") -> None:
        super().__init__(field=field, problem=problem, value=value)


class AbsenceOverlap(DomainError):
    code = "absence_overlap"

    def __init__(
        self,
        supporter: str,
        starts_on: str,
        ends_on: str,
        existing: int,
        ex_start: str,
        ex_end: str,
    ) -> None:
        super().__init__(
            supporter=supporter,
            starts_on=starts_on,
            ends_on=ends_on,
            existing=existing,
            ex_start=ex_start,
            ex_end=ex_end,
        )


class UnknownAbsence(DomainError):
    code = "unknown_absence"

    def __init__(self, absence: str) -> None:
        super().__init__(absence=absence)


# --- critical-friend visits ---


class UnknownVisit(DomainError):
    code = "unknown_visit"

    def __init__(self, visit: str) -> None:
        super().__init__(visit=visit)


class UnknownProposal(DomainError):
    code = "unknown_proposal"

    def __init__(self, proposal: str) -> None:
        super().__init__(proposal=proposal)


class ProposalClosed(DomainError):
    """The proposal was answered already, or replaced (`status`: chosen/declined/expired)."""

    code = "proposal_closed"

    def __init__(self, proposal: str, status: str) -> None:
        super().__init__(proposal=proposal, status=status)


class InvalidSlot(DomainError):
    """`problem`: no_such_option | past | taken (the supporter has no room that day any more)."""

    code = "invalid_slot"

    def __init__(self, proposal: str, option: str, problem: str) -> None:
        super().__init__(proposal=proposal, option=option, problem=problem)


class VisitState(DomainError):
    """The visit is not in a state for this (`action`), e.g. confirming a cancelled visit."""

    code = "visit_state"

    def __init__(self, visit: str, status: str, action: str) -> None:
        super().__init__(visit=visit, status=status, action=action)


# --- dates proposed for a support request ---


class InvalidDates(DomainError):
    """Dates for a request that cannot be proposed or chosen (`problem`, `option`, `value`).

    problem: status (the request is `value`, not approved), no_supporter, not_assigned
    (only the assigned supporter or the team), no_options, too_many_options, count
    (`value` days needed), duplicate / past / outside_period / overlap (the day `value`),
    taken (the supporter is no longer free on `value`).
    """

    code = "invalid_dates"

    def __init__(self, ref: str, problem: str, option: int = 0, value: str = "") -> None:
        super().__init__(ref=ref, problem=problem, option=option, value=value)
