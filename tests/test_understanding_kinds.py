"""Kinds of support and themes in request text."""

from __future__ import annotations

import pytest

from bot.understanding.kinds import KindReading, Theme, find_kind, find_theme
from models.types import THEMES, SupportKind

K = SupportKind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("twee dagdelen procesbegeleiding in maart", K.process),
        ("Wij zoeken begeleiding van het proces rond ons regioplan", K.process),
        ("iemand die de werksessie kan faciliteren", K.process),
        ("process support for our steering group", K.process),
        ("inhoudelijk advies over de leerlijn", K.content),
        ("Inhoudelijke ondersteuning", K.content),
        ("content advice", K.content),
        ("strategische ondersteuning", K.strategic),
        ("strategisch advies", K.strategic),
        ("help with our strategy", K.strategic),
        ("voor het thema doorlopende leerlijnen", K.theme),
        ("een regionale activiteit", K.theme),
        ("a regional event", K.theme),
        ("procesbegeleiding voor het thema duurzaamheid", K.process),  # thema is the weakest
        ("geen procesbegeleiding maar inhoudelijk advies", K.content),
    ],
)
def test_kinds(text: str, kind: SupportKind) -> None:
    assert find_kind(text).kind is kind


def test_the_words_are_quoted_as_written() -> None:
    assert find_kind("Graag Procesbegeleiding.") == KindReading(
        K.process, (), "Procesbegeleiding", 6, 23
    )


def test_two_kinds_are_options_not_a_choice() -> None:
    found = find_kind("inhoudelijk advies en ook procesbegeleiding")
    assert found == KindReading(None, (K.content, K.process))


@pytest.mark.parametrize("text", ["ondersteuning", "advies", "het proces loopt", "twee dagen", ""])
def test_no_kind(text: str) -> None:
    assert find_kind(text) == KindReading(None)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("proces", K.process), ("Inhoud.", K.content), ("strategie", K.strategic), ("thema", K.theme)],
)
def test_a_single_word_answers_which_kind(text: str, kind: SupportKind) -> None:
    assert find_kind(text, loose=True).kind is kind


def test_a_single_loose_word_is_not_read_in_a_whole_mail() -> None:
    assert find_kind("Het proces loopt goed, maar wij hebben hulp nodig.").kind is None


@pytest.mark.parametrize(
    ("text", "slug", "quoted"),
    [
        (
            "voor het thema doorlopende leerlijnen",
            "doorlopende-leerlijnen",
            "doorlopende leerlijnen",
        ),
        ("thema: Doorlopende-Leerlijnen", "doorlopende-leerlijnen", "Doorlopende-Leerlijnen"),
        ("over loopbaanoriëntatie", "loopbaanorientatie", "loopbaanoriëntatie"),
        ("over loopbaanorientatie", "loopbaanorientatie", "loopbaanorientatie"),
        ("LOB in de onderbouw", "loopbaanorientatie", "LOB"),
        ("career guidance", "loopbaanorientatie", "career guidance"),
        ("Techniekpromotie", "techniekpromotie", "Techniekpromotie"),
        (
            "samenwerking met het bedrijfsleven",
            "samenwerking-bedrijfsleven",
            "samenwerking met het bedrijfsleven",
        ),
        (
            "collaboration with employers",
            "samenwerking-bedrijfsleven",
            "collaboration with employers",
        ),
        ("professionalisering van docenten", "professionalisering", "professionalisering"),
        ("inclusie", "inclusie", "inclusie"),
        ("duurzaamheid", "duurzaamheid", "duurzaamheid"),
        ("ons regionale plan", "regionale-plannen", "regionale plan"),
        ("monitoring", "monitoring", "monitoring"),
        ("financiën", "financien", "financiën"),
        ("the funding", "financien", "funding"),
    ],
)
def test_known_themes(text: str, slug: str, quoted: str) -> None:
    found = find_theme(text)
    assert found is not None
    assert (found.slug, found.text) == (slug, quoted)


def test_every_theme_slug_is_found_as_written() -> None:
    for slug in THEMES:
        found = find_theme(f"Graag hulp bij {slug} in maart")
        assert found is not None and found.slug == slug


@pytest.mark.parametrize(
    ("text", "stops", "free"),
    [
        (
            "voor het thema gastlessen in de bouw, bij voorkeur in maart",
            (),
            "gastlessen in de bouw",
        ),
        ("voor het thema gastlessen bij voorkeur in maart", (), "gastlessen"),
        ("Thema: 'Girls Day'", (), "Girls Day"),
        ("het thema technasium in maart", (21,), "technasium"),
        (
            "ondersteuning over het opzetten van een technasium.",
            (),
            "het opzetten van een technasium",
        ),
        ("advice on the theme of girls in tech", (), "girls in tech"),
    ],
)
def test_free_themes(text: str, stops: tuple[int, ...], free: str) -> None:
    found = find_theme(text, stops)
    assert found is not None
    assert (found.slug, found.text) == (None, free)
    assert text[found.start : found.end] == free


def test_a_theme_slug_wins_over_free_text() -> None:
    assert find_theme("voor het thema Duurzaamheid in de bouw") == Theme(
        "duurzaamheid", "Duurzaamheid", 15, 27
    )


@pytest.mark.parametrize("text", ["twee dagen procesbegeleiding", "thema", "Thema: ?", ""])
def test_no_theme(text: str) -> None:
    assert find_theme(text) is None
