"""The linear closing reader gives exactly what the quadratic one gave.

`_reference_closer_at` and `_reference_new_text` are the readers as they were
before `_closer_at` became linear (copied unchanged, apart from their names);
the rewrite must agree with them on every line of the whole mail corpus and
on generated bodies built from the lines that matter (greetings, closings,
name blocks, quotes, attributions, Outlook headers, signatures).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.parse import MAX_READ_CHARS, MAX_READ_LINES, parse
from bot.understanding import quotes
from bot.understanding.htmltext import html_to_text
from bot.understanding.quotes import (
    _GREETING,
    _NAME_BLOCK_LINES,
    _QUOTED,
    _STRONG,
    _WEAK,
    _attribution_at,
    _history_at,
)
from bot.understanding.text import fold, normalise

CORPUS = Path(__file__).parent / "mail_corpus"

# --- the readers as they were (quadratic in the number of lines) --------------------------


def _reference_closer_at(folded: list[str], index: int, kept: list[str]) -> bool:
    line = folded[index]
    said = [k for k in kept if k.strip()]
    if not said:
        return False  # a closing cannot come first
    if _STRONG.fullmatch(line):
        return True
    if not _WEAK.fullmatch(line) or all(_GREETING.fullmatch(fold(k)) for k in said):
        return False  # "Hoi,\n\nThanks!\n\nTwee dagen graag": thanks opens the message
    rest = 0
    for later in range(index + 1, len(folded)):
        if _history_at(folded, later) or _QUOTED.match(folded[later]):
            break
        text = folded[later].strip()
        if not text:
            continue
        rest += 1
        if rest > _NAME_BLOCK_LINES or len(text) > 80 or text.endswith(("?", "!", ".")):
            return False
    return True


def _reference_next_filled(folded: list[str], index: int) -> str:
    return next((line for line in folded[index:] if line.strip()), "")


def _reference_new_text(body: str) -> str:
    lines = normalise(body).split("\n")
    folded = [fold(line) for line in lines]
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = folded[index]
        attribution = _attribution_at(folded, index)
        if attribution:
            if _QUOTED.match(_reference_next_filled(folded, index + attribution)):
                index += attribution
                continue
            break
        if _history_at(folded, index) or _reference_closer_at(folded, index, kept):
            break
        if not _QUOTED.match(line):
            kept.append(lines[index].rstrip())
        index += 1
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- the comparison -------------------------------------------------------------------------


def _same(body: str) -> None:
    """Both readers agree on the new text, and on the closing at every line."""
    assert quotes.new_text(body) == _reference_new_text(body)
    lines = normalise(body).split("\n")
    folded = [fold(line) for line in lines]
    reader = quotes._Lines(folded)
    kept: list[str] = []
    said = quotes._Said()
    for index, line in enumerate(lines):
        expected = _reference_closer_at(folded, index, kept)
        assert quotes._closer_at(reader, index, said) is expected, (index, line)
        kept.append(line.rstrip())
        said.add(kept[-1])


def _head(text: str) -> str:
    """What parse hands the reader: the first MAX_READ_LINES lines of the first MAX_READ_CHARS."""
    return "\n".join(text[:MAX_READ_CHARS].split("\n", MAX_READ_LINES)[:MAX_READ_LINES])


CORPUS_MAILS = sorted(CORPUS.rglob("*.eml"))


def test_the_corpus_is_there() -> None:
    assert len(CORPUS_MAILS) > 25


@pytest.mark.parametrize("path", CORPUS_MAILS, ids=[p.name for p in CORPUS_MAILS])
def test_the_whole_corpus_reads_the_same(path: Path) -> None:
    mail = parse(path.read_bytes())
    _same(_head(mail.text))
    _same(mail.text[:MAX_READ_CHARS])
    assert mail.new_text == _reference_new_text(_head(mail.text))


LINES = [
    "",
    "   ",
    "Hoi,",
    "Hallo Jan",
    "Beste team,",
    "Goedemorgen,",
    "Dear all,",
    "Twee dagen procesbegeleiding graag.",
    "Kan dat in maart?",
    "Wij willen graag annuleren",
    "Two days, please.",
    "Thanks!",
    "Thanks",
    "Thank you in advance",
    "Groeten,",
    "Groetjes",
    "Groet, Jan",
    "gr.",
    "Alvast bedankt!",
    "Dank en groet",
    "Regards",
    "Best",
    "Cheers, Anna",
    "Met vriendelijke groet,",
    "Met vriendelijke groeten",
    "mvg",
    "Kind regards,",
    "Jan",
    "Jan de Vries",
    "Coördinator techniek | CSG Noorderlicht",
    "T 050 123 4567",
    "www.school.example",
    "Dit is een heel lange regel die meer dan tachtig tekens lang is en daarom geen naam is.",
    "> Beste Sanne,",
    ">",
    "> > ouder citaat",
    "-- ",
    "--",
    "Op ma 1 feb 2027 om 10:15 schreef STO Ondersteuning <",
    "ondersteuning@sto.example>:",
    "On Mon, Feb 1, 2027 at 10:15 AM Jan <jan@school.example> wrote:",
    "Jan <jan@school.example> schreef:",
    "Van: STO Ondersteuning <ondersteuning@sto.example>",
    "Verzonden: maandag 1 februari 2027 10:15",
    "Aan: Jan",
    "Onderwerp: [STO-2027-0042] Uw aanvraag",
    "From: Support",
    "Sent: Monday",
    "To: Jan",
    "Subject: x",
    "-----Oorspronkelijk bericht-----",
    "________________________________",
    "Verzonden vanaf mijn iPhone",
    "Sent from my iPhone",
    "Outlook voor iOS downloaden",
]

bodies = st.lists(
    st.one_of(st.sampled_from(LINES), st.text(max_size=40)),
    max_size=60,
).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_generated_bodies_read_the_same(body: str) -> None:
    _same(body)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("Gg>-:\n ,.!?r"), max_size=200))
def test_generated_scraps_read_the_same(body: str) -> None:
    _same(body)


def test_an_html_mail_reads_the_same() -> None:
    html = (
        "<div>Hoi,</div><div><br></div><div>Twee dagen graag.</div><div>Thanks!</div>"
        "<div>Jan</div><blockquote>Beste Jan,<br>Hoeveel dagen?</blockquote>"
    )
    _same(html_to_text(html))


NAME_BLOCK = "\n".join(f"Regel {n}" for n in range(_NAME_BLOCK_LINES))


@pytest.mark.parametrize(
    "body",
    [
        "Twee dagen graag.\nHoi,\nThanks!\nJan",
        "Hoi,\nTwee dagen graag.\nHallo,\nThanks!\nJan",
        "Hoi,\n\nThanks!\n\nTwee dagen graag",
        "Hoi,\nHallo Jan\n\nThanks!\nJan",
        f"Twee dagen.\nGroeten,\n{NAME_BLOCK}",
        f"Twee dagen.\nGroeten,\n{NAME_BLOCK}\nNog een regel",
        f"Twee dagen.\nGroeten,\n\n\n{NAME_BLOCK.replace(chr(10), chr(10) * 3)}\n\n> citaat",
        f"Twee dagen.\nGroeten,\n{NAME_BLOCK}\n-- \nhandtekening\nmeer",
        "Twee dagen.\nThanks!\nKan dat?\n",
        "Twee dagen.\nThanks!\n" + "\n" * 300 + "Jan",
        "Twee dagen.\n" + "Thanks!\n\n" * 200,
        "Twee dagen.\nGroeten,\nOp ma 1 feb 2027 om 10:15 schreef Jan <\njan@x.example>:\n> vraag",
    ],
)
def test_edge_bodies_read_the_same(body: str) -> None:
    _same(body)
