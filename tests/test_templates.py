"""Every sentence exists in Dutch and English and renders under StrictUndefined."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.render import Renderer, local_time, long_date, number
from config.settings import TEMPLATES_DIR
from models import errors

TOPICS = sorted(p.stem for p in (TEMPLATES_DIR / "nl").glob("*.j2"))


def test_both_languages_have_the_same_files() -> None:
    def files(lang: str) -> set[str]:
        return {
            str(p.relative_to(TEMPLATES_DIR / lang))
            for p in (TEMPLATES_DIR / lang).rglob("*")
            if p.is_file()
        }

    assert files("nl") == files("en")


@pytest.mark.parametrize("topic", TOPICS)
def test_both_languages_have_the_same_keys(topic: str) -> None:
    renderer = Renderer()
    assert renderer.macros(topic, "nl") == renderer.macros(topic, "en")


def _error_classes() -> list[type[errors.DomainError]]:
    return [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.DomainError)
        and cls is not errors.DomainError
    ]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_domain_error_has_a_sentence(lang: str) -> None:
    keys = Renderer().macros("errors", lang)
    assert {cls.code for cls in _error_classes()} <= keys


def test_strict_undefined_catches_a_missing_value() -> None:
    from jinja2.exceptions import UndefinedError

    with pytest.raises((UndefinedError, TypeError)):
        Renderer().render("errors.unknown_region", "nl")


def test_dutch_numbers_and_dates() -> None:
    assert number(Decimal("1.5")) == "1,5"
    assert number(Decimal("1234.5")) == "1.234,5"
    assert number(Decimal("2")) == "2"
    assert number(Decimal("1.5"), "en") == "1.5"
    assert long_date(date(2027, 3, 2)) == "dinsdag 2 maart 2027"
    assert long_date(date(2027, 3, 2), "en") == "Tuesday 2 March 2027"


def test_times_are_shown_in_the_regions_zone_across_dst() -> None:
    summer = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # the morning after the clocks went forward
    winter = datetime(2027, 3, 27, 9, 0, tzinfo=UTC)
    for at in (summer, winter):
        assert local_time(at, "Europe/Amsterdam") == "10:00"
    assert local_time(summer, "America/Kralendijk") == "04:00"  # no DST on Bonaire


def test_unknown_language_falls_back_to_dutch(tmp_path: Path) -> None:
    assert Renderer().render("labels.status", "fr", value="approved") == "goedgekeurd"


def test_amounts_are_dutch_and_never_rounded() -> None:
    r = Renderer()
    assert r.render("labels.amount", "nl", value=Decimal("0.5"), kind="support_days") == "0,5 dag"
    assert r.render("labels.amount", "nl", value=Decimal("2"), kind="support_days") == "2 dagen"
    assert r.render("labels.amount", "nl", value=Decimal("1"), kind="cf_visits") == "1 bezoek"
    assert r.render("labels.amount", "en", value=Decimal("2.5"), kind="support_days") == "2.5 days"
