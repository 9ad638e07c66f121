"""Reading balances for many regions at once (the CLI table, App Home, digests, Slack).

Every balance shown anywhere goes through here, so this is one aggregate query in
plain Core: the period's allowances with their regions and the ledger totals per
operation (`available` is derived from the ledger, never a stored counter). The
statements are built once with parameters, so SQLAlchemy computes their cache keys
once and reuses the compiled SQL; rows become objects without the ORM's identity map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session

from models.ledger import Balance
from models.periods import period_on
from models.tables import Allowance, LedgerEntry, Period, Region
from models.types import AllowanceKind, LedgerOp

LOW_UNITS = {AllowanceKind.support_days: 3, AllowanceKind.cf_visits: 1}


@dataclass(frozen=True)
class QuotaLine:
    region: Region
    period: Period
    balance: Balance


_allowance = Allowance.__table__  # type: ignore[attr-defined]
_entry = LedgerEntry.__table__  # type: ignore[attr-defined]
_region = Region.__table__  # type: ignore[attr-defined]
_period = Period.__table__  # type: ignore[attr-defined]
_KIND_ORDER = {AllowanceKind.support_days: 0, AllowanceKind.cf_visits: 1}
_REGION_FIELDS = tuple(Region.model_fields)
_PERIOD_FIELDS = tuple(Period.model_fields)
_SUMS = tuple((op.value, f"sum_{op.value}") for op in LedgerOp)


def _statement(by_day: bool, region: bool, codes: bool) -> Select[Any]:
    def op_sum(op: str) -> Any:
        return func.coalesce(func.sum(case((_entry.c.op == op, _entry.c.units), else_=0)), 0)

    region_columns = [_region.c[name] for name in _REGION_FIELDS]
    period_columns = [_period.c[name] for name in _PERIOD_FIELDS]
    query = (
        select(
            _allowance.c.id.label("allowance_id"),
            _allowance.c.kind.label("allowance_kind"),
            *(c.label(f"region_{c.name}") for c in region_columns),
            *(c.label(f"period_{c.name}") for c in period_columns),
            *(op_sum(op).label(label) for op, label in _SUMS),
        )
        .select_from(
            _allowance.join(_region, _region.c.id == _allowance.c.region_id)
            .join(_period, _period.c.id == _allowance.c.period_id)
            .outerjoin(_entry, _entry.c.allowance_id == _allowance.c.id)
        )
        .group_by(_allowance.c.id, _allowance.c.kind, *region_columns, *period_columns)
    )
    if by_day:
        day = bindparam("day", type_=_period.c.starts_on.type)
        query = query.where(_period.c.starts_on <= day, _period.c.ends_on >= day)
    else:
        query = query.where(_allowance.c.period_id == bindparam("period_id"))
    if region:
        query = query.where(_allowance.c.region_id == bindparam("region_id"))
    if codes:
        query = query.where(_region.c.code.in_(bindparam("codes", expanding=True)))
    return query


_STATEMENTS = {
    (by_day, region, codes): _statement(by_day, region, codes)
    for by_day in (False, True)
    for region in (False, True)
    for codes in (False, True)
}


_mappers_ready = False


def _configure() -> None:
    """Objects built from rows need the ORM's mappers configured (the first ORM query
    would do it; a fresh process may not have run one yet)."""
    global _mappers_ready
    configure_mappers()
    _mappers_ready = True


def _lines(session: Session, params: dict[str, Any], region: bool, codes: bool) -> list[QuotaLine]:
    query = _STATEMENTS[("day" in params, region, codes)]
    if not _mappers_ready:
        _configure()
    regions: dict[int, Region] = {}  # one object per region and period, as the ORM gives
    periods: dict[int, Period] = {}
    lines = []
    for row in session.connection().execute(query, params).mappings():
        reg = regions.get(row["region_id"])
        if reg is None:
            fields = {name: row[f"region_{name}"] for name in _REGION_FIELDS}
            reg = regions[row["region_id"]] = Region.model_construct(**fields)
        per = periods.get(row["period_id"])
        if per is None:
            fields = {name: row[f"period_{name}"] for name in _PERIOD_FIELDS}
            per = periods[row["period_id"]] = Period.model_construct(**fields)
        sums = {op: int(row[label]) for op, label in _SUMS}
        lines.append(
            QuotaLine(reg, per, Balance.from_sums(AllowanceKind(row["allowance_kind"]), sums))
        )
    lines.sort(key=lambda line: (line.region.code, _KIND_ORDER[line.balance.kind]))
    return lines


def _params(region: Region | None, codes: Sequence[str] | None, **params: Any) -> dict[str, Any]:
    if region is not None:
        params["region_id"] = region.id
    if codes is not None:
        params["codes"] = list(codes)
    return params


def overview(
    session: Session,
    period: Period,
    region: Region | None = None,
    *,
    codes: Sequence[str] | None = None,
) -> list[QuotaLine]:
    """The period's allowances with their balances (of one region, some codes, or all),
    in one aggregate query, by region code, support days before visits. The lines
    carry `period` itself."""
    params = _params(region, codes, period_id=period.id)
    lines = _lines(session, params, region is not None, codes is not None)
    return [QuotaLine(line.region, period, line.balance) for line in lines]


def overview_on(
    session: Session,
    day: date,
    region: Region | None = None,
    *,
    codes: Sequence[str] | None = None,
) -> tuple[Period, list[QuotaLine]]:
    """`overview` of the period that contains `day`, found in the same query.

    Raises NoCurrentPeriod when no period contains `day`, as `periods.period_on` does.
    """
    params = _params(region, codes, day=day)
    lines = _lines(session, params, region is not None, codes is not None)
    if lines:
        return lines[0].period, lines
    # Nothing to show: a period without these allowances, or no period at all.
    return period_on(session, day), []


def is_low(line: QuotaLine) -> bool:
    """Low: at most 1,5 day (or 1 visit) left, or less than a fifth of what was granted."""
    b = line.balance
    return b.granted > 0 and (b.available <= LOW_UNITS[b.kind] or b.available * 5 < b.granted)
