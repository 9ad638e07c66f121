"""Understanding request text in Dutch and English, for every channel.

Pure functions on text and a date: no database, no Slack, no mail. The mail
channel reads `mail_text(...)` (new words only) and Slack reads the words of
`/sto aanvragen ...`; both hand them to `understand`, and a reply in a
thread completes an earlier reading through `merge`.
"""

from __future__ import annotations

from bot.understanding.draft import DAYS, KIND, Understanding, merge, understand
from bot.understanding.htmltext import html_to_text
from bot.understanding.intent import Intent, IntentReading, read_intent
from bot.understanding.kinds import KindReading, Theme, find_kind, find_theme
from bot.understanding.periods import PreferredPeriod, find_period, warm_up
from bot.understanding.quantities import Quantity, QuantityProblem, find_quantity
from bot.understanding.quotes import mail_text, new_text, subject_text

__all__ = [
    "DAYS",
    "KIND",
    "Intent",
    "IntentReading",
    "KindReading",
    "PreferredPeriod",
    "Quantity",
    "QuantityProblem",
    "Theme",
    "Understanding",
    "find_kind",
    "find_period",
    "find_quantity",
    "find_theme",
    "html_to_text",
    "mail_text",
    "merge",
    "new_text",
    "read_intent",
    "subject_text",
    "understand",
    "warm_up",
]
