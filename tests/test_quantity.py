"""Exact quantities: parsing days and visits into integer units and back."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from models.errors import InvalidQuantity
from models.quantity import MAX_UNITS, from_units, json_number, to_units
from models.types import AllowanceKind

DAYS = AllowanceKind.support_days
VISITS = AllowanceKind.cf_visits


def _problem(value: str | int | Decimal, kind: AllowanceKind, **kwargs: bool) -> str:
    with pytest.raises(InvalidQuantity) as caught:
        to_units(value, kind, **kwargs)
    assert caught.value.code == "invalid_quantity"
    assert caught.value.params["value"] == str(value)
    assert caught.value.params["kind"] == kind
    problem = caught.value.params["problem"]
    assert isinstance(problem, str)
    return problem


# --- to_units: what is accepted ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "units"),
    [
        ("1,5", 3),
        ("1.5", 3),
        (" 1,5 ", 3),
        ("0,5", 1),
        ("0.50", 1),
        ("2", 4),
        ("2,0", 4),
        (2, 4),
        (Decimal("0.5"), 1),
        (Decimal("2.5"), 5),
        ("1E+1", 20),
        ("366", MAX_UNITS),
    ],
)
def test_support_days_in_half_day_units(value: str | int | Decimal, units: int) -> None:
    assert to_units(value, DAYS) == units


@pytest.mark.parametrize(("value", "units"), [("1", 1), ("3", 3), (4, 4), ("2,0", 2)])
def test_visits_are_counted_one_by_one(value: str | int, units: int) -> None:
    assert to_units(value, VISITS) == units


@pytest.mark.parametrize(("value", "units"), [("-1", -2), ("-0,5", -1), ("-1.5", -3)])
def test_negative_allowed_when_asked(value: str, units: int) -> None:
    assert to_units(value, DAYS, allow_negative=True) == units


def test_negative_visits_allowed_when_asked() -> None:
    assert to_units("-2", VISITS, allow_negative=True) == -2


# --- to_units: what is refused -------------------------------------------------------------


@pytest.mark.parametrize("value", ["0,3", "0.3", "1,25", "0.1", "2,75", "1e-1000000"])
def test_not_a_half_day_step(value: str) -> None:
    assert _problem(value, DAYS) == "not_half_day"


@pytest.mark.parametrize("value", ["0,5", "1.5", "0.3", "2,25"])
def test_visits_must_be_whole(value: str) -> None:
    assert _problem(value, VISITS) == "not_whole"


@pytest.mark.parametrize("value", ["-1", "-0,5", -3, Decimal("-1")])
def test_negative_refused_by_default(value: str | int | Decimal) -> None:
    assert _problem(value, DAYS) == "not_positive"


@pytest.mark.parametrize("value", ["0", "0,0", "-0", "0.00", 0])
def test_zero_refused(value: str | int) -> None:
    assert _problem(value, DAYS) == "not_positive"
    assert _problem(value, VISITS) == "not_positive"


def test_zero_refused_even_when_negative_allowed() -> None:
    assert _problem("0", DAYS, allow_negative=True) == "not_positive"


@pytest.mark.parametrize(
    "value",
    ["abc", "NaN", "nan", "sNaN", "inf", "-inf", "Infinity", "", "  ", "1,5,0", "1.000,5", "1/2"],
)
def test_not_a_number(value: str) -> None:
    assert _problem(value, DAYS) == "not_a_number"
    assert _problem(value, VISITS) == "not_a_number"


@pytest.mark.parametrize(
    "value", ["366,5", "367", "1000", "1e30", "1e100", "1e4000", "1e999999", "-1e999999"]
)
def test_too_large_days(value: str) -> None:
    assert _problem(value, DAYS) == "too_large"


def test_too_large_negative_adjustment() -> None:
    assert _problem("-367", DAYS, allow_negative=True) == "too_large"


def test_too_large_visits() -> None:
    assert to_units(str(MAX_UNITS), VISITS) == MAX_UNITS
    assert _problem(str(MAX_UNITS + 1), VISITS) == "too_large"


@pytest.mark.parametrize("kind", [DAYS, VISITS])
def test_huge_exponent_is_too_large_not_a_crash(kind: AllowanceKind) -> None:
    # Regression: this raised decimal.Overflow (arithmetic under the default context).
    assert _problem("1e1000000", kind) == "too_large"
    assert _problem("-1e1000000", kind, allow_negative=True) == "too_large"


@pytest.mark.parametrize(
    "value",
    ["1e-2000000", "0e1000000", "-0e-9999999", "9.999e3", "1e-30", "5e-31", "1e+999999999"],
)
@pytest.mark.parametrize("kind", [DAYS, VISITS])
def test_odd_exponents_are_refused_never_crash(value: str, kind: AllowanceKind) -> None:
    with pytest.raises(InvalidQuantity):
        to_units(value, kind, allow_negative=True)


def test_large_exponent_is_refused_quickly() -> None:
    # Refused on magnitude, before any million-digit integer is built.
    started = time.perf_counter()
    assert _problem("1e200000", DAYS) == "too_large"
    assert time.perf_counter() - started < 0.2


# --- from_units and json_number ------------------------------------------------------------


def test_from_units_half_days() -> None:
    assert from_units(3, DAYS) == Decimal("1.5")
    assert str(from_units(3, DAYS)) == "1.5"
    assert from_units(1, DAYS) == Decimal("0.5")


def test_from_units_whole_days_print_without_fraction() -> None:
    assert from_units(4, DAYS) == Decimal("2")
    assert str(from_units(4, DAYS)) == "2"
    # 20 / 2 would print as "1E+1" without normalising.
    assert str(from_units(20, DAYS)) == "10"
    assert str(from_units(0, DAYS)) == "0"


def test_from_units_negative_and_visits() -> None:
    assert from_units(-3, DAYS) == Decimal("-1.5")
    assert str(from_units(10, VISITS)) == "10"
    assert from_units(3, "cf_visits") == Decimal(3)
    assert from_units(3, "support_days") == Decimal("1.5")


def test_round_trip_over_the_whole_range() -> None:
    for units in range(-MAX_UNITS, MAX_UNITS + 1):
        if units == 0:
            continue
        days = from_units(units, DAYS)
        assert to_units(days, DAYS, allow_negative=True) == units
        assert to_units(str(days).replace(".", ","), DAYS, allow_negative=True) == units
        assert to_units(from_units(units, VISITS), VISITS, allow_negative=True) == units


def test_json_number() -> None:
    whole = json_number(Decimal("2"))
    assert whole == 2
    assert isinstance(whole, int)
    half = json_number(Decimal("2.5"))
    assert half == 2.5
    assert isinstance(half, float)
    assert json_number(from_units(3, DAYS)) == 1.5
    assert isinstance(json_number(from_units(4, DAYS)), int)
    assert json_number(Decimal("-0.5")) == -0.5
    zero = json_number(Decimal("0"))
    assert zero == 0
    assert isinstance(zero, int)
