"""Exact quantities: support days in half-day steps, visits as whole numbers.

The database keeps integers in the allowance's unit (half days, visits), so
no float ever touches a balance.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from models.errors import InvalidQuantity
from models.types import AllowanceKind

UNITS_PER = {AllowanceKind.support_days: 2, AllowanceKind.cf_visits: 1}
MAX_UNITS = 2 * 366  # a year of whole days: anything larger is a typo


def to_units(
    value: str | int | Decimal, kind: AllowanceKind, *, allow_negative: bool = False
) -> int:
    """Parse "1,5", "1.5", 2 or Decimal("0.5") into units; refuse what is not exact."""
    text = str(value).strip().replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidQuantity(str(value), kind, "not_a_number") from None
    if not amount.is_finite():
        raise InvalidQuantity(str(value), kind, "not_a_number")
    # `adjusted()` reads the exponent without arithmetic: 1e1000000 would overflow abs().
    if (amount and amount.adjusted() >= 4) or abs(amount) > MAX_UNITS:
        raise InvalidQuantity(str(value), kind, "too_large")
    scaled = amount * UNITS_PER[kind]
    if scaled != scaled.to_integral_value():
        problem = "not_half_day" if kind is AllowanceKind.support_days else "not_whole"
        raise InvalidQuantity(str(value), kind, problem)
    units = int(scaled)
    if units == 0 or (units < 0 and not allow_negative):
        raise InvalidQuantity(str(value), kind, "not_positive")
    if abs(units) > MAX_UNITS:
        raise InvalidQuantity(str(value), kind, "too_large")
    return units


def from_units(units: int, kind: AllowanceKind | str) -> Decimal:
    """Units back to days or visits: 3 half days -> Decimal("1.5"), 4 -> Decimal("2")."""
    amount = Decimal(units) / UNITS_PER[AllowanceKind(kind)]
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


def json_number(amount: Decimal) -> int | float:
    """A JSON number: whole amounts as integers, half days as x.5 (exact in binary)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)
