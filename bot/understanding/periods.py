"""A preferred period from request text: months, weeks, dates and a few relative phrases.

Every phrase is found by a pattern in this module, so what is read is known
and tested; dateparser is only asked to place a relative phrase these
patterns already isolated ("volgende week", "over 2 weken", "morgen"), never
to guess at free text (it turns a bare "maart" into the 30th of March).

A month, week or date without a year is its next occurrence: the first one
that has not ended before `today` (so on 30 November "november" is what is
left of it, "begin november" is next year's, and "week 1" is next January's).
A period never starts before `today`; one that lies wholly in the past, or
is preceded by a negation ("niet in maart"), is not a preference.
Several phrases joined by "of", "en", "t/m", "-", "/" ("maart of april",
"week 12 of 13", "tussen 1 april en 15 mei") make one period that spans
them all. When phrases stand apart, the first one is taken.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import dateparser

from bot.understanding.numbers import NUMBER, value_of
from bot.understanding.text import first_longest, fold, negated, normalise


@dataclass(frozen=True, slots=True)
class PreferredPeriod:
    """The first and last day that suit, and the words that said so.

    `start`/`end` index `text.normalise(text)`, like every span in this package.
    """

    preferred_from: date
    preferred_to: date
    text: str
    start: int
    end: int


Range = tuple[date, date]


@dataclass(frozen=True, slots=True)
class _Atom:
    """One period phrase whose year may still be open."""

    start: int
    end: int
    build: Callable[[int], Range | None]  # the range this phrase means in a given year
    year: int | None  # the year as written, if it was


# --- the vocabulary ---------------------------------------------------------------------------

MONTHS: dict[str, int] = {
    "januari": 1, "februari": 2, "maart": 3, "april": 4, "mei": 5, "juni": 6, "juli": 7,
    "augustus": 8, "september": 9, "oktober": 10, "november": 11, "december": 12,
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8,
    "october": 10,
}  # fmt: skip
ABBREVIATIONS: dict[str, int] = {
    "jan": 1, "feb": 2, "febr": 2, "mrt": 3, "mar": 3, "apr": 4, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "sept": 9, "okt": 10, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
ENGLISH_MONTHS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september"}
    | {"october", "november", "december"}
)
# English month names that are also ordinary words ("we may", "to march").
_ORDINARY_WORDS = frozenset({"may", "march", "august"})
WEEKDAYS: dict[str, int] = {
    "maandag": 0, "dinsdag": 1, "woensdag": 2, "donderdag": 3, "vrijdag": 4, "zaterdag": 5,
    "zondag": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip
_WEEKDAY_SHORT = "ma|di|wo|do|vr|za|zo|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"


def _alternatives(words: Iterable[str]) -> str:
    """Longest first, so that "maart" is tried before "mar"."""
    return "|".join(sorted(words, key=len, reverse=True))


MONTH_FULL = _alternatives(MONTHS)
MONTH_ANY = _alternatives([*MONTHS, *ABBREVIATIONS])
WEEKDAY = _alternatives([*WEEKDAYS, *_WEEKDAY_SHORT.split("|")])
_ORDINAL = r"(?:e|ste|de|st|nd|rd|th)?"
DAY_FIRST = rf"(?<![\d.,:/-])(?:[12]\d|3[01]|0?[1-9]){_ORDINAL}(?!\d)"
DAY_NEXT = rf"(?:[12]\d|3[01]|0?[1-9]){_ORDINAL}(?!\d)"
# Between the parts of one phrase: "3 en 4", "1 t/m 15", "12 of 13", "maart/april".
SEP = (
    r"(?:,\s*(?:en|of|and|or)\b|,|/|-|\u2013|\u2014|\ben/of\b|\bof\b|\ben\b|\bor\b|\band\b|t/m|"
    r"\btot\s+en\s+met\b|\btot\b|\bto\b|\btill\b|\buntil\b|\bthrough\b)"
)
# Bounded lists: an open-ended one would retry a long run of numbers from
# every position, quadratic on hostile input.
_DAY_LIST = rf"{DAY_FIRST}(?:\s*{SEP}\s*{DAY_NEXT}){{0,8}}"
_YEAR = r"(?:19|20)\d\d(?!\d)"
# Words that make the number after a month or "week" an amount, not a day or week.
_NOT_A_DAY = r"(?!\s*(?:dagen|dag\b|dagdel|days?\b|weken|weeks?\b|uur|hours?\b|%|:\d|\.\d))"

_DAY_MONTH = re.compile(
    rf"(?:\b(?:{WEEKDAY})\.?,?\s+(?:de\s+|the\s+)?)?(?P<days>{_DAY_LIST})\s*(?:of\s+)?"
    rf"(?P<month>{MONTH_ANY})\b\.?(?:\s*,?\s*(?P<year>{_YEAR}))?"
)
_MONTH_DAY = re.compile(
    rf"(?:\b(?:{WEEKDAY})\.?,?\s+)?\b(?P<month>{MONTH_ANY})\.?\s+(?:the\s+)?"
    rf"(?P<days>{_DAY_LIST}){_NOT_A_DAY}(?:\s*,?\s*(?P<year>{_YEAR}))?"
)
_DMY = re.compile(
    r"(?<![\d/.-])(?P<d>\d{1,2})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})"
    r"(?!\d|[-/]\d|\.\d)"
)
# "op 5/2": day and month without a year only right after "op"/"on", where
# it cannot be a score or a range.
_DM = re.compile(r"\b(?:op|on)\s+(?P<d>\d{1,2})[/-](?P<m>\d{1,2})(?![\d/.-]|\.\d)")
_ISO = re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d]|-\d)")

_MODIFIER = (
    r"\b(?:(?:aan|in)\s+het\s+|(?:in\s+)?the\s+|de\s+)?"
    r"(?P<mod>(?:eerste|tweede)\s+helft|(?:first|second)\s+half|(?:eerste|laatste|first|last)\s+week|"
    r"begin|einde|eind|beginning|start|"
    r"end|middle|midden|medio|halverwege|half|early|late|mid)(?:\s*-\s*|\s+)(?:van\s+|of\s+)?"
    r"(?:de\s+maand\s+)?"
)
_MONTH = re.compile(rf"(?:{_MODIFIER})?\b(?P<month>{MONTH_FULL})\b(?:\s+(?P<year>{_YEAR}))?")
# In English, "may" and "march" are month names only when the text treats them as such.
_MONTH_CUE = re.compile(
    r"\b(?:in|during|before|after|until|till|from|of|since|early|late|mid|end|start|"
    r"beginning)\s*-?\s*$"
)
_QUARTER = re.compile(
    rf"\b(?:q(?P<q>[1-4])|(?:het\s+)?(?P<nl>eerste|tweede|derde|vierde)\s+kwartaal|"
    rf"(?:the\s+)?(?P<en>first|second|third|fourth)\s+quarter)\b"
    rf"(?:\s+(?:van\s+|of\s+)?(?P<year>{_YEAR}))?"
)
_QUARTERS = {"eerste": 1, "tweede": 2, "derde": 3, "vierde": 4}
_QUARTERS |= {"first": 1, "second": 2, "third": 3, "fourth": 4}

_WEEK_NUMBER = rf"(?:5[0-3]|[1-4]\d|0?[1-9])(?!\d){_NOT_A_DAY}"
_WEEK = re.compile(
    rf"\b(?:kalender)?(?:weken|weeks|week|wk)\.?\s*(?P<weeks>{_WEEK_NUMBER}"
    rf"(?:\s*{SEP}\s*(?:(?:week|wk)\.?\s*)?{_WEEK_NUMBER}){{0,8}})"
    rf"(?:\s*,?\s+(?:van\s+|of\s+|in\s+)?(?P<year>{_YEAR}))?"
)
_RELATIVE = re.compile(
    rf"\b(?:(?P<which>volgende|komende|aankomende|next|deze|this)\s+(?P<unit>week|maand|month)\b|"
    rf"(?P<prep>over|in)\s+(?P<n>{NUMBER})\s+(?P<units>weken|weeks|maanden|months)\b|"
    r"(?P<day>overmorgen|morgen|tomorrow)\b)"
)
# "morgen" is also "morning": "de morgen van", "'s morgens", "goede morgen".
_MORNING_BEFORE = re.compile(r"\b(?:de|die|deze|een|elke|iedere|goede|'s|s)\s+$")
_NAMED_WEEKDAY = re.compile(
    rf"\b(?P<which>volgende\s+week|komende\s+week|next\s+week|aanstaande|komende|volgende|next)\s+"
    rf"(?P<weekday>{_alternatives(WEEKDAYS)})\b"
)
# Joins phrases into one period: "maart of april", "week 12 t/m 14", "1 april - 15 mei".
_JOIN = re.compile(rf"\s*{SEP}\s*(?:(?:in|op|on|rond)\s+)?")
# Quoted along with the period, so that the answer reads "in maart", "tussen 1 en 15 april".
# "in de week van 8 maart": the working week around that day.
_WEEK_OF = re.compile(r"\b(?:in\s+)?(?:de\s+|the\s+)?week\s+(?:van|of)\s+(?:the\s+)?$")
_LEAD = re.compile(
    r"\b(?:in|op|rond|rondom|omstreeks|tussen|van|vanaf|vanuit|during|on|from|between|around)"
    r"\s+(?:the\s+|de\s+)?$"
)


# --- calendar arithmetic -------------------------------------------------------------------------


def _month_range(year: int, month: int, first: int = 1, last: int | None = None) -> Range:
    days_in_month = calendar.monthrange(year, month)[1]
    if first < 1:
        first += days_in_month
    return date(year, month, first), date(year, month, min(last or days_in_month, days_in_month))


def _working_week(iso_year: int, week: int) -> Range | None:
    """Monday to Friday: the days a supporter can come in that week."""
    try:
        return date.fromisocalendar(iso_year, week, 1), date.fromisocalendar(iso_year, week, 5)
    except ValueError:  # week 53 in a year that has 52
        return None


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:  # 31 april, 29 februari in a common year
        return None


def _sub_month(modifier: str | None) -> tuple[int, int | None]:
    """The days of a month that "begin", "half", "eind" and friends point at."""
    if not modifier:
        return 1, None
    if modifier.endswith("week"):
        # The first or last seven days; a negative first day counts from the end.
        return (1, 7) if modifier.startswith(("eerste", "first")) else (-6, None)
    if modifier.startswith(("eerste", "first")):
        return 1, 15
    if modifier.startswith(("tweede", "second")):
        return 16, None
    if modifier.startswith(("begin", "early", "start")):
        return 1, 10
    if modifier.startswith(("eind", "late", "end")):
        return 21, None
    return 11, 20  # half, medio, midden, mid, middle, halverwege


def _fixed(found: Range) -> Callable[[int], Range]:
    """A phrase that names its dates outright, whatever the year it is asked about."""
    return lambda _year: found


def _year_of(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


# --- finding the phrases -------------------------------------------------------------------------


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def _day_atoms(folded: str) -> Iterator[_Atom]:
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        for match in pattern.finditer(folded):
            word = match["month"]
            month = MONTHS.get(word) or ABBREVIATIONS[word]
            if pattern is _MONTH_DAY and (
                word not in ENGLISH_MONTHS and not (word in ABBREVIATIONS and match["year"])
            ):
                continue  # "maart 12" is not how Dutch writes a date; "jan 12" may be a name
            days = _numbers(match["days"])  # "3rd", "4e": the digits are the day
            first, last = min(days), max(days)

            def build(
                year: int, month: int = month, first: int = first, last: int = last
            ) -> Range | None:
                start, end = _day(year, month, first), _day(year, month, last)
                return (start, end) if start and end else None

            end = match.end()
            if folded[end - 1] == "." and word in MONTHS and not match["year"]:
                end -= 1  # the full stop of the sentence, not of an abbreviation
            yield _Atom(match.start(), end, build, _year_of(match["year"]))


def _numeric_atoms(folded: str) -> Iterator[_Atom]:
    for pattern in (_DMY, _ISO):
        for match in pattern.finditer(folded):
            year = _year_of(match["y"])
            assert year is not None
            day, month = int(match["d"]), int(match["m"])
            if pattern is _DMY and month > 12 and day <= 12:
                day, month = month, day  # 03/15/2027: written the American way
            found = _day(year, month, day) if 1 <= month <= 12 else None
            if found is None:
                continue
            yield _Atom(match.start(), match.end(), _fixed((found, found)), year)
    for match in _DM.finditer(folded):
        day, month = int(match["d"]), int(match["m"])

        def build(year: int, d: int = day, m: int = month) -> Range | None:
            found = _day(year, m, d) if 1 <= m <= 12 else None
            return (found, found) if found else None

        yield _Atom(match.start("d"), match.end(), build, None)


def _month_atoms(text: str, folded: str) -> Iterator[_Atom]:
    for match in _MONTH.finditer(folded):
        word = match["month"]
        if word in _ORDINARY_WORDS and not match["mod"] and not match["year"]:
            written = text[match.start("month") : match.end("month")]
            cued = _MONTH_CUE.search(folded[max(0, match.start() - 20) : match.start()])
            if not (written[0].isupper() or cued):
                continue
            if re.match(r"\s+(?:i|we|you|he|she|they|it)\b", folded[match.end() :]):
                continue  # "May we book ..."
        first, last = _sub_month(match["mod"])

        def build(year: int, m: int = MONTHS[word], f: int = first, la: int | None = last) -> Range:
            return _month_range(year, m, f, la)

        yield _Atom(match.start(), match.end(), build, _year_of(match["year"]))
    for match in _QUARTER.finditer(folded):
        quarter = int(match["q"]) if match["q"] else _QUARTERS[match["nl"] or match["en"]]

        def build_quarter(year: int, q: int = quarter) -> Range:
            return _month_range(year, 3 * q - 2)[0], _month_range(year, 3 * q)[1]

        yield _Atom(match.start(), match.end(), build_quarter, _year_of(match["year"]))


def _week_atoms(folded: str) -> Iterator[_Atom]:
    for match in _WEEK.finditer(folded):
        weeks = _numbers(match["weeks"])

        def build(year: int, weeks: list[int] = weeks) -> Range | None:
            # Each later week is the first one after the week before it, so
            # that "week 52 of 1" runs into the new year.
            first = _working_week(year, weeks[0])
            if first is None:
                return None
            last = first
            for week in weeks[1:]:
                following = next(
                    (
                        found
                        for y in (last[0].isocalendar().year, last[0].isocalendar().year + 1)
                        if (found := _working_week(y, week)) and found[0] >= last[0]
                    ),
                    None,
                )
                if following is None:
                    return None
                last = following
            return first[0], last[1]

        yield _Atom(match.start(), match.end(), build, _year_of(match["year"]))


def _relative_atoms(folded: str, today: date) -> Iterator[_Atom]:
    for match in _RELATIVE.finditer(folded):
        if match["day"] == "morgen" and _MORNING_BEFORE.search(folded[: match.start()][-12:]):
            continue
        found = _relative_range(match, today)
        if found:
            yield _Atom(match.start(), match.end(), _fixed(found), found[0].year)
    for match in _NAMED_WEEKDAY.finditer(folded):
        weekday = WEEKDAYS[match["weekday"]]
        if "week" in match["which"]:
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
            day = monday + timedelta(days=weekday)
        else:
            day = today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
        yield _Atom(match.start(), match.end(), _fixed((day, day)), day.year)


def _relative_range(match: re.Match[str], today: date) -> Range | None:
    """Place a relative phrase with dateparser, then widen it to the unit it names."""
    if match["which"] in {"deze", "this"}:
        anchor: date | None = today
    else:
        phrase = match[0]
        if match["n"]:  # dateparser reads "over 2 weken" but not "over twee weken"
            value = value_of(match["n"])
            if value is None or value != value.to_integral_value():
                return None
            phrase = f"{match['prep']} {int(value)} {match['units']}"
        phrase = re.sub(r"^(?:komende|aankomende)\b", "volgende", phrase)
        anchor = _dateparser_date(phrase, today)
    if anchor is None or not today <= anchor <= today + timedelta(days=400):
        return None  # a relative phrase that lands in the past or far away was misread
    unit = match["unit"] or match["units"] or "day"
    if unit.startswith("we"):
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=4)
    if unit.startswith(("maand", "month")):
        return _month_range(anchor.year, anchor.month)
    return anchor, anchor


@lru_cache(maxsize=256)
def _dateparser_date(phrase: str, today: date) -> date | None:
    found = dateparser.parse(
        phrase,
        languages=["nl", "en"],
        settings={
            "PREFER_DATES_FROM": "future",
            # dateparser works in naive local datetimes; midnight of `today` is its "now"
            "RELATIVE_BASE": datetime.combine(today, time()),
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    return found.date() if isinstance(found, datetime) else None


def warm_up() -> None:
    """Load dateparser's languages now: the first parse takes about a second,
    which a Slack command (acknowledged within 3 seconds) should not pay."""
    _dateparser_date("volgende week", date(2000, 1, 3))


# --- from phrases to a period --------------------------------------------------------------------


def _groups(folded: str, atoms: list[_Atom]) -> Iterator[list[_Atom]]:
    group: list[_Atom] = []
    for atom in atoms:
        if group and _JOIN.fullmatch(folded[group[-1].end : atom.start]):
            group.append(atom)
            continue
        if group:
            yield group
        group = [atom]
    if group:
        yield group


def _forward(atom: _Atom, after: date) -> Range | None:
    """The first occurrence of `atom` that has not ended before `after`."""
    if atom.year is not None:
        return atom.build(atom.year)
    for year in range(after.year - 1, after.year + 3):
        found = atom.build(year)
        if found and found[1] >= after:
            return found
    return None


def _backward(atom: _Atom, before: date) -> Range | None:
    """The last occurrence of `atom` that starts on or before `before`."""
    if atom.year is not None:
        return atom.build(atom.year)
    for year in range(before.year, before.year - 3, -1):
        found = atom.build(year)
        if found and found[0] <= before:
            return found
    return None


def _chain(group: list[_Atom], anchor: int, anchored: Range) -> list[Range] | None:
    """Resolve the phrases around one whose year is known, each in reading order."""
    ranges: dict[int, Range] = {anchor: anchored}
    for index in range(anchor - 1, -1, -1):
        found = _backward(group[index], ranges[index + 1][0])
        if found is None:
            return None
        ranges[index] = found
    for index in range(anchor + 1, len(group)):
        found = _forward(group[index], ranges[index - 1][0])
        if found is None:
            return None
        ranges[index] = found
    return [ranges[i] for i in range(len(group))]


def _resolve(group: list[_Atom], today: date) -> Range | None:
    written = next((i for i, atom in enumerate(group) if atom.year is not None), None)
    if written is not None:
        # A year written anywhere in the group places the phrases around it:
        # "28 december tot 3 januari 2028" is December 2027.
        year = group[written].year
        anchored = group[written].build(year) if year is not None else None
        chained = _chain(group, written, anchored) if anchored else None
    else:
        chained = None
        # The first occurrence of the whole group that has not ended yet:
        # "15 november t/m 3 december", read on 30 November, is this year's.
        for year in range(today.year - 1, today.year + 3):
            first = group[0].build(year)
            candidate = _chain(group, 0, first) if first else None
            if candidate and max(end for _, end in candidate) >= today:
                chained = candidate
                break
    if not chained:
        return None
    start, end = min(s for s, _ in chained), max(e for _, e in chained)
    if end < today:
        return None
    return max(start, today), end


def find_period(text: str, today: date) -> PreferredPeriod | None:
    """The preferred period `text` names, relative to `today`, or None."""
    text = normalise(text)
    folded = fold(text)
    atoms = first_longest(
        [
            *_day_atoms(folded),
            *_numeric_atoms(folded),
            *_month_atoms(text, folded),
            *_week_atoms(folded),
            *_relative_atoms(folded, today),
        ]
    )
    for group in _groups(folded, atoms):
        start, end = group[0].start, group[-1].end
        week_of = _WEEK_OF.search(folded[max(0, start - 24) : start])
        lead = week_of or _LEAD.search(folded[max(0, start - 12) : start])
        if lead:
            start -= len(lead[0])
        if negated(folded, start):
            continue
        found = _resolve(group, today)
        if found and week_of:
            monday = found[0] - timedelta(days=found[0].weekday())
            found = max(monday, today), monday + timedelta(days=4)
        if found:
            return PreferredPeriod(found[0], found[1], text[start:end].strip(), start, end)
    return None
