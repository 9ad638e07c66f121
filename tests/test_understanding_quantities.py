"""Amounts of support days in request text, as half-day units (1 day = 2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.understanding.quantities import Quantity, QuantityProblem, find_quantity

P = QuantityProblem


@pytest.mark.parametrize(
    ("text", "half_days"),
    [
        # Dutch
        ("2 dagen", 4),
        ("twee dagen", 4),
        ("een dag", 2),
        ("één dag", 2),
        ("Eén dag", 2),
        ("1 dag", 2),
        ("een halve dag", 1),
        ("halve dag", 1),
        ("twee halve dagen", 2),
        ("anderhalve dag", 3),
        ("anderhalf dag", 3),
        ("1,5 dag", 3),
        ("1.5 dagen", 3),
        ("2,5 dag", 5),
        ("0,5 dag", 1),
        ("2½ dag", 5),
        ("tweeënhalve dag", 5),
        ("twee en een halve dag", 5),
        ("drie dagdelen", 3),
        ("een dagdeel", 1),
        ("2x een dagdeel", 2),
        ("2 x een halve dag", 2),
        ("een ochtend", 1),
        ("een middag", 1),
        ("twee middagen", 2),
        ("twee hele dagen", 4),
        ("een volle dag", 2),
        ("3 werkdagen", 6),
        ("twee ondersteuningsdagen", 4),
        ("een dagje", 2),
        ("2dagen", 4),
        ("in januari 2027 een dagdeel", 1),
        # English
        ("two days", 4),
        ("one day", 2),
        ("a day", 2),
        ("half a day", 1),
        ("a half day", 1),
        ("a half-day", 1),
        ("1.5 days", 3),
        ("one and a half days", 3),
        ("a day and a half", 3),
        ("2 days and a half", 5),
        ("three half-days", 3),
        ("two mornings", 2),
        ("an afternoon", 1),
        ("two full days", 4),
        ("3 working days", 6),
    ],
)
def test_amounts(text: str, half_days: int) -> None:
    found = find_quantity(text)
    assert found is not None
    assert found.half_days == half_days
    assert type(found.half_days) is int
    assert found.problem is None
    assert text.endswith(found.text)


def test_the_phrase_is_quoted_as_written_inside_a_sentence() -> None:
    text = "Wij willen graag Één dag procesbegeleiding."
    found = find_quantity(text)
    assert found == Quantity(2, "Één dag", 17, 24, None, ("Één dag",))
    assert text[found.start : found.end] == "Één dag"


@pytest.mark.parametrize(
    ("text", "problem", "quoted"),
    [
        ("0,3 dag", P.not_half_day, "0,3 dag"),
        ("1.25 days", P.not_half_day, "1.25 days"),
        ("1,5 dagdeel", P.not_half_day, "1,5 dagdeel"),
        ("0 dagen", P.not_positive, "0 dagen"),
        ("1000 dagen", P.too_large, "1000 dagen"),
        ("4 uur", P.hours, "4 uur"),
        ("ongeveer 6 uren", P.hours, "6 uren"),
        ("3 hours of advice", P.hours, "3 hours"),
        ("een paar dagen", P.vague, "een paar dagen"),
        ("enkele dagdelen", P.vague, "enkele dagdelen"),
        ("a few days", P.vague, "a few days"),
        ("a couple of days", P.vague, "a couple of days"),
        ("1 dag per week", P.vague, "1 dag"),
        ("1 à 2 dagen", P.range, "1 à 2 dagen"),
        ("een of twee dagen", P.range, "een of twee dagen"),
        ("2-3 dagdelen", P.range, "2-3 dagdelen"),
        ("one or two days", P.range, "one or two days"),
    ],
)
def test_unclear_amounts_are_reported_not_rounded(
    text: str, problem: QuantityProblem, quoted: str
) -> None:
    found = find_quantity(text)
    assert found is not None
    assert found.half_days is None
    assert found.problem is problem
    assert found.text == quoted


def test_a_wrong_amount_beside_a_right_one_is_still_reported() -> None:
    found = find_quantity("Graag 2 dagen, dus 0,3 dag per dagdeel.")
    assert found is not None and found.problem is P.not_half_day


@pytest.mark.parametrize(
    "text",
    [
        "Hoeveel dagen hebben wij nog?",
        "Dag Jan,",
        "Nog een fijne dag!",
        "Have a nice day",
        "Kunnen we om 10 uur beginnen?",
        "Vanaf 10.00 uur is iedereen er.",
        "Graag binnen 2 dagen een reactie.",
        "Over 2 dagen hoort u van ons.",
        "Ik mailde 3 dagen geleden.",
        "op 3 maart",
        "in week 12",
        "",
    ],
)
def test_no_amount(text: str) -> None:
    assert find_quantity(text) is None


def test_hours_do_not_count_beside_days() -> None:
    found = find_quantity("Een dag, van 9 tot 4 uur, in maart")
    assert found is not None and found.half_days == 2


def test_different_amounts_conflict() -> None:
    found = find_quantity("Wij willen 2 dagen. Of eigenlijk 3 dagen.")
    assert found is not None
    assert found.half_days is None
    assert found.problem is P.conflicting
    assert found.mentions == ("2 dagen", "3 dagen")


def test_two_equal_amounts_in_one_sentence_are_asked_not_summed_or_merged() -> None:
    # One day in each month, or one day in either? Not ours to decide.
    found = find_quantity("een dag in maart en een dag in april")
    assert found is not None and found.problem is P.conflicting


def test_a_restatement_in_another_sentence_agrees() -> None:
    text = "Wij vragen twee dagdelen aan. Die twee dagdelen willen we in maart."
    found = find_quantity(text)
    assert found is not None
    assert (found.half_days, found.text, found.start) == (2, "twee dagdelen", 11)


def test_a_total_with_its_parts_is_the_total() -> None:
    found = find_quantity("3 dagdelen: 2 dagdelen in maart en 1 dagdeel in april")
    assert found is not None and (found.half_days, found.text) == (3, "3 dagdelen")


def test_a_day_equal_to_two_dagdelen_in_one_sentence_is_asked() -> None:
    found = find_quantity("twee dagdelen, dus een hele dag")
    assert found is not None and found.problem is P.conflicting


@pytest.mark.parametrize(
    ("text", "half_days"), [("2", 4), ("twee", 4), ("1,5", 3), ("anderhalf", 3), ("Graag 3.", 6)]
)
def test_a_bare_number_is_days_only_when_days_were_asked(text: str, half_days: int) -> None:
    assert find_quantity(text) is None
    found = find_quantity(text, bare_number_is_days=True)
    assert found is not None and found.half_days == half_days


def test_a_bare_number_that_is_no_half_day_is_reported() -> None:
    found = find_quantity("0,3", bare_number_is_days=True)
    assert found is not None and found.problem is P.not_half_day


@given(st.integers(min_value=1, max_value=400), st.sampled_from([",", "."]))
def test_every_half_day_step_is_an_exact_int(units: int, separator: str) -> None:
    amount = Decimal(units) / 2
    written = str(amount).replace(".", separator)
    found = find_quantity(f"Wij willen {written} dagen ondersteuning")
    assert found is not None
    assert found.half_days == units
    assert type(found.half_days) is int


@given(st.integers(min_value=1, max_value=99).filter(lambda n: n % 5 != 0))
def test_tenths_that_are_no_half_day_are_refused(tenths: int) -> None:
    found = find_quantity(f"{tenths // 10},{tenths % 10} dag")
    assert found is not None
    assert found.half_days is None
    assert found.problem is P.not_half_day
