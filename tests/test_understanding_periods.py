"""Preferred periods in request text, always relative to a fixed `today`."""

from __future__ import annotations

from datetime import date

import pytest

from bot.understanding.periods import PreferredPeriod, find_period

TODAY = date(2026, 11, 30)  # a Monday, ISO week 49 of a year with 53 weeks
D = date


@pytest.mark.parametrize(
    ("text", "first", "last", "quoted"),
    [
        # months: the next occurrence, sensible parts of them, and lists
        ("in maart", D(2027, 3, 1), D(2027, 3, 31), "in maart"),
        ("maart", D(2027, 3, 1), D(2027, 3, 31), "maart"),
        ("begin april", D(2027, 4, 1), D(2027, 4, 10), "begin april"),
        ("aan het begin van april", D(2027, 4, 1), D(2027, 4, 10), "aan het begin van april"),
        ("half maart", D(2027, 3, 11), D(2027, 3, 20), "half maart"),
        ("medio maart", D(2027, 3, 11), D(2027, 3, 20), "medio maart"),
        ("eind mei", D(2027, 5, 21), D(2027, 5, 31), "eind mei"),
        ("eind februari", D(2027, 2, 21), D(2027, 2, 28), "eind februari"),
        ("eind-mei", D(2027, 5, 21), D(2027, 5, 31), "eind-mei"),
        ("eerste helft van maart", D(2027, 3, 1), D(2027, 3, 15), "eerste helft van maart"),
        ("tweede helft van maart", D(2027, 3, 16), D(2027, 3, 31), "tweede helft van maart"),
        ("maart of april", D(2027, 3, 1), D(2027, 4, 30), "maart of april"),
        ("in maart of in april", D(2027, 3, 1), D(2027, 4, 30), "in maart of in april"),
        ("maart/april", D(2027, 3, 1), D(2027, 4, 30), "maart/april"),
        ("van maart t/m mei", D(2027, 3, 1), D(2027, 5, 31), "van maart t/m mei"),
        ("eind maart of begin april", D(2027, 3, 21), D(2027, 4, 10), "eind maart of begin april"),
        ("december of januari", D(2026, 12, 1), D(2027, 1, 31), "december of januari"),
        ("maart 2028", D(2028, 3, 1), D(2028, 3, 31), "maart 2028"),
        ("maart 2028 of april", D(2028, 3, 1), D(2028, 4, 30), "maart 2028 of april"),
        ("Q1", D(2027, 1, 1), D(2027, 3, 31), "Q1"),
        (
            "in de eerste week van april",
            D(2027, 4, 1),
            D(2027, 4, 7),
            "in de eerste week van april",
        ),
        ("de laatste week van maart", D(2027, 3, 25), D(2027, 3, 31), "de laatste week van maart"),
        ("first week of February", D(2027, 2, 1), D(2027, 2, 7), "first week of February"),
        (
            "het tweede kwartaal van 2027",
            D(2027, 4, 1),
            D(2027, 6, 30),
            "het tweede kwartaal van 2027",
        ),
        # weeks: Monday to Friday, the next occurrence
        ("week 12", D(2027, 3, 22), D(2027, 3, 26), "week 12"),
        ("in week 12", D(2027, 3, 22), D(2027, 3, 26), "in week 12"),
        ("wk 12", D(2027, 3, 22), D(2027, 3, 26), "wk 12"),
        ("in week 12 of 13", D(2027, 3, 22), D(2027, 4, 2), "in week 12 of 13"),
        ("week 12 of week 13", D(2027, 3, 22), D(2027, 4, 2), "week 12 of week 13"),
        ("weken 12-14", D(2027, 3, 22), D(2027, 4, 9), "weken 12-14"),
        ("week 12/13", D(2027, 3, 22), D(2027, 4, 2), "week 12/13"),
        ("week 12 van 2028", D(2028, 3, 20), D(2028, 3, 24), "week 12 van 2028"),
        ("week 49", D(2026, 11, 30), D(2026, 12, 4), "week 49"),
        ("week 48", D(2027, 11, 29), D(2027, 12, 3), "week 48"),
        ("week 1", D(2027, 1, 4), D(2027, 1, 8), "week 1"),
        ("week 53", D(2026, 12, 28), D(2027, 1, 1), "week 53"),
        ("week 52 of 1", D(2026, 12, 21), D(2027, 1, 8), "week 52 of 1"),
        # dates
        ("op 3 maart", D(2027, 3, 3), D(2027, 3, 3), "op 3 maart"),
        ("dinsdag 3 maart", D(2027, 3, 3), D(2027, 3, 3), "dinsdag 3 maart"),
        ("op di 3 mrt.", D(2027, 3, 3), D(2027, 3, 3), "op di 3 mrt."),
        ("3 maart 2027", D(2027, 3, 3), D(2027, 3, 3), "3 maart 2027"),
        ("3 en 4 maart", D(2027, 3, 3), D(2027, 3, 4), "3 en 4 maart"),
        ("3, 4 en 5 maart", D(2027, 3, 3), D(2027, 3, 5), "3, 4 en 5 maart"),
        ("3 of 4 maart", D(2027, 3, 3), D(2027, 3, 4), "3 of 4 maart"),
        ("3\u20134 maart", D(2027, 3, 3), D(2027, 3, 4), "3\u20134 maart"),  # en dash
        ("tussen 1 en 15 april", D(2027, 4, 1), D(2027, 4, 15), "tussen 1 en 15 april"),
        ("van 1 t/m 15 april", D(2027, 4, 1), D(2027, 4, 15), "van 1 t/m 15 april"),
        ("tussen 1 april en 15 mei", D(2027, 4, 1), D(2027, 5, 15), "tussen 1 april en 15 mei"),
        ("28 december tot 3 januari", D(2026, 12, 28), D(2027, 1, 3), "28 december tot 3 januari"),
        ("15-03-2027", D(2027, 3, 15), D(2027, 3, 15), "15-03-2027"),
        ("15/3/2027", D(2027, 3, 15), D(2027, 3, 15), "15/3/2027"),
        ("15.03.27", D(2027, 3, 15), D(2027, 3, 15), "15.03.27"),
        ("2027-03-15", D(2027, 3, 15), D(2027, 3, 15), "2027-03-15"),
        ("15-03-2027 t/m 19-03-2027", D(2027, 3, 15), D(2027, 3, 19), "15-03-2027 t/m 19-03-2027"),
        ("29 februari", D(2028, 2, 29), D(2028, 2, 29), "29 februari"),
        ("op 5/2", D(2027, 2, 5), D(2027, 2, 5), "op 5/2"),
        ("in de week van 8 maart", D(2027, 3, 8), D(2027, 3, 12), "in de week van 8 maart"),
        ("the week of March 10", D(2027, 3, 8), D(2027, 3, 12), "the week of March 10"),
        # English
        ("in March", D(2027, 3, 1), D(2027, 3, 31), "in March"),
        ("early April", D(2027, 4, 1), D(2027, 4, 10), "early April"),
        ("mid-March", D(2027, 3, 11), D(2027, 3, 20), "mid-March"),
        ("the end of March", D(2027, 3, 21), D(2027, 3, 31), "the end of March"),
        ("first half of April", D(2027, 4, 1), D(2027, 4, 15), "first half of April"),
        ("March or April", D(2027, 3, 1), D(2027, 4, 30), "March or April"),
        ("In May", D(2027, 5, 1), D(2027, 5, 31), "In May"),
        ("in may", D(2027, 5, 1), D(2027, 5, 31), "in may"),
        ("week 12", D(2027, 3, 22), D(2027, 3, 26), "week 12"),
        ("weeks 12 and 13", D(2027, 3, 22), D(2027, 4, 2), "weeks 12 and 13"),
        ("on 3 March", D(2027, 3, 3), D(2027, 3, 3), "on 3 March"),
        ("on the 3rd of March", D(2027, 3, 3), D(2027, 3, 3), "on the 3rd of March"),
        ("March 3rd, 2027", D(2027, 3, 3), D(2027, 3, 3), "March 3rd, 2027"),
        ("Tuesday, March 3", D(2027, 3, 3), D(2027, 3, 3), "Tuesday, March 3"),
        ("April 1-15", D(2027, 4, 1), D(2027, 4, 15), "April 1-15"),
        ("between 1 and 15 April", D(2027, 4, 1), D(2027, 4, 15), "between 1 and 15 April"),
        ("03/15/2027", D(2027, 3, 15), D(2027, 3, 15), "03/15/2027"),
        ("the first quarter", D(2027, 1, 1), D(2027, 3, 31), "the first quarter"),
        # relative phrases (placed with dateparser, widened by these rules)
        ("volgende week", D(2026, 12, 7), D(2026, 12, 11), "volgende week"),
        ("komende week", D(2026, 12, 7), D(2026, 12, 11), "komende week"),
        ("next week", D(2026, 12, 7), D(2026, 12, 11), "next week"),
        ("deze week", D(2026, 11, 30), D(2026, 12, 4), "deze week"),
        ("over twee weken", D(2026, 12, 14), D(2026, 12, 18), "over twee weken"),
        ("in 2 weeks", D(2026, 12, 14), D(2026, 12, 18), "in 2 weeks"),
        ("volgende maand", D(2026, 12, 1), D(2026, 12, 31), "volgende maand"),
        ("next month", D(2026, 12, 1), D(2026, 12, 31), "next month"),
        ("morgen", D(2026, 12, 1), D(2026, 12, 1), "morgen"),
        ("tomorrow", D(2026, 12, 1), D(2026, 12, 1), "tomorrow"),
        ("volgende week dinsdag", D(2026, 12, 8), D(2026, 12, 8), "volgende week dinsdag"),
        ("komende vrijdag", D(2026, 12, 4), D(2026, 12, 4), "komende vrijdag"),
        ("next Monday", D(2026, 12, 7), D(2026, 12, 7), "next Monday"),
    ],
)
def test_periods(text: str, first: date, last: date, quoted: str) -> None:
    found = find_period(text, TODAY)
    assert found is not None, text
    assert (found.preferred_from, found.preferred_to, found.text) == (first, last, quoted)


def test_the_span_points_into_the_text_as_written() -> None:
    text = "Wij willen graag 2 dagen, bij voorkeur in Maart."
    assert find_period(text, TODAY) == PreferredPeriod(
        D(2027, 3, 1), D(2027, 3, 31), "in Maart", 39, 47
    )


@pytest.mark.parametrize(
    ("today", "text", "first", "last"),
    [
        # A month earlier than today's month is next year's.
        (D(2026, 11, 30), "in oktober", D(2027, 10, 1), D(2027, 10, 31)),
        (D(2027, 4, 15), "in maart", D(2028, 3, 1), D(2028, 3, 31)),
        # Today's month is what is left of it; a part of it that has passed is next year's.
        (D(2026, 11, 30), "in november", D(2026, 11, 30), D(2026, 11, 30)),
        (D(2027, 4, 15), "in april", D(2027, 4, 15), D(2027, 4, 30)),
        (D(2027, 4, 15), "begin april", D(2028, 4, 1), D(2028, 4, 10)),
        (D(2027, 4, 15), "eind april", D(2027, 4, 21), D(2027, 4, 30)),
        # A date without a year: the next one on or after today.
        (D(2026, 11, 30), "30 november", D(2026, 11, 30), D(2026, 11, 30)),
        (D(2026, 11, 30), "29 november", D(2027, 11, 29), D(2027, 11, 29)),
        (D(2026, 11, 30), "15 november t/m 3 december", D(2026, 11, 30), D(2026, 12, 3)),
        # Week numbers near the year end.
        (D(2026, 12, 10), "week 1", D(2027, 1, 4), D(2027, 1, 8)),
        (D(2026, 12, 10), "week 2 of 3", D(2027, 1, 11), D(2027, 1, 22)),
        (D(2026, 12, 30), "week 52", D(2027, 12, 27), D(2027, 12, 31)),
        (D(2027, 12, 28), "week 52", D(2027, 12, 28), D(2027, 12, 31)),
        (D(2027, 12, 28), "week 1", D(2028, 1, 3), D(2028, 1, 7)),
        (D(2026, 12, 29), "week 53", D(2026, 12, 29), D(2027, 1, 1)),
    ],
)
def test_the_next_occurrence(today: date, text: str, first: date, last: date) -> None:
    found = find_period(text, today)
    assert found is not None
    assert (found.preferred_from, found.preferred_to) == (first, last)


@pytest.mark.parametrize("today", [D(2027, 6, 1), D(2027, 1, 2)])
def test_week_53_when_the_coming_year_has_none_is_no_period(today: date) -> None:
    # 2026 has 53 ISO weeks, 2027 and 2028 do not: no guess years ahead.
    assert find_period("week 53", today) is None


@pytest.mark.parametrize(
    "text",
    [
        "3 maart 2026",  # wholly in the past
        "15-03-2026",
        "31 april",  # no such day
        "31-02-2027",
        "we may come later",  # an English verb, not a month
        "May we book two days?",
        "to march on",
        "de morgen van de bijeenkomst",  # morning, not tomorrow
        "2 dagen",
        "Hoeveel dagen hebben wij nog?",
        "STO-2027-0042",
        "om 10:00 uur",
        "het werd 5-2 voor de thuisploeg",  # a day/month without a year only after "op"
        "",
    ],
)
def test_no_period(text: str) -> None:
    assert find_period(text, TODAY) is None


def test_a_number_of_days_after_week_is_no_week_number() -> None:
    found = find_period("deze week 3 dagen", TODAY)
    assert found is not None and found.text == "deze week"  # not week 3


def test_a_negated_period_is_skipped() -> None:
    found = find_period("Niet in maart maar in april", TODAY)
    assert found is not None and found.text == "in april"
    found = find_period("Liever niet in week 12, wel in week 13", TODAY)
    assert found is not None and found.text == "in week 13"


def test_the_first_of_separate_phrases_is_taken() -> None:
    found = find_period("Bij voorkeur in maart. Week 12 komt ook goed uit.", TODAY)
    assert found is not None and found.text == "in maart"


def test_a_past_date_is_passed_over_for_a_later_one() -> None:
    text = "Utrecht, 28 november 2026. Wij willen graag ondersteuning op 3 maart."
    found = find_period(text, TODAY)
    assert found is not None and found.text == "op 3 maart"
