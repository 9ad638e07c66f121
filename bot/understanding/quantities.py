"""How many support days a text asks for, in half-day units (1 day = 2 units).

The domain counts support days in half days and never in floats, so this
reader does too: "anderhalve dag" is 3, "twee dagdelen" is 2. What does not
come to a whole number of half days ("0,3 dag"), what is vague ("een paar
dagen", "1 à 2 dagen"), in hours ("4 uur": how many hours make a day is not
ours to guess), or contradictory is reported as a problem, never rounded or
picked: the answer then asks for exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.understanding.numbers import HALF_WORD, NUMBER, value_of
from bot.understanding.text import first_longest, fold, normalise, sentence_of, sentence_spans

UNITS_PER_DAY = 2
MAX_UNITS = 2 * 366  # the domain's own ceiling (models.quantity): more is a typo


class QuantityProblem(StrEnum):
    not_half_day = "not_half_day"  # "0,3 dag", "1,5 dagdeel"
    not_positive = "not_positive"  # "0 dagen"
    too_large = "too_large"  # "1000 dagen"
    hours = "hours"  # "4 uur": a day's length in hours is not fixed, so ask
    vague = "vague"  # "een paar dagen", "a few days", "1 dag per week"
    range = "range"  # "1 à 2 dagen", "one or two days"
    conflicting = "conflicting"  # "2 dagen ... 3 dagen" with no way to tell which


@dataclass(frozen=True, slots=True)
class Quantity:
    """What the text says about the number of days.

    `half_days` is set exactly when `problem` is None. `text` is the phrase as
    written (to quote back); `mentions` holds every phrase that was weighed,
    so that a "conflicting" answer can show them all. `start`/`end` index
    `text.normalise(text)` (the same string for text that is already NFC).
    """

    half_days: int | None
    text: str
    start: int
    end: int
    problem: QuantityProblem | None = None
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Found:
    start: int
    end: int
    units: Decimal | None  # None: a problem phrase without a number of its own
    problem: QuantityProblem | None = None


# --- the vocabulary --------------------------------------------------------------------------

N = NUMBER
# "werkdag", "ondersteuningsdagen", "dagje"; \b keeps "dagdeel" out.
DAY_NL = (
    r"(?:werk|ondersteunings|advies|begeleidings|adviseurs|trainings|studie)?dag(?:en|je|jes)?\b"
)
DAY_EN = r"(?:(?:working|work|support|consulting|consultancy|training)\s+)?days?\b"
DAY = rf"(?:{DAY_NL}|{DAY_EN})"
WHOLE = r"(?:(?:hele|volle|gehele|volledige|complete|full|whole|entire)\s+)?"
# A dagdeel (morning or afternoon) is the half day the team plans in.
PART = (
    r"(?:dagde(?:el|len)\b|(?:voor|na)?middag(?:en)?\b|ochtend(?:en)?\b|"
    r"half[- ]?days?\b|mornings?\b|afternoons?\b)"
)
# "2x een dagdeel", "2 x een dag": the article only after the "x", so that
# "in januari 2027 een dagdeel" stays one dagdeel and not 2027.
TIMES = r"(?:\s*x\s*(?:(?:een|a|an)\s+)?|\s*)"
HALF_DAY_NL = r"halve\s+dag(?:en|je)?\b"
HOURS = r"(?:uur|uren|uurtjes?|hours?|hrs?)\b"

# Words around a number of days that make it something other than the amount
# asked for: "binnen 2 dagen", "over 2 dagen" (a moment), "2 dagen van tevoren".
_NOT_AMOUNT_BEFORE = re.compile(r"\b(?:binnen|within|over|na|after|uiterlijk|per)\s+$")
_NOT_AMOUNT_AFTER = re.compile(
    r"^\s*(?:geleden|ago|van\s*tevoren|vantevoren|vooraf|in\s+advance|notice|later|eerder|earlier)\b"
)
_PER_PERIOD_AFTER = re.compile(
    r"^\s*(?:per|in\s+de|a|each|every|elke|iedere)\s+(?:week|maand|month|jaar|year|kwartaal|quarter)\b"
)
_CLOCK_BEFORE = re.compile(
    r"\b(?:om|tot|vanaf|van|rond|omstreeks|tegen|na|voor|half|at|from|until|till|to|by|before|after|around)\s+$"
)


def _number(name: str) -> str:
    return rf"(?P<{name}>{N})"


Reader = Callable[[re.Match[str]], tuple[Decimal | None, QuantityProblem | None]]


def _times(factor: int, plus: str = "0") -> Reader:
    def read(match: re.Match[str]) -> tuple[Decimal | None, QuantityProblem | None]:
        value = value_of(match["n"]) if match["n"] else Decimal(1)
        return (None, None) if value is None else ((value + Decimal(plus)) * factor, None)

    return read


def _problem(problem: QuantityProblem) -> Reader:
    return lambda match: (None, problem)


_PATTERNS: list[tuple[re.Pattern[str], Reader]] = [
    # "anderhalve dag", "tweeënhalve dag", "twee en een halve dag", "2½ dag"
    (re.compile(rf"\b(?P<n>{HALF_WORD})\s+{WHOLE}{DAY}"), _times(UNITS_PER_DAY)),
    (
        re.compile(rf"{_number('n')}\s*-?\s*en\s*-?\s*een\s*-?\s*halve?\s+{WHOLE}{DAY}"),
        _times(UNITS_PER_DAY, "0.5"),
    ),
    # "one and a half days", "a day and a half", "2 days and a half"
    (re.compile(rf"{_number('n')}\s+and\s+a\s+half\s+{WHOLE}{DAY}"), _times(UNITS_PER_DAY, "0.5")),
    (
        re.compile(rf"{_number('n')}\s+{WHOLE}days?\s+and\s+a\s+half\b"),
        _times(UNITS_PER_DAY, "0.5"),
    ),
    # half days: "een halve dag", "twee halve dagen", "half a day", "three half-days"
    (re.compile(rf"(?:{_number('n')}{TIMES})?\b{HALF_DAY_NL}"), _times(1)),
    (re.compile(r"\bhalf\s+a\s+day\b(?P<n>)"), _times(1)),
    (re.compile(rf"{_number('n')}{TIMES}{PART}"), _times(1)),
    # whole days: "2 dagen", "twee hele dagen", "1,5 dag", "2 x een dag", "two full days"
    (re.compile(rf"{_number('n')}{TIMES}{WHOLE}{DAY}"), _times(UNITS_PER_DAY)),
    # not a number we may book: ask instead
    (
        re.compile(
            rf"{_number('a')}\s*(?:of|or|a|-|\u2013|tot|to)\s*{_number('b')}\s+{WHOLE}(?:{DAY}|{PART}|{HALF_DAY_NL})"
        ),
        _problem(QuantityProblem.range),
    ),
    (
        re.compile(
            r"\b(?:een\s+paar|paar|enkele|meerdere|een\s+aantal|wat|a\s+few|few|a\s+couple(?:\s+of)?|"
            rf"several|some|a\s+number\s+of)\s+{WHOLE}(?:{DAY}|{PART}|{HALF_DAY_NL})"
        ),
        _problem(QuantityProblem.vague),
    ),
]
_HOURS = re.compile(rf"{_number('n')}\s*{HOURS}")


def _found(folded: str) -> list[_Found]:
    found: list[_Found] = []
    for pattern, read in _PATTERNS:
        for match in pattern.finditer(folded):
            units, problem = read(match)
            if units is None and problem is None:
                continue
            found.append(_Found(match.start(), match.end(), units, problem))
    kept = []
    for item in first_longest(found):
        before, after = folded[: item.start], folded[item.end :]
        if item.problem is None and (
            _NOT_AMOUNT_BEFORE.search(before[-20:]) or _NOT_AMOUNT_AFTER.match(after)
        ):
            continue
        if item.problem is None and _PER_PERIOD_AFTER.match(after):
            item = _Found(item.start, item.end, None, QuantityProblem.vague)
        kept.append(item)
    return kept


def _hours(folded: str) -> list[_Found]:
    """Durations in hours, leaving out clock times ("om 10 uur", "10.00 uur")."""
    found = []
    for match in _HOURS.finditer(folded):
        if re.fullmatch(r"\d+[.:]\d\d", match["n"]) or _CLOCK_BEFORE.search(
            folded[max(0, match.start() - 12) : match.start()]
        ):
            continue
        found.append(_Found(match.start(), match.end(), None, QuantityProblem.hours))
    return found


def _checked(units: Decimal) -> tuple[int | None, QuantityProblem | None]:
    if units != units.to_integral_value():
        return None, QuantityProblem.not_half_day
    if units <= 0:
        return None, QuantityProblem.not_positive
    if units > MAX_UNITS:
        return None, QuantityProblem.too_large
    return int(units), None


def _bare_number(folded: str) -> _Found | None:
    """A reply that is only a number ("2", "anderhalf") when days were asked for."""
    match = re.fullmatch(
        rf"\s*(?:graag\s+|please\s+)?(?P<n>{N})(?:\s+graag|\s+please)?\s*[.!]?\s*", folded
    )
    if not match:
        return None
    value = value_of(match["n"])
    if value is None:
        return None
    return _Found(match.start("n"), match.end("n"), value * UNITS_PER_DAY)


def find_quantity(text: str, *, bare_number_is_days: bool = False) -> Quantity | None:
    """The number of support days `text` asks for, or None when it names none.

    `bare_number_is_days`: the text answers a question for the number of
    days, so "2" alone means two days.
    """
    text = normalise(text)
    folded = fold(text)
    found = _found(folded)
    if not found and bare_number_is_days:
        bare = _bare_number(folded)
        found = [bare] if bare else []
    if not found:
        hours = _hours(folded)
        if not hours:
            return None
        return _quantity(text, hours[0], None, QuantityProblem.hours, hours)

    checked = [
        (item, *_checked(item.units)) if item.units is not None else (item, None, item.problem)
        for item in found
    ]
    for item, _, problem in checked:
        if problem in {
            QuantityProblem.not_half_day,
            QuantityProblem.not_positive,
            QuantityProblem.too_large,
        }:
            return _quantity(text, item, None, problem, found)
    clear = [(item, units) for item, units, _ in checked if units is not None]
    if not clear:
        return _quantity(text, found[0], None, found[0].problem, found)
    if len(clear) == 1:
        return _quantity(text, clear[0][0], clear[0][1], None, found)
    return _agreed(text, clear, found)


def _agreed(text: str, clear: list[tuple[_Found, int]], found: list[_Found]) -> Quantity:
    """Several amounts: one answer only when they plainly agree.

    The same amount repeated in different sentences is a restatement ("Wij
    vragen twee dagdelen aan. ... Die twee dagdelen ..."). A total followed by
    its parts ("3 dagdelen: 2 dagdelen in maart en 1 dagdeel in april") is
    the total. Anything else, even "een dag in maart en een dag in april"
    (one day or two?), is asked rather than guessed.
    """
    sentences = sentence_spans(text)
    values = [units for _, units in clear]
    where = [sentence_of(sentences, item.start) for item, _ in clear]
    if len(set(values)) == 1 and len(set(where)) == len(where):
        return _quantity(text, clear[0][0], values[0], None, found)
    largest = max(values)
    if len(values) >= 3 and values.count(largest) == 1 and largest * 2 == sum(values):
        total = next(item for item, units in clear if units == largest)
        return _quantity(text, total, largest, None, found)
    return _quantity(text, clear[0][0], None, QuantityProblem.conflicting, found)


def _quantity(
    text: str,
    chosen: _Found,
    half_days: int | None,
    problem: QuantityProblem | None,
    weighed: list[_Found],
) -> Quantity:
    return Quantity(
        half_days=half_days,
        text=text[chosen.start : chosen.end],
        start=chosen.start,
        end=chosen.end,
        problem=problem,
        mentions=tuple(text[item.start : item.end] for item in weighed),
    )
