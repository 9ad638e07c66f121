"""Reading balances for many regions at once (the CLI table, App Home, digests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.ledger import Balance
from models.tables import Allowance, LedgerEntry, Period, Region
from models.types import AllowanceKind

LOW_UNITS = {AllowanceKind.support_days: 3, AllowanceKind.cf_visits: 1}


@dataclass(frozen=True)
class QuotaLine:
    region: Region
    period: Period
    balance: Balance


def overview(
    session: Session,
    period: Period,
    region: Region | None = None,
    *,
    codes: Sequence[str] | None = None,
) -> list[QuotaLine]:
    """The period's allowances with their balances (of one region, some codes, or all),
    in one aggregate query."""
    query = (
        select(Allowance, Region)
        .join(Region, col(Region.id) == col(Allowance.region_id))
        .where(Allowance.period_id == period.id)
    )
    if region is not None:
        query = query.where(Allowance.region_id == region.id)
    if codes is not None:
        query = query.where(col(Region.code).in_(list(codes)))
    rows = session.exec(query).all()
    if not rows:
        return []
    sums: dict[int, dict[str, int]] = {}
    totals = (
        select(LedgerEntry.allowance_id, LedgerEntry.op, func.sum(LedgerEntry.units))
        .join(Allowance, col(Allowance.id) == col(LedgerEntry.allowance_id))
        .where(col(LedgerEntry.allowance_id).in_([a.id for a, _ in rows]))
        .group_by(col(LedgerEntry.allowance_id), col(LedgerEntry.op))
    )
    for allowance_id, op, total in session.exec(totals).all():
        sums.setdefault(allowance_id, {})[op] = int(total or 0)
    lines = []
    for allowance, reg in rows:
        assert allowance.id is not None
        balance = Balance.from_sums(AllowanceKind(allowance.kind), sums.get(allowance.id, {}))
        lines.append(QuotaLine(reg, period, balance))
    order = {AllowanceKind.support_days: 0, AllowanceKind.cf_visits: 1}
    lines.sort(key=lambda line: (line.region.code, order[line.balance.kind]))
    return lines


def is_low(line: QuotaLine) -> bool:
    """Low: at most 1,5 day (or 1 visit) left, or less than a fifth of what was granted."""
    b = line.balance
    return b.granted > 0 and (b.available <= LOW_UNITS[b.kind] or b.available * 5 < b.granted)
