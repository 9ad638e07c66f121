"""Reading what a mail says about a theme meeting: codes, coming or not, colleagues."""

from __future__ import annotations

import pytest

from bot.understanding.meetings import Colleague, meeting_codes, read_meeting

ME = "jan@school.example"


def read(text: str) -> tuple[bool, bool, tuple[Colleague, ...], bool]:
    found = read_meeting(text, ignore=[ME, "ondersteuning@sto.example"], not_names=["Twente"])
    return found.attend, found.decline, found.colleagues, found.includes_self


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("aanmelden TB-2027-03", ("TB-2027-03",)),
        ("Sign me up for tb-2027-3", ("TB-2027-03",)),
        ("graag voor TB 2027 03 en TB-2027-04", ("TB-2027-03", "TB-2027-04")),
        ("[TB-2027-03] Re: [TB-2027-03]", ("TB-2027-03",)),
        ("STB-2027-03 en TB-20270-3 zijn geen codes", ()),
    ],
)
def test_meeting_codes(text: str, codes: tuple[str, ...]) -> None:
    assert meeting_codes(text) == codes


@pytest.mark.parametrize(
    "text",
    [
        "ja, ik kom graag",
        "Ja!",
        "Ik ben erbij.",
        "Count me in",
        "I'll be there",
        "graag 2 plaatsen",
    ],
)
def test_saying_yes(text: str) -> None:
    attend, decline, _, _ = read(text)
    assert attend and not decline


@pytest.mark.parametrize(
    "text",
    [
        "ik kan helaas niet komen",
        "Ik kan er helaas toch niet bij zijn.",
        "Ja, maar ik kom toch niet.",
        "Ik ben verhinderd.",
        "Sorry, I can't make it.",
        "I won't be able to attend",
    ],
)
def test_saying_no(text: str) -> None:
    attend, decline, _, _ = read(text)
    assert decline and not attend


@pytest.mark.parametrize(
    ("text", "colleagues", "includes_self"),
    [
        ("aanmelden TB-2027-03", (), True),
        (
            "aanmelden TB-2027-03 voor Piet Jansen <piet@school.nl>",
            (Colleague("Piet Jansen", "piet@school.nl"),),
            False,
        ),
        (
            "graag 2 plaatsen: ik en Piet <piet@school.nl>",
            (Colleague("Piet", "piet@school.nl"),),
            True,
        ),
        (
            "aanmelden TB-2027-03 en mijn collega Piet van Dam (piet@school.nl)",
            (Colleague("Piet van Dam", "piet@school.nl"),),
            True,
        ),
        (
            "Ik wil graag mijn collega Piet <piet@school.nl> aanmelden",
            (Colleague("Piet", "piet@school.nl"),),
            False,
        ),
        (
            "Please register my colleague anna.de.vries@school.nl for TB-2027-03",
            (Colleague("Anna De Vries", "anna.de.vries@school.nl"),),
            False,
        ),
        (  # plain text wrapped at 76 characters
            "Graag 2 plaatsen: ik en mijn collega Piet Jansen <\npiet@school.nl>.",
            (Colleague("Piet Jansen", "piet@school.nl"),),
            True,
        ),
        ("aanmelden TB-2027-03 voor Piet Jansen", (Colleague("Piet Jansen", ""),), False),
        (
            "aanmelden TB-2027-03 voor Piet <piet@school>",
            (Colleague("Piet", "piet@school"),),
            False,
        ),
        # the writer's own address, a signature line, a region and "u" are nobody to register
        (f"aanmelden TB-2027-03 voor mij ({ME})\nE: info@school.nl", (), True),
        ("aanmelden TB-2027-03 voor Twente", (), True),
        ("Aanmelden voor TB-2027-03. Dank voor Uw bericht.", (), True),
    ],
)
def test_colleagues(text: str, colleagues: tuple[Colleague, ...], includes_self: bool) -> None:
    _, _, found, self_too = read(text)
    assert found == colleagues
    assert self_too is includes_self


def test_more_seats_than_names_keeps_the_writer_and_counts_the_seats() -> None:
    found = read_meeting("Graag 3 plaatsen, ook voor Piet <piet@school.nl>")
    assert found.seats == 3 and found.includes_self
    assert found.colleagues == (Colleague("Piet", "piet@school.nl"),)


@pytest.mark.parametrize(
    "text",
    [
        "Ja, maar waar is het precies?",
        "Graag zou ik weten of er parkeerplaatsen zijn.",
        "Zou mijn collega ook kunnen komen?",
        "Dank u wel!",
    ],
)
def test_a_question_or_thanks_is_no_yes(text: str) -> None:
    attend, decline, _, _ = read(text)
    assert not attend and not decline


@pytest.mark.parametrize(
    ("text", "attend", "decline"),
    [
        ("Ik kan helaas niet komen.", False, True),
        ("Helaas, kan ik niet komen.", False, True),
        ("What if I can't make it?", False, False),
        ("Wat als ik niet kan komen? Ik ben soms ziek.", False, False),
        ("Ja, ik kom graag. Kan ik ook iets later komen?", True, False),
        ("Kunnen wij niet komen als het sneeuwt?", False, False),
    ],
)
def test_coming_or_not_counts_when_said_not_when_asked(
    text: str, attend: bool, decline: bool
) -> None:
    reading = read_meeting(text)
    assert (reading.attend, reading.decline) == (attend, decline)
