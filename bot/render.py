"""One Jinja environment and one entry point for every sentence a user reads.

Templates live in `templates/<language>/`. Short texts are macros in a
per-topic file (`errors.j2`, `cli.j2`, …) and are addressed as
"errors.insufficient_balance"; whole documents (mail bodies) are files and
are addressed by their path ("mail/confirmation.txt"). Every key exists in
`nl` and `en` (a test checks) and renders under StrictUndefined.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.runtime import Context, Macro

from config.settings import TEMPLATES_DIR

LOCALES = {"nl": "nl_NL", "en": "en_GB"}
FALLBACK = "nl"


def _locale(language: str) -> str:
    return LOCALES.get(language, LOCALES[FALLBACK])


def number(value: Decimal | int | float, language: str = FALLBACK) -> str:
    """1.5 -> "1,5" in Dutch, "1.5" in English; thousands grouped as the reader expects."""
    return _number(Decimal(str(value)), language)


@lru_cache(maxsize=4096)
def _number(value: Decimal, language: str) -> str:
    # Balances repeat the same few amounts; Babel parses locale and pattern on every call,
    # which was a fifth of a `/sto saldo` answer.
    return str(format_decimal(value, format="#,##0.##", locale=_locale(language)))


def long_date(value: date, language: str = FALLBACK) -> str:
    """ "dinsdag 3 maart 2027" / "Tuesday 3 March 2027"."""
    return str(format_date(value, "EEEE d MMMM y", locale=_locale(language)))


def local_time(value: datetime, tz: str, language: str = FALLBACK) -> str:
    """ "10:00" in the given zone."""
    return str(
        format_datetime(value, "HH:mm", tzinfo=zoneinfo.ZoneInfo(tz), locale=_locale(language))
    )


def local_date(value: datetime, tz: str) -> date:
    return value.astimezone(zoneinfo.ZoneInfo(tz)).date()


class _Context(Context):
    """Text stays text in HTML: a macro of a plain-text file (`mail.j2`, `visits.j2`, …)
    interpolates its values unescaped, so its result must not count as safe HTML.

    Jinja marks a macro's result safe whenever the *calling* template autoescapes,
    whatever the macro's own file does; a region name or a reason inside
    `{{ m.greeting(name) }}` would then reach an HTML mail as raw markup. Called
    without the caller's evaluation context, such a macro returns a plain string,
    which the HTML template escapes as a whole, once: its own punctuation and the
    values in it alike ("<naam@school.nl>" shows as typed). Macros defined in an HTML
    template escape their values themselves and keep Jinja's behaviour.
    """

    def call(self, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, Macro) and not obj._default_autoescape:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            return obj(*args, **kwargs)
        return super().call(obj, *args, **kwargs)


class Renderer:
    """One Jinja environment per language, so formatting helpers are plain globals
    that imported templates see too."""

    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        self.root = root
        self._envs: dict[str, Environment] = {}

    def env(self, language: str) -> Environment:
        found = self._envs.get(language)
        if found is not None:  # the hot path: no file system calls per render
            return found
        requested = language
        language = language if (self.root / language).is_dir() else FALLBACK
        if language not in self._envs:
            env = Environment(
                loader=FileSystemLoader(str(self.root)),
                # Templates ship with the code: no stat of the file on every render.
                auto_reload=False,
                undefined=StrictUndefined,
                autoescape=select_autoescape(enabled_extensions=("html", "htm")),
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            env.context_class = _Context
            env.globals.update(_filters(language))
            env.globals["lang"] = language
            self._envs[language] = env
        self._envs[requested] = self._envs[language]
        return self._envs[language]

    def render(self, key: str, language: str = FALLBACK, **context: Any) -> str:
        """Render a macro ("errors.insufficient_balance") or a file ("mail/x.txt")."""
        env = self.env(language)
        language = str(env.globals["lang"])
        if "/" in key:
            return env.get_template(f"{language}/{key}").render(**context)
        module_name, _, macro_name = key.rpartition(".")
        module = env.get_template(f"{language}/{module_name}.j2").module
        macro = getattr(module, macro_name, None)
        if macro is None:
            raise KeyError(f"no template {key!r} for language {language!r}")
        if not macro.catch_kwargs:
            # A row's context may carry more than this sentence uses (thread headers,
            # dates for the mail version): hand over what it asks for. A missing
            # value still fails under StrictUndefined.
            context = {k: v for k, v in context.items() if k in macro.arguments}
        return str(macro(**context)).strip()

    def macros(self, module_name: str, language: str) -> set[str]:
        """The keys a topic file defines (for the nl/en completeness test)."""
        module = self.env(language).get_template(f"{language}/{module_name}.j2").module
        return {name for name in dir(module) if not name.startswith("_")}


def _filters(language: str) -> dict[str, Any]:
    """Formatting helpers handed to every template as plain functions."""
    return {
        "fmt_number": lambda v: number(v, language),
        # Outbox contexts are JSON: days arrive as ISO text.
        "fmt_date": lambda v: long_date(
            v if isinstance(v, date) else date.fromisoformat(str(v)), language
        ),
        "fmt_time": lambda v, tz: local_time(v, tz, language),
        "fmt_local_date": lambda v, tz: long_date(local_date(v, tz), language),
        # Outbox contexts are JSON: instants arrive as ISO text.
        "instant": lambda v: v if isinstance(v, datetime) else datetime.fromisoformat(str(v)),
        # ... and calendar dates as ISO text ("2027-03-02").
        "as_date": lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)),
    }


@cache
def default_renderer() -> Renderer:
    return Renderer()
