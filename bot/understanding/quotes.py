"""The new words of a mail: without quoted history, signature and closing.

A reply carries the whole thread below it; read as new text, the original
request would be booked again and "Met vriendelijke groet, Jan" would be
weighed as if it meant something. What is cut:

- quoted history: attribution lines ("Op di 3 mrt 2027 om 10:00 schreef Jan
  <jan@x.nl>:", "On Tue, Mar 3, 2027 at 10:00 AM Jan <jan@x.nl> wrote:",
  Apple Mail's "... heeft het volgende geschreven:", also wrapped over up to
  three lines), Outlook header blocks ("Van: / Verzonden: / Aan: /
  Onderwerp:", "From: / Sent: / To: / Subject:"), "-----Oorspronkelijk
  bericht-----", forwarded-message markers, and every line starting with ">";
- the signature, from "-- " on, and mobile footers ("Verzonden vanaf mijn
  iPhone", "Sent from my iPhone", "Outlook voor iOS");
- the closing ("Met vriendelijke groet," and what follows: the name block).

An answer written below a ">"-quoted question (bottom posting) is kept: the
quoted lines go, the lines between them stay.
"""

from __future__ import annotations

import re

from bot.understanding.htmltext import html_to_text
from bot.understanding.text import fold, normalise

# Attribution lines, read on a folded line or a few lines joined with spaces.
_ATTRIBUTION = re.compile(
    r"(?:op|on|am|le)\s.{4,250}?\b(?:schreef|wrote|geschreven|schrieb|a\s+ecrit)\b.{0,120}:\s*"
    r"|.{0,200}<[^<>\s]+@[^<>\s]+>\s*(?:schreef|wrote)\b.{0,120}:\s*"
    r"|.{0,120}\b(?:schreef|wrote)\s*:\s*"
)
_HEADER_FROM = re.compile(r"\s*\*?(?:van|from|de)\s*:\*?\s*\S")
_HEADER_DATE = re.compile(r"\s*\*?(?:verzonden|sent|datum|date|envoye)\s*:")
_HEADER_OTHER = re.compile(r"\s*\*?(?:aan|to|onderwerp|subject|cc|objet)\s*:")
_SEPARATOR = re.compile(
    r"\s*-{2,}\s*(?:oorspronkelijk\s+bericht|original\s+message|doorgestuurd\s+bericht|"
    r"forwarded\s+message|message\s+d'origine)\s*-{2,}\s*"
    r"|\s*begin\s+(?:forwarded\s+message|doorgestuurd\s+bericht)\s*:\s*"
    r"|\s*_{10,}\s*"
)
_SIGNATURE = re.compile(r"--\s?")
_MOBILE = re.compile(
    r"\s*(?:verzonden|verstuurd|sent|get|download)\s+(?:vanaf|vanuit|van|met|from|with|via)?\s*"
    r"(?:mijn|my)?\s*(?:iphone|ipad|android|samsung|smartphone|mobiel|mobile|outlook|mail\s+(?:voor|for)).*"
    r"|\s*(?:outlook\s+(?:voor|for)\s+(?:ios|android)).*"
)
# A closing on its own line, maybe with a name after a comma ("Groet, Jan").
_CLOSER_STRONG = (
    r"(?:met\s+)?(?:(?:hele\s+)?(?:vriendelijke|hartelijke|collegiale|warme|zonnige|sportieve|fijne|"
    r"lieve|beste|goede)\s+)groet(?:en|jes|je)?|mvg|m\.v\.g\.?|vr\.?\s*gr\.?|met\s+groet(?:en)?|"
    r"(?:kind|best|warm|warmest|with\s+kind)\s+regards|yours\s+(?:sincerely|truly|faithfully)|"
    r"sincerely"
)
# Weaker closings also open a body ("Groeten!", "Thanks!"), so they only cut
# when little follows them: a name block, not a message.
_CLOSER_WEAK = (
    r"groet(?:en|jes|je)?|gr\.?|hgr|dank\s+en\s+groet|alvast\s+(?:hartelijk\s+)?(?:bedankt|dank)|"
    r"bij\s+voorbaat\s+dank|regards|best(?:\s+wishes)?|cheers|(?:many\s+)?thanks(?:\s+in\s+advance)?|"
    r"thank\s+you(?:\s+in\s+advance)?"
)
_CLOSER_TAIL = r"\s*[,.!]?(?:\s*[,]?\s*[^\W\d_][\w .'-]{0,40})?\s*"
_STRONG = re.compile(rf"\s*(?:{_CLOSER_STRONG})(?!\w){_CLOSER_TAIL}")
_WEAK = re.compile(rf"\s*(?:{_CLOSER_WEAK})(?!\w){_CLOSER_TAIL}")
_NAME_BLOCK_LINES = 6
_GREETING = re.compile(
    r"\s*(?:hi|hoi|hallo|hey|hello|dear|beste|dag|geachte|goedemorgen|goedemiddag|goedenavond|"
    r"good\s+(?:morning|afternoon|evening))\b.{0,60}"
)
_QUOTED = re.compile(r"\s*>")


def _attribution_at(folded: list[str], index: int) -> int:
    """How many lines an attribution starting at `index` takes (0: none)."""
    if not folded[index].strip() or _QUOTED.match(folded[index]):
        return 0
    for size in (1, 2, 3):
        lines = folded[index : index + size]
        if len(lines) < size or any(not line.strip() for line in lines[1:]):
            return 0
        joined = " ".join(line.strip() for line in lines)
        if len(joined) <= 400 and _ATTRIBUTION.fullmatch(joined):
            return size
    return 0


def _outlook_header_at(folded: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(folded[index]):
        return False
    following = folded[index + 1 : index + 7]
    return any(_HEADER_DATE.match(line) for line in following) and any(
        _HEADER_OTHER.match(line) for line in following
    )


def _history_at(folded: list[str], index: int) -> bool:
    """Whether quoted history or a signature starts at `index`."""
    line = folded[index]
    return bool(
        _attribution_at(folded, index)
        or _SEPARATOR.fullmatch(line)
        or _SIGNATURE.fullmatch(line)
        or _MOBILE.fullmatch(line)
        or _outlook_header_at(folded, index)
    )


class _Lines:
    """A body's folded lines, with what the readers ask of them more than once.

    `next_filled[i]` is the first line at or after `i` that is not blank
    (`len(folded)` when none is), so a reader skips blank lines in one step;
    whether history starts at a line is worked out once, when first asked.
    Together they keep `new_text` linear in the number of lines.
    """

    def __init__(self, folded: list[str]) -> None:
        self.folded = folded
        count = len(folded)
        self.next_filled = [count] * (count + 1)
        for index in range(count - 1, -1, -1):
            self.next_filled[index] = (
                index if folded[index].strip() else self.next_filled[index + 1]
            )
        self._history: dict[int, bool] = {}

    def history_at(self, index: int) -> bool:
        found = self._history.get(index)
        if found is None:
            found = self._history[index] = _history_at(self.folded, index)
        return found


class _Said:
    """The kept lines that say something, and whether they are all greetings ("Hoi,")."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._greetings = 0  # how many of `lines` were checked: all greetings so far
        self._only_greetings = True

    def add(self, line: str) -> None:
        if line.strip():
            self.lines.append(line)

    def only_greetings(self) -> bool:
        # Lines are only added, so one line that is no greeting settles it for good.
        while self._only_greetings and self._greetings < len(self.lines):
            self._only_greetings = bool(_GREETING.fullmatch(fold(self.lines[self._greetings])))
            self._greetings += 1
        return self._only_greetings


def _closer_at(lines: _Lines, index: int, said: _Said) -> bool:
    line = lines.folded[index]
    if not said.lines:
        return False  # a closing cannot come first
    if _STRONG.fullmatch(line):
        return True
    if not _WEAK.fullmatch(line) or said.only_greetings():
        return False  # "Hoi,\n\nThanks!\n\nTwee dagen graag": thanks opens the message
    # Only a name block may follow a weak closing, up to the history below it:
    # a few short lines that are not sentences. Blank lines are skipped (they
    # are never history), so this looks at no more than _NAME_BLOCK_LINES + 1 lines.
    rest = 0
    later = lines.next_filled[index + 1]
    while later < len(lines.folded):
        if lines.history_at(later) or _QUOTED.match(lines.folded[later]):
            break
        text = lines.folded[later].strip()
        rest += 1
        if rest > _NAME_BLOCK_LINES or len(text) > 80 or text.endswith(("?", "!", ".")):
            return False
        later = lines.next_filled[later + 1]
    return True


def new_text(body: str) -> str:
    """The part of a plain-text mail body the sender wrote now."""
    raw = normalise(body).split("\n")
    lines = _Lines([fold(line) for line in raw])
    folded = lines.folded
    kept: list[str] = []
    said = _Said()
    index = 0
    while index < len(raw):
        line = folded[index]
        attribution = _attribution_at(folded, index)
        if attribution:
            below = lines.next_filled[index + attribution]
            if below < len(folded) and _QUOTED.match(folded[below]):
                index += attribution  # ">"-quoted below: drop the attribution, keep reading
                continue
            break
        if lines.history_at(index) or _closer_at(lines, index, said):
            break
        if not _QUOTED.match(line):
            kept.append(raw[index].rstrip())
            said.add(kept[-1])
        index += 1
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def mail_text(plain: str | None, html: str | None = None) -> str:
    """The new words of a mail from its text part or, for HTML-only mail, its HTML part."""
    if plain and plain.strip():
        return new_text(plain)
    if html and html.strip():
        return new_text(html_to_text(html))
    return ""


_REPLY_PREFIX = re.compile(
    r"\s*(?:re|aw|antw|antwoord|fw|fwd|wg|doorst|tr|sv|vs)\s*(?:\[\d+\])?\s*:", re.IGNORECASE
)
_REFERENCE = re.compile(r"\[?\bSTO-\d{4}-\d{3,}\b\]?", re.IGNORECASE)


def subject_text(subject: str) -> str:
    """The subject as request text: empty for a reply or forward, which only repeats it.

    The request reference is left out too: "[STO-2027-0042]" is no amount or date.
    """
    if _REPLY_PREFIX.match(subject):
        return ""
    return " ".join(_REFERENCE.sub(" ", normalise(subject)).split())
