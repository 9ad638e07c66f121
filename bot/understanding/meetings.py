"""What a message says about theme meetings: which one, coming or not, and who else.

Pure functions on text, like the rest of the understanding:

- meeting codes ("TB-2027-03", also written "tb 2027 3");
- whether the writer says they will come ("ja, ik kom graag", "count me in")
  or will not ("ik kan helaas niet komen", "I can't make it"). These phrases
  only mean something in reply to a meeting's mail, so the channel decides
  when they count; "aanmelden" and "afmelden" are read by `read_intent`;
- colleagues named with their address ("voor Piet Jansen <piet@school.nl>",
  "ik en Piet <piet@...>", "mijn collega Piet (piet@...)"), or named without
  one ("aanmelden TB-2027-03 voor Piet Jansen": then the address is missing);
- whether the writer comes too ("ik en Piet", "meld me aan, en mijn collega"),
  and how many places are asked for ("graag 2 plaatsen").

Only the lines a person wrote are read (the channel passes the mail's new
text): an address in a line without a word that introduces a person ("voor",
"en", "collega", ...) is no colleague, so "E: info@school.nl" in a signature
that slipped through registers nobody.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from bot.understanding.intent import question_sentences
from bot.understanding.numbers import WORDS
from bot.understanding.text import fold, normalise

_CODE = re.compile(r"(?<![A-Za-z0-9])TB[-\s]?(\d{4})[-\s](\d{1,3})(?![0-9])", re.IGNORECASE)
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")
_ANGLE = re.compile(r"<([^<>\n]{1,200})>")
# Words that introduce a person before a name or an address.
_CUE = re.compile(
    r"\b(?:voor|for|en|and|met|with|plus|collega'?s?|colleagues?|ook|also|namelijk|"
    r"aanmelden|inschrijven|registreren|register|sign\s+up|ik\s+en|me\s+and|graag|please)\b"
)
_ADDING = frozenset({"en", "and", "ook", "also", "plus", "met", "with"})
_WRAPPED_BEFORE = re.compile(r"[ \t]*\n[ \t]*<(?=[^<>\n]*@)")
_WRAPPED_OPEN = re.compile(r"<[ \t]*\n[ \t]*")
_WRAPPED_CLOSE = re.compile(r"[ \t]*\n[ \t]*>")
_SIGNATURE_LINE = re.compile(r"\s*(?:e|m|t|tel|e-?mail|mail|web|w)\s*[:.]", re.IGNORECASE)
_NAME_WORD = r"(?:[A-Z][\w'-]*|van|de|der|den|ter|ten|te|het|'t|la|le|du|da|von)"
_NAMED = re.compile(rf"\b(?:voor|for)\s+((?:[A-Z][\w'-]*)(?:\s+{_NAME_WORD}){{0,4}})")
_NOT_NAMES = frozenset(
    {"u", "uw", "jullie", "you", "your", "ons", "mij", "me", "ik", "wij", "we", "ieder",
     "iedereen", "het", "de", "een", "tb", "sto", "alle", "all", "both", "beiden"}
)  # fmt: skip

# Coming or not, said plainly (folded text).
_DECLINE = re.compile(
    r"\b(?:kan|kunnen|kun)\s+(?:er\s+)?(?:\w+\s+){0,2}?niet\s+(?:\w+\s+){0,2}?"
    r"(?:komen|aanwezig\s+zijn|deelnemen|bij\s+zijn|erbij\s+zijn|zijn)\b"
    r"|\b(?:kom|komen)\s+(?:\w+\s+){0,2}?niet\b|\bben\s+(?:er\s+)?(?:\w+\s+){0,2}?niet\s+bij\b"
    r"|\bzijn\s+(?:er\s+)?(?:\w+\s+){0,2}?niet\s+bij\b|\bverhinderd\b"
    r"|\b(?:can't|cannot|can\s+not|won't|will\s+not|unable\s+to|not\s+able\s+to)\s+"
    r"(?:\w+\s+){0,3}?(?:make\s+it|attend|come|be\s+there|join)\b"
)
# A statement that one comes counts always; a bare "ja" or a wish only without a
# question in the mail ("Ja, maar waar is het?" asks, it does not register).
_ATTEND = re.compile(
    r"\b(?:ik|wij|we)\s+(?:kom|komen)\b(?!\s+(?:\w+\s+)?niet)"
    r"|\b(?:ik\s+ben|wij\s+zijn|we\s+zijn)\s+(?:er\s*)?(?:graag\s+)?bij\b"
    r"|\bcount\s+(?:me|us)\s+in\b|\b(?:i|we)\s+(?:am|are)\s+(?:coming|in)\b"
    r"|\b(?:i|we)(?:'ll|\s+will)\s+(?:\w+\s+)?(?:come|attend|be\s+there|join)\b"
)
_ATTEND_SOFT = re.compile(
    r"^\s*(?:ja|yes)\b"
    r"|\b(?:wil|willen|zou|zouden|graag)\s+(?:\w+\s+){0,3}?(?:komen|deelnemen|aanwezig\s+zijn)\b"
    r"|\b(?:i|we)(?:\s+would\s+like\s+to|'d\s+like\s+to|\s+want\s+to)\s+(?:come|attend|join)\b"
)
_SEATS = re.compile(
    r"\b(\d{1,2}|een|twee|drie|vier|vijf|zes|zeven|acht|negen|tien|one|two|three|four|five|six)"
    r"\s+(?:plaats(?:en)?|personen|deelnemers|seats?|places?|people|persons)\b"
)
# The writer comes too: an object pronoun, "ik en ...", or a first-person "coming".
_SELF = re.compile(
    r"\b(?:me|mij|mezelf|mijzelf|myself|ons|us|onszelf|beiden|allebei|both)\b"
    r"|\b(?:ik|i)\s+(?:en|and)\b|\b(?:en|and)\s+(?:ik|i|me)\b"
    r"|\b(?:ik|wij|we|i)\s+(?:kom|komen|come|ben|zijn|am|are|will|'ll)\b"
)


@dataclass(frozen=True)
class Colleague:
    """Someone the writer registers: `email` is "" when only the name was given."""

    name: str
    email: str


@dataclass(frozen=True)
class MeetingReading:
    codes: tuple[str, ...] = ()  # "TB-2027-03", in the order written, each once
    attend: bool = False
    decline: bool = False
    colleagues: tuple[Colleague, ...] = ()
    includes_self: bool = True
    seats: int | None = None


def meeting_codes(text: str) -> tuple[str, ...]:
    """The meeting codes in `text`, written the way the domain does ("TB-2027-03")."""
    found: list[str] = []
    for match in _CODE.finditer(normalise(text)):
        code = f"TB-{match.group(1)}-{int(match.group(2)):02d}"
        if code not in found:
            found.append(code)
    return tuple(found)


def read_meeting(
    text: str,
    *,
    ignore: Collection[str] = (),
    not_names: Collection[str] = (),
    names_asked: bool = False,
) -> MeetingReading:
    """What `text` (the new words of one message) says about a meeting.

    `ignore`: addresses that are nobody's colleague (the writer's own, ours);
    `not_names`: words after "voor" that name no person (the writer's regions);
    `names_asked`: we asked for colleagues' addresses, so "Piet <piet@...>" on a
    line of its own is one too.
    """
    text = normalise(text)
    folded = fold(text)
    skip = {a.lower() for a in ignore}
    colleagues, added = _colleagues(text, skip, {fold(n) for n in not_names}, names_asked)
    # Coming or not counts when it is said, not when it is asked ("What if I can't make it?").
    said = " ".join(folded[s.start : s.end] for s in question_sentences(text) if not s.asks)
    decline = bool(_DECLINE.search(said))
    seats = _seats(folded)
    soft = "?" not in folded and bool(_ATTEND_SOFT.search(folded))
    attend = not decline and (bool(_ATTEND.search(said)) or soft or seats is not None)
    includes_self = (
        not colleagues
        or added
        or bool(_SELF.search(folded))
        or (seats is not None and seats > len(colleagues))
    )
    return MeetingReading(
        codes=meeting_codes(text),
        attend=attend,
        decline=decline,
        colleagues=tuple(colleagues),
        includes_self=includes_self,
        seats=seats,
    )


def _seats(folded: str) -> int | None:
    found = _SEATS.search(folded)
    if found is None:
        return None
    word = found.group(1)
    return int(word) if word.isdigit() else WORDS.get(word)


def _colleagues(
    text: str, skip: set[str], not_names: set[str], names_asked: bool
) -> tuple[list[Colleague], bool]:
    """The colleagues, and whether one was added to the writer ("aanmelden X en Piet <...>")
    rather than registered on their behalf ("aanmelden X voor Piet <...>")."""
    found: list[Colleague] = []
    added = False
    seen: set[str] = set()
    # Plain text wrapped at 76 characters breaks "Piet Jansen <piet@...>" over two lines.
    text = _WRAPPED_OPEN.sub("<", _WRAPPED_CLOSE.sub(">", _WRAPPED_BEFORE.sub(" <", text)))
    for line in text.split("\n"):
        if _SIGNATURE_LINE.match(line):
            continue
        hits = _addresses(line)
        for start, end, address in hits:
            key = address.lower()
            if key in skip or key in seen:
                continue
            before = line[:start]
            cue = list(_CUE.finditer(fold(before)))
            if not cue and not names_asked:
                continue
            seen.add(key)
            words = {fold(c.group()) for c in cue}
            added = added or bool(words & _ADDING and not words & {"voor", "for"})
            name = _clean_name(before[cue[-1].end() :] if cue else before)
            name = name or _name_after(line[end:])
            found.append(Colleague(name or _name_from_address(address), address))
        if hits or "<" in line:
            continue  # the names on this line came with their addresses
        for match in _NAMED.finditer(line):
            name = _clean_name(match.group(1))
            first = fold(name.split()[0]) if name else ""
            if not name or first in _NOT_NAMES or fold(name) in not_names or _CODE.match(name):
                continue
            if fold(name) not in {fold(c.name) for c in found}:
                found.append(Colleague(name, ""))
    return found, added


def _addresses(line: str) -> list[tuple[int, int, str]]:
    """(start, end, address) of every address on a line; "<...>" without "@" counts too,
    as an address written wrong ("<piet at school.nl>")."""
    hits: list[tuple[int, int, str]] = []
    for match in _ANGLE.finditer(line):
        inner = match.group(1).strip()
        if inner.lower().startswith("mailto:"):
            inner = inner[7:]
        if inner.lower().startswith(("http:", "https:")):
            continue
        hits.append((match.start(), match.end(), inner))
    for match in _ADDRESS.finditer(line):
        if any(s <= match.start() < e for s, e, _ in hits):
            continue
        hits.append((match.start(), match.end(), match.group().strip(".")))
    # "piet@x.nl <mailto:piet@x.nl>" (a link read from HTML) is one address
    unique: dict[str, tuple[int, int, str]] = {}
    for hit in sorted(hits):
        unique.setdefault(hit[2].lower(), hit)
    return sorted(unique.values())


def _clean_name(raw: str) -> str:
    words = re.sub(r"[<>()\[\]\"',;:]", " ", raw).split()
    # A name is the last few words before the address: "mijn collega Piet Jansen".
    kept: list[str] = []
    for word in reversed(words):
        if not re.fullmatch(_NAME_WORD, word) or fold(word) in _NOT_NAMES - {"de", "het"}:
            break
        kept.insert(0, word)
        if len(kept) == 5:
            break
    while kept and not kept[0][:1].isupper():
        kept.pop(0)  # "van Dam" starts with its capital: "Piet van Dam", not "van Dam"
    return " ".join(kept)


def _name_after(rest: str) -> str:
    found = re.match(r"\s*\(([^()\n]{1,120})\)", rest)
    return _clean_name(found.group(1)) if found else ""


def _name_from_address(address: str) -> str:
    local = address.partition("@")[0]
    parts = [p for p in re.split(r"[._+-]+", local) if p.isalpha()]
    return " ".join(p.capitalize() for p in parts) or local
