"""Shared text handling for the readers: one normal form, folding, sentences, negation.

Every reader matches on `fold(normalise(text))` and quotes back from
`normalise(text)`: folding keeps the length, so a span found in the folded
text points at the same characters in the normalised one. That is how an
answer can quote "één dag" exactly as the person wrote it while the patterns
only need to know "een dag".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Protocol, TypeVar

# Characters that look like a space or nothing at all; mail clients and Slack
# insert them freely ("1,5\u00a0dag"), patterns should not have to care.
_SPACES = {ord(c): " " for c in "\u00a0\u2007\u2009\u202f\u2002\u2003\u3000\t"}
_INVISIBLE = {ord(c): None for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad"}
_QUOTES = {ord("\u2019"): "'", ord("\u2018"): "'", ord("\u201c"): '"', ord("\u201d"): '"'}
_TRANSLATE = {**_SPACES, **_INVISIBLE, **_QUOTES}


def normalise(text: str) -> str:
    """NFC, "\\n" line ends, plain spaces and quotes: the string every span refers to."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_TRANSLATE)


def fold(text: str) -> str:
    """Lower case without diacritics ("Één" -> "een"), always the same length as `text`."""
    low = text.lower()
    if len(low) == len(text) and low.isascii():
        return low
    if len(low) == len(text):
        stripped = "".join(
            c for c in unicodedata.normalize("NFD", low) if not unicodedata.combining(c)
        )
        if len(stripped) == len(text):
            return stripped
    # Rare characters change length when lowered or decomposed (İ, Hangul):
    # fold one character at a time so that the spans still line up.
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    low = char.lower()
    if len(low) != 1:
        low = char
    return unicodedata.normalize("NFD", low)[0]


class Spanned(Protocol):
    """Anything a reader found at a place in the text."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


M = TypeVar("M", bound=Spanned)


def first_longest(found: Iterable[M]) -> list[M]:
    """Keep non-overlapping mentions, preferring the earliest and then the longest.

    Several patterns often match the same words ("een halve dag" holds "een"
    and "halve dag"); the longest reading at a position is the one meant.
    """
    kept: list[M] = []
    for mention in sorted(found, key=lambda m: (m.start, m.start - m.end)):
        if kept and mention.start < kept[-1].end:
            continue
        kept.append(mention)
    return kept


# A sentence ends at ".", "!" or "?" followed by a space (so "1.5 dag" stays
# whole) or at a line end: mail is written in lines more than in sentences.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if text[start : match.end()].strip():
            spans.append((start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def sentence_of(spans: list[tuple[int, int]], position: int) -> int:
    """The index of the sentence that holds `position` (or -1)."""
    for index, (start, end) in enumerate(spans):
        if start <= position < end:
            return index
    return -1


_CLAUSE_BREAK = re.compile(r"[,;:()\n!?]|\.\s|\s(?:maar|but|wel|echter)\s")
_WORD = re.compile(r"[\w']+")
NEGATORS = frozenset(
    {"niet", "geen", "nooit", "behalve", "zonder", "not", "no", "never", "except", "without"}
)


def clause_before(folded: str, position: int, reach: int = 60) -> str:
    """The words of the same clause that come before `position`."""
    window = folded[max(0, position - reach) : position]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def clause_after(folded: str, position: int, reach: int = 40) -> str:
    window = folded[position : position + reach]
    found = _CLAUSE_BREAK.search(window)
    return window[: found.start()] if found else window


def negated(folded: str, start: int, end: int | None = None, words: int = 2) -> bool:
    """Whether a negation stands just before (or, for verbs, just after) a mention.

    Two words either way catches "niet in maart", "not to cancel" and
    "annuleren we niet" without reaching a "niet" that belongs to another
    thought in a long clause ("we kunnen niet komen en annuleren daarom").
    """
    before = _WORD.findall(clause_before(folded, start))[-words:]
    after = _WORD.findall(clause_after(folded, end))[:words] if end is not None else []
    return any(w in NEGATORS or w.endswith("n't") for w in (*before, *after))
