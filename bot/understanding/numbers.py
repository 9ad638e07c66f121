"""Numbers as people write them in a request: digits, "1,5", "1½" and words.

Values are `Decimal`, never float: a half day must stay exactly a half, and
"0,3" must stay visibly not a half.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Folded spellings (see text.fold): "één" is "een" here. "a"/"an"/"een" are
# articles too; the patterns only read them as "one" right before a unit.
WORDS: dict[str, int] = {
    "een": 1, "one": 1, "a": 1, "an": 1,
    "twee": 2, "two": 2,
    "drie": 3, "three": 3,
    "vier": 4, "four": 4,
    "vijf": 5, "five": 5,
    "zes": 6, "six": 6,
    "zeven": 7, "seven": 7,
    "acht": 8, "eight": 8,
    "negen": 9, "nine": 9,
    "tien": 10, "ten": 10,
    "elf": 11, "eleven": 11,
    "twaalf": 12, "twelve": 12,
    "dertien": 13, "thirteen": 13,
    "veertien": 14, "fourteen": 14,
    "vijftien": 15, "fifteen": 15,
    "zestien": 16, "sixteen": 16,
    "zeventien": 17, "seventeen": 17,
    "achttien": 18, "eighteen": 18,
    "negentien": 19, "nineteen": 19,
    "twintig": 20, "twenty": 20,
}  # fmt: skip

_DUTCH_BASES = "twee|drie|vier|vijf|zes|zeven|acht|negen|tien"
_WORD_ALTERNATIVES = "|".join(sorted(WORDS, key=len, reverse=True))

# "anderhalf", "tweeënhalf" (folded: "tweeenhalf"), "vierenhalve": one word, x.5.
HALF_WORD = rf"(?:anderhalve|anderhalf|(?:{_DUTCH_BASES})-?en-?halve|(?:{_DUTCH_BASES})-?en-?half)"

# A number: "2", "1,5", "1.5", "1½", "1 ½", "½" or a word. The lookbehind
# keeps "10:00" and "3.2.1" from yielding a number in their middle.
NUMBER = (
    rf"(?:(?<![\d.,:/])\d+(?:[.,]\d+)?(?:\s?½)?(?![\d½])|(?<![\w.,])½|"
    rf"\b(?:{_WORD_ALTERNATIVES})\b|\b{HALF_WORD}\b)"
)

_HALF_WORD_RE = re.compile(rf"(?:ander|(?P<base>{_DUTCH_BASES})-?en-?)halv?[ef]")


def value_of(token: str) -> Decimal | None:
    """The value of a folded number token as NUMBER matches it; None if it is none."""
    token = token.strip()
    if token in WORDS:
        return Decimal(WORDS[token])
    half_word = _HALF_WORD_RE.fullmatch(token)
    if half_word:
        base = half_word["base"]
        return Decimal(WORDS[base] if base else 1) + Decimal("0.5")
    half = Decimal("0.5") if token.endswith("½") else Decimal(0)
    digits = token.rstrip("½").strip().replace(",", ".")
    if not digits:
        return half
    try:
        return Decimal(digits) + half
    except InvalidOperation:
        return None
