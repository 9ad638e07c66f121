"""A request as far as a message tells it, and what it still lacks.

`understand` reads one text; `merge` lets a reply in the same thread
complete an earlier reading: the answer asked for the days, the reply says
"een halve dag", and together they make a request. The reading never guesses:
what is unclear stays None and is named in `missing`, with the reason
(`days_problem`, `kind_options`) so the answer can ask for exactly that.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date

from bot.understanding.intent import Intent, read_intent
from bot.understanding.kinds import find_kind, find_theme
from bot.understanding.periods import find_period
from bot.understanding.quantities import QuantityProblem, find_quantity
from bot.understanding.text import normalise
from models.types import SupportKind

DAYS = "days"
KIND = "kind"


@dataclass(frozen=True)
class Understanding:
    """What a message says, as far as it says it.

    `half_days` counts half days (1 day = 2). `theme` is a slug of
    models.types.THEMES when the text names one, otherwise the free text as
    written, or "". `missing` is only filled for a request: "days" and/or
    "kind", in that order.
    """

    intent: Intent
    half_days: int | None = None
    kind: SupportKind | None = None
    theme: str = ""
    preferred_from: date | None = None
    preferred_to: date | None = None
    preferred_text: str = ""
    missing: list[str] = field(default_factory=list)
    days_text: str = ""  # the words the days were read from (or the unclear words)
    days_problem: QuantityProblem | None = None  # why the days are unclear
    kind_options: tuple[SupportKind, ...] = ()  # several kinds named: ask which one
    also: tuple[Intent, ...] = ()  # other wishes in the same message, e.g. the balance


def _missing(intent: Intent, half_days: int | None, kind: SupportKind | None) -> list[str]:
    if intent is not Intent.request:
        return []
    return [name for name, value in ((DAYS, half_days), (KIND, kind)) if value is None]


def understand(text: str, today: date, *, expecting: Collection[str] = ()) -> Understanding:
    """Read `text` (a mail's new text, a Slack command's words) relative to `today`.

    `expecting`: what the previous answer asked for (an earlier `missing`),
    so that a bare "2" reads as two days and "proces" as process support.
    """
    text = normalise(text)
    quantity = find_quantity(text, bare_number_is_days=DAYS in expecting)
    kind = find_kind(text, loose=KIND in expecting)
    period = find_period(text, today)
    stops = [found.start for found in (quantity, period) if found is not None]
    theme = find_theme(text, stops)
    reading = read_intent(
        text,
        amounts=[(quantity.start, quantity.end)] if quantity else [],
        kinds=[(kind.start, kind.end)] if kind.kind else [],
    )
    half_days = quantity.half_days if quantity else None
    return Understanding(
        intent=reading.intent,
        half_days=half_days,
        kind=kind.kind,
        theme=(theme.slug or theme.text) if theme else "",
        preferred_from=period.preferred_from if period else None,
        preferred_to=period.preferred_to if period else None,
        preferred_text=period.text if period else "",
        missing=_missing(reading.intent, half_days, kind.kind),
        days_text=quantity.text if quantity else "",
        days_problem=quantity.problem if quantity else None,
        kind_options=kind.options,
        also=reading.also,
    )


def merge(previous: Understanding, reply: Understanding) -> Understanding:
    """Complete `previous` with what a reply in the same thread adds.

    A reply that wants something else (a cancellation, the balance, a
    registration) is taken as it is. Otherwise what the reply says replaces
    what was said before, and what it leaves out is kept: "liever in april"
    moves the period and leaves days and kind alone.
    """
    if reply.intent not in {Intent.request, Intent.unknown}:
        return reply
    intent = Intent.request if Intent.request in {previous.intent, reply.intent} else reply.intent
    said_days = reply.half_days is not None or reply.days_problem is not None
    said_period = reply.preferred_from is not None
    said_kind = reply.kind is not None or bool(reply.kind_options)
    days_from = reply if said_days else previous
    kind_from = reply if said_kind else previous
    period_from = reply if said_period else previous
    merged = replace(
        previous,
        intent=intent,
        half_days=days_from.half_days,
        days_text=days_from.days_text,
        days_problem=days_from.days_problem,
        kind=kind_from.kind,
        kind_options=kind_from.kind_options,
        theme=reply.theme or previous.theme,
        preferred_from=period_from.preferred_from,
        preferred_to=period_from.preferred_to,
        preferred_text=period_from.preferred_text,
        also=reply.also,  # what else this message asks; the earlier one was answered
    )
    return replace(merged, missing=_missing(intent, merged.half_days, merged.kind))
