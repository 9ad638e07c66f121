"""The kind of support asked for, and the theme it is about.

Kinds are the domain's codes (models.types.SupportKind): `content`
(inhoudelijk advies), `process` (procesbegeleiding), `strategic`
(strategische ondersteuning) and `theme` (thema of regionale activiteit).
Content, process and strategic are named by words of their own; "thema" is
the weakest word, since a process or content request is often about a theme
too ("procesbegeleiding voor het thema duurzaamheid" is process support).
When a text names two of the strong kinds, the kind is left open with both
as options: the answer asks which one instead of picking.

A theme is a slug of the fixed list (models.types.THEMES) when the text names
one, in Dutch or English, with or without diacritics; otherwise the words
after "voor het thema", "thema:" or "ondersteuning over" as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.understanding.text import fold, negated, normalise
from models.types import THEMES, SupportKind

# Every pattern runs on folded text (lower case, no diacritics).
_KIND_WORDS: dict[SupportKind, tuple[str, ...]] = {
    SupportKind.process: (
        r"proces\w*begeleid\w*",
        r"proces\s*(?:ondersteuning|advies|facilitering|begeleiding)",
        r"procesonderst\w*",
        r"proces\s+(?:te\s+)?(?:begeleiden|faciliteren)",
        r"begeleid\w*\s+van\s+(?:het|ons|onze|de|een)\s+(?:proces|sessie|werksessie|overleg|stuurgroep)",
        r"(?:sessie|werksessie|overleg|stuurgroep)\s+(?:te\s+)?(?:begeleiden|leiden|faciliteren)",
        r"facilit(?:eren|eert|eer|ering|atie|ator|ate|ation|ating)\b",
        r"process\s+(?:support|guidance|facilitation|coaching)",
    ),
    SupportKind.content: (
        r"\binhoudelijk\w*",
        r"\bvakinhoudelijk\w*",
        r"\binhoudsdeskundig\w*",
        r"\bcontent\s+(?:advice|support|expertise|advisor|adviser)",
        r"\bsubject[- ]matter\b",
    ),
    SupportKind.strategic: (r"\bstrateg(?:isch\w*|ie\w*|ic\w*|y)\b",),
    SupportKind.theme: (
        r"\bthema(?:'s|s)?\b",
        r"\bthemadag\w*",
        r"\bthematisch\w*",
        r"\bthemes?\b",
        r"\bthematic\b",
        r"\bregiona(?:le|al)\s+(?:activiteit\w*|bijeenkomst\w*|evenement\w*)",
        r"\bregional\s+(?:activity|activities|event|events)\b",
    ),
}
# Single words that answer "which kind?" in a reply, but are too loose to
# read in a whole mail ("het proces", "de inhoud van de aanvraag").
_LOOSE_WORDS: dict[SupportKind, str] = {
    SupportKind.process: r"\bproces\b|\bprocess\b",
    SupportKind.content: r"\binhoud\b|\bcontent\b",
    SupportKind.strategic: r"\bstrategie\b|\bstrategic\b",
    SupportKind.theme: r"\bthema\b|\btheme\b|\bregionale activiteit\b",
}
_KIND_RE = {kind: re.compile("|".join(words)) for kind, words in _KIND_WORDS.items()}
_LOOSE_RE = {kind: re.compile(words) for kind, words in _LOOSE_WORDS.items()}
_STRONG = (SupportKind.content, SupportKind.process, SupportKind.strategic)


@dataclass(frozen=True, slots=True)
class KindReading:
    """The kind named (None when none or several), and the options when several."""

    kind: SupportKind | None
    options: tuple[SupportKind, ...] = ()
    text: str = ""
    start: int = -1
    end: int = -1


def find_kind(text: str, *, loose: bool = False) -> KindReading:
    """The kind of support `text` names.

    `loose`: the text answers the question "which kind?", so a single word
    such as "proces" or "inhoud" is enough.
    """
    text = normalise(text)
    folded = fold(text)
    first: dict[SupportKind, re.Match[str]] = {}
    for kind in SupportKind:
        patterns = [_KIND_RE[kind], *([_LOOSE_RE[kind]] if loose else [])]
        for pattern in patterns:
            for match in pattern.finditer(folded):
                if negated(folded, match.start(), match.end()):
                    continue  # "geen procesbegeleiding maar inhoudelijk advies"
                if kind not in first or match.start() < first[kind].start():
                    first[kind] = match
                break
    strong = sorted((k for k in _STRONG if k in first), key=lambda k: first[k].start())
    if len(strong) > 1:
        return KindReading(None, tuple(strong))
    chosen = strong[0] if strong else (SupportKind.theme if SupportKind.theme in first else None)
    if chosen is None:
        return KindReading(None)
    match = first[chosen]
    return KindReading(chosen, (), text[match.start() : match.end()], match.start(), match.end())


# --- themes ----------------------------------------------------------------------------------

# Synonyms beyond the slug itself (which always matches, with "-" or a space).
_THEME_WORDS: dict[str, tuple[str, ...]] = {
    "doorlopende-leerlijnen": (
        r"doorlopende\s+leerlijn(?:en)?",
        r"\bleerlijn(?:en)?\b",
        r"continuous\s+learning\s+(?:lines?|paths?|pathways?|trajector(?:y|ies))",
        r"learning\s+pathways?",
    ),
    "techniekpromotie": (
        r"techniek\s*-?\s*promotie",
        r"promotie\s+van\s+(?:de\s+)?techniek",
        r"promot(?:e|ing)\s+(?:technology|technical\s+education|engineering)",
        r"technology\s+promotion",
    ),
    "samenwerking-bedrijfsleven": (
        r"samenwerking\s+(?:met\s+)?(?:het\s+)?(?:regionale?\s+)?bedrijfsleven",
        r"\bbedrijfsleven\b",
        r"(?:cooperation|collaboration|partnerships?)\s+with\s+(?:the\s+)?(?:local\s+|regional\s+)?"
        r"(?:business(?:es)?|industry|employers|companies)",
    ),
    "professionalisering": (
        r"professionalisering\w*",
        r"professionali[sz]ation",
        r"professional\s+development",
    ),
    "loopbaanorientatie": (
        r"loopbaan\s*-?\s*orientatie\w*",
        r"\blob\b",
        r"career\s+(?:orientation|guidance)",
    ),
    "inclusie": (
        r"\binclusie\b",
        r"inclusief\s+onderwijs",
        r"\binclusion\b",
        r"inclusive\s+education",
    ),
    "duurzaamheid": (r"\bduurzaamheid\b", r"\bsustainability\b"),
    "regionale-plannen": (
        r"\bregio(?:naal|nale)?\s*plan(?:nen)?\b",
        r"\bregional\s+plans?\b",
    ),
    "monitoring": (r"\bmonitoring\b", r"\bmonitoren\b"),
    "financien": (
        r"\bfinancien\b",
        r"\bfinanciering\b",
        r"\bfinanc(?:e|es|ing|ial)\b",
        r"\bfunding\b",
    ),
}


def _theme_pattern(slug: str) -> re.Pattern[str]:
    own = r"\b" + re.escape(fold(slug)).replace(r"\-", r"[\s-]*") + r"\b"
    return re.compile("|".join((own, *_THEME_WORDS.get(slug, ()))))


_THEME_RE = {slug: _theme_pattern(slug) for slug in sorted(THEMES)}

# Where free text about a theme begins, and where it stops.
_THEME_MARKERS = (
    # Named as a theme first: "voor het thema X", "thema: X", "on the theme of X" ...
    re.compile(
        r"\b(?:(?:voor|over|rond|rondom|op|bij|met)\s+)?(?:het\s+)?(?:thema|onderwerp)\s*[:\-]?\s*"
        r"|\b(?:on|about|around|for)\s+the\s+(?:theme|topic)\s+(?:of\s+)?|\b(?:theme|topic)\s*:\s*"
    ),
    # ... and only then what the support is about: "ondersteuning over X".
    re.compile(
        r"\b(?:ondersteuning|advies|begeleiding|hulp|sessie|support|advice|help|session)\s+"
        r"(?:over|rond|rondom|about|around|on)\s+"
    ),
)
_THEME_STOP = re.compile(
    r"[.,;!?\n()]|\s(?:bij\s+voorkeur|het\s+liefst|liefst|graag|zo\s+mogelijk|indien\s+mogelijk|"
    r"preferably|ideally|if\s+possible)\b"
)
MAX_THEME = 120  # the request column holds 200; a theme is a few words


@dataclass(frozen=True, slots=True)
class Theme:
    """A theme: `slug` when it is one of THEMES, and the words as written."""

    slug: str | None
    text: str
    start: int
    end: int


def find_theme(text: str, stops: Sequence[int] = ()) -> Theme | None:
    """The theme `text` is about.

    `stops` are offsets where other readers found something (a period, an
    amount): free text ends there, so "thema gastlessen in maart" gives
    "gastlessen" when "in maart" is the period.
    """
    text = normalise(text)
    folded = fold(text)
    known = [
        (match.start(), match.end(), slug)
        for slug, pattern in _THEME_RE.items()
        if (match := pattern.search(folded)) and not negated(folded, match.start())
    ]
    if known:
        start, end, slug = min(known)
        return Theme(slug, text[start:end], start, end)
    markers = [marker for pattern in _THEME_MARKERS for marker in pattern.finditer(folded)]
    for marker in markers:
        begin = marker.end()
        limit = min([s for s in stops if s >= begin] + [len(text), begin + MAX_THEME])
        stop = _THEME_STOP.search(folded, begin, limit)
        end = stop.start() if stop else limit
        words = text[begin:end].strip(" \t'\"-:")
        if len(words) >= 3 and re.search(r"[^\W\d_]", words):
            offset = text.index(words, begin)
            return Theme(None, words, offset, offset + len(words))
    return None
