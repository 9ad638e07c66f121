"""The quota ledger: every change to an allowance is an appended entry.

Balances are derived by summing entries, so they cannot drift. Every
operation that can lower `available` first locks the allowance row (FOR
UPDATE on PostgreSQL; SQLite holds its write lock from BEGIN IMMEDIATE),
then reads the balance, then writes: so `available` never goes negative,
whatever runs at the same time.

    granted   = grant + adjust - expire
    reserved  = reserve - release - consume
    used      = consume
    available = granted - reserved - used

Appending an entry also asks for the App Homes of the region (models/homes.py),
in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from models import homes
from models.actor import Actor
from models.errors import AdjustBelowCommitted, ExceedsReservation, InsufficientBalance, NoAllowance
from models.quantity import from_units
from models.tables import Allowance, LedgerEntry, Period, Region
from models.types import AllowanceKind, LedgerOp


@dataclass(frozen=True)
class Balance:
    kind: AllowanceKind
    granted: int
    reserved: int
    used: int

    @property
    def available(self) -> int:
        return self.granted - self.reserved - self.used

    @classmethod
    def from_sums(cls, kind: AllowanceKind, sums: Mapping[str, int]) -> Balance:
        """Derive the balance from the per-operation totals of the ledger."""

        def g(op: LedgerOp) -> int:
            return sums.get(op.value, 0)

        return cls(
            kind=kind,
            granted=g(LedgerOp.grant) + g(LedgerOp.adjust) - g(LedgerOp.expire),
            reserved=g(LedgerOp.reserve) - g(LedgerOp.release) - g(LedgerOp.consume),
            used=g(LedgerOp.consume),
        )

    def amount(self, field: str) -> Decimal:
        """A field in days or visits, e.g. `balance.amount("available")`."""
        return from_units(int(getattr(self, field)), self.kind)


def _sums_statement(by_request: bool, by_visit: bool) -> Any:
    query = (
        select(LedgerEntry.op, func.coalesce(func.sum(LedgerEntry.units), 0))
        .where(col(LedgerEntry.allowance_id) == bindparam("allowance_id"))
        .group_by(LedgerEntry.op)
    )
    if by_request:
        query = query.where(col(LedgerEntry.request_id) == bindparam("request_id"))
    if by_visit:
        query = query.where(col(LedgerEntry.visit_id) == bindparam("visit_id"))
    return query


# Built once: every reservation and balance sums the ledger, and building the
# statement cost as much as running it.
_SUMS = {(r, v): _sums_statement(r, v) for r in (False, True) for v in (False, True)}


def _sums(
    session: Session, allowance_id: int, request_id: int | None = None, visit_id: int | None = None
) -> dict[str, int]:
    query = _SUMS[(request_id is not None, visit_id is not None)]
    params: dict[str, int] = {"allowance_id": allowance_id}
    if request_id is not None:
        params["request_id"] = request_id
    if visit_id is not None:
        params["visit_id"] = visit_id
    session.flush()  # entries added but not yet flushed count, as with the ORM's autoflush
    rows = session.connection().execute(query, params).all()
    return {str(op): int(total) for op, total in rows}


def balance_of(session: Session, allowance: Allowance) -> Balance:
    assert allowance.id is not None
    return Balance.from_sums(AllowanceKind(allowance.kind), _sums(session, allowance.id))


def _still_held(sums: Mapping[str, int]) -> int:
    return sums.get("reserve", 0) - sums.get("release", 0) - sums.get("consume", 0)


def reserved_for(session: Session, allowance_id: int, request_id: int) -> int:
    return _still_held(_sums(session, allowance_id, request_id))


def find_allowance(
    session: Session, region: Region, period: Period, kind: AllowanceKind, *, lock: bool = False
) -> Allowance:
    query = select(Allowance).where(
        Allowance.region_id == region.id,
        Allowance.period_id == period.id,
        Allowance.kind == kind.value,
    )
    if lock:
        query = query.with_for_update()
    allowance = session.exec(query).first()
    if allowance is None:
        raise NoAllowance(region.code, period.code, kind)
    return allowance


def ensure_allowance(
    session: Session, region: Region, period: Period, kind: AllowanceKind
) -> Allowance:
    try:
        return find_allowance(session, region, period, kind)
    except NoAllowance:
        assert region.id is not None and period.id is not None
        allowance = Allowance(region_id=region.id, period_id=period.id, kind=kind.value)
        session.add(allowance)
        session.flush()
        return allowance


def _lock(session: Session, allowance_id: int) -> Allowance:
    # populate_existing: a row cached earlier in this session would hide a concurrent change.
    query = select(Allowance).where(Allowance.id == allowance_id).with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).one()


def _append(
    session: Session,
    allowance: Allowance,
    op: LedgerOp,
    units: int,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
    request_id: int | None = None,
    dedupe_key: str | None = None,
    visit_id: int | None = None,
) -> LedgerEntry:
    assert allowance.id is not None
    entry = LedgerEntry(
        allowance_id=allowance.id,
        op=op.value,
        units=units,
        request_id=request_id,
        visit_id=visit_id,
        actor=by.name,
        channel=by.channel.value,
        reason=reason,
        created_at=now,
        dedupe_key=dedupe_key,
    )
    session.add(entry)
    session.flush()
    # Every balance change passes here: the homes that show this region follow it.
    homes.region_changed(session, allowance.region_id, now)
    return entry


def _labels(session: Session, allowance: Allowance) -> tuple[str, str]:
    region = session.get(Region, allowance.region_id)
    period = session.get(Period, allowance.period_id)
    assert region is not None and period is not None
    return region.code, period.code


def grant(
    session: Session,
    allowance_id: int,
    units: int,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
    dedupe_key: str | None = None,
) -> LedgerEntry | None:
    """Grant units; with a `dedupe_key` a second grant under the same key does nothing."""
    if units <= 0:
        raise ValueError("a grant is positive")
    allowance = _lock(session, allowance_id)
    if (
        dedupe_key is not None
        and session.exec(select(LedgerEntry.id).where(LedgerEntry.dedupe_key == dedupe_key)).first()
    ):
        return None
    return _append(
        session, allowance, LedgerOp.grant, units, by, now, reason=reason, dedupe_key=dedupe_key
    )


def reserve(
    session: Session, allowance_id: int, units: int, request_id: int, by: Actor, now: datetime
) -> LedgerEntry:
    """Hold units for a request, or refuse with what is left."""
    if units <= 0:
        raise ValueError("a reservation is positive")
    allowance = _lock(session, allowance_id)
    require_available(session, allowance, units)
    return _append(session, allowance, LedgerOp.reserve, units, by, now, request_id=request_id)


def require_available(session: Session, allowance: Allowance, units: int) -> Balance:
    """Refuse, saying what is left, when `units` do not fit (call with the row locked)."""
    balance = balance_of(session, allowance)
    if units > balance.available:
        region, period = _labels(session, allowance)
        raise InsufficientBalance(
            region,
            period,
            allowance.kind,
            from_units(units, allowance.kind),
            balance.amount("available"),
        )
    return balance


def release(
    session: Session,
    allowance_id: int,
    request_id: int,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
) -> LedgerEntry | None:
    """Give back everything still reserved for the request (nothing when nothing is)."""
    return _settle_held(
        session, allowance_id, LedgerOp.release, by, now, reason=reason, request_id=request_id
    )


def _settle_held(
    session: Session,
    allowance_id: int,
    op: LedgerOp,
    by: Actor,
    now: datetime,
    *,
    reason: str,
    request_id: int | None = None,
    visit_id: int | None = None,
) -> LedgerEntry | None:
    """Turn all a request or a visit still holds into `op` (release or consume), under the
    allowance's lock; nothing when it holds nothing."""
    allowance = _lock(session, allowance_id)
    held = _still_held(_sums(session, allowance_id, request_id, visit_id))
    if held <= 0:
        return None
    return _append(
        session,
        allowance,
        op,
        held,
        by,
        now,
        reason=reason,
        request_id=request_id,
        visit_id=visit_id,
    )


def consume(
    session: Session,
    allowance_id: int,
    request_id: int,
    units: int,
    by: Actor,
    now: datetime,
    *,
    ref: str = "",
    reason: str = "",
) -> LedgerEntry | None:
    """Turn reserved units of a request into used ones (never more than it holds)."""
    if units < 0:
        raise ValueError("consumption is not negative")
    allowance = _lock(session, allowance_id)
    held = reserved_for(session, allowance_id, request_id)
    if units > held:
        raise ExceedsReservation(
            ref, from_units(units, allowance.kind), from_units(held, allowance.kind)
        )
    if units == 0:
        return None
    return _append(
        session, allowance, LedgerOp.consume, units, by, now, reason=reason, request_id=request_id
    )


def adjust(
    session: Session, allowance_id: int, units: int, by: Actor, now: datetime, *, reason: str
) -> LedgerEntry:
    """Grant more (positive) or take back (negative), never below what is reserved and used."""
    if units == 0:
        raise ValueError("an adjustment changes something")
    allowance = _lock(session, allowance_id)
    balance = balance_of(session, allowance)
    if units < 0 and -units > balance.available:
        region, _ = _labels(session, allowance)
        raise AdjustBelowCommitted(
            region,
            allowance.kind,
            from_units(-units, allowance.kind),
            balance.amount("available"),
            from_units(balance.reserved + balance.used, allowance.kind),
        )
    return _append(session, allowance, LedgerOp.adjust, units, by, now, reason=reason)


def expire(
    session: Session,
    allowance_id: int,
    by: Actor,
    now: datetime,
    *,
    rollover_to: int | None = None,
    rollover_cap: int = 0,
    reason: str = "",
) -> tuple[int, int]:
    """Expire what is still available; optionally carry up to `rollover_cap` units over.

    Returns (expired units, rolled-over units). Reservations are left alone:
    a request that is still open keeps its days.
    """
    # Lock both rows in id order so two roll-overs cannot deadlock.
    ids = sorted(x for x in (allowance_id, rollover_to) if x is not None)
    locked = {a: _lock(session, a) for a in ids}
    allowance = locked[allowance_id]
    available = balance_of(session, allowance).available
    if available <= 0:
        return 0, 0
    _append(session, allowance, LedgerOp.expire, available, by, now, reason=reason)
    carried = 0
    if rollover_to is not None and rollover_cap > 0:
        # Units freed after an earlier expiry may roll over too, but never past the cap.
        prefix = f"rollover:{allowance_id}->{rollover_to}:"
        earlier = session.exec(
            select(LedgerEntry.units).where(
                LedgerEntry.allowance_id == rollover_to,
                col(LedgerEntry.dedupe_key).startswith(prefix),
            )
        ).all()
        carried = max(0, min(available, rollover_cap - sum(earlier)))
        if carried:
            _append(
                session,
                locked[rollover_to],
                LedgerOp.grant,
                carried,
                by,
                now,
                reason=reason or "rollover",
                dedupe_key=f"{prefix}{len(earlier) + 1}",
            )
    return available, carried


def history(session: Session, allowance_id: int) -> list[LedgerEntry]:
    return list(
        session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.allowance_id == allowance_id)
            .order_by(col(LedgerEntry.id))
        ).all()
    )


# --- critical-friend visits: one unit per visit, held under the visit's id ---


def reserved_for_visit(session: Session, allowance_id: int, visit_id: int) -> int:
    return _still_held(_sums(session, allowance_id, visit_id=visit_id))


def reserve_visit(
    session: Session, allowance_id: int, visit_id: int, by: Actor, now: datetime
) -> LedgerEntry | None:
    """Hold one visit for a scheduled visit (nothing when it already holds one)."""
    allowance = _lock(session, allowance_id)
    if reserved_for_visit(session, allowance_id, visit_id) > 0:
        return None
    require_available(session, allowance, 1)
    return _append(session, allowance, LedgerOp.reserve, 1, by, now, visit_id=visit_id)


def release_visit(
    session: Session,
    allowance_id: int,
    visit_id: int,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
) -> LedgerEntry | None:
    """Give back what a visit holds (nothing when it holds nothing)."""
    return _settle_held(
        session, allowance_id, LedgerOp.release, by, now, reason=reason, visit_id=visit_id
    )


def consume_visit(
    session: Session,
    allowance_id: int,
    visit_id: int,
    by: Actor,
    now: datetime,
    *,
    reason: str = "",
) -> LedgerEntry | None:
    """The visit took place: what it holds becomes used."""
    return _settle_held(
        session, allowance_id, LedgerOp.consume, by, now, reason=reason, visit_id=visit_id
    )
