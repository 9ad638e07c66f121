"""Every mail exists in Dutch and English, and renders for the contexts the domain writes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.mail.compose import Composer
from bot.render import Renderer
from config.settings import TEMPLATES_DIR

NOTIFICATIONS = [
    "request_submitted",
    "request_approved",
    "request_rejected",
    "request_scheduled",
    "request_completed",
    "request_cancelled",
    "request_assigned",
]
LANGUAGES = ["nl", "en"]
# What models.requests._announce writes, per template (and outbox.to_contact adds fallback_email).
BASE: dict[str, Any] = {
    "ref": "STO-2027-0042",
    "region": "FRYSLAN",
    "region_name": "Súdwest-Fryslân",
    "days": "1.5",
    "kind": "process",
    "theme": "doorlopende leerlijnen",
    "fallback_email": "jose@school.example",
}
EXTRA: dict[str, dict[str, Any]] = {
    "request_submitted": {"status": "submitted"},
    "request_approved": {"status": "approved", "reason": ""},
    "request_rejected": {"status": "rejected", "reason": "het budget is op"},
    "request_scheduled": {"status": "scheduled", "reason": "2027-03-02, 2027-03-09"},
    "request_completed": {"status": "completed", "reason": "1"},
    "request_cancelled": {"status": "cancelled", "reason": ""},
    "request_assigned": {"status": "approved", "supporter": "Piet de Vrïes"},
}
AMOUNT = {"nl": "1,5 dag", "en": "1.5 days"}


def _files(lang: str) -> set[str]:
    root = TEMPLATES_DIR / lang / "mail"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_both_languages_have_the_same_mail_files() -> None:
    assert _files("nl") == _files("en")
    for name in NOTIFICATIONS:
        assert {f"{name}.txt", f"{name}.html"} <= _files("nl")


def test_both_languages_have_the_same_mail_phrases() -> None:
    renderer = Renderer()
    nl, en = renderer.macros("mail", "nl"), renderer.macros("mail", "en")
    assert nl == en
    assert {f"subject_{name}" for name in NOTIFICATIONS} <= nl
    assert {"from_name", "invite_summary", "invite_description"} <= nl


def context(name: str, **changes: Any) -> dict[str, Any]:
    return {**BASE, **EXTRA[name], **changes}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_every_mail_renders_with_the_reference_and_the_days(lang: str, name: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    parts = composer.render(name, lang, context(name))
    assert parts.subject.startswith("[STO-2027-0042] ")
    assert "\n" not in parts.subject
    for body in (parts.text, parts.html):
        assert "STO-2027-0042" in body
        assert "Súdwest-Fryslân" in body
        assert AMOUNT[lang] in body
        assert "[STO-2027-0042]" in body  # the footer says how to reply
    assert f'<html lang="{lang}">' in parts.html
    assert "\n-- \n" in parts.text  # the signature delimiter: replies leave the footer out
    assert not re.search(r"\{\{|\{%|Undefined", parts.text + parts.html)
    if name == "request_assigned":
        assert "Piet de Vrïes" in parts.subject


@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_dutch_mails_address_the_reader_with_u(name: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    parts = composer.render(name, "nl", context(name), name="José")
    words = set(re.findall(r"[a-zë]+", parts.text.lower()))
    assert words & {"u", "uw"}
    assert not words & {"je", "jij", "jouw", "jullie"}
    assert parts.text.startswith("Beste José,")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_user_values_are_escaped_in_html(lang: str, name: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    evil = '<script>alert("x")</script>'
    values = context(name, region_name=evil, theme=evil, supporter=evil)
    if name in ("request_rejected", "request_cancelled"):
        values["reason"] = evil
    parts = composer.render(name, lang, values)
    assert "<script>" not in parts.html
    assert "&lt;script&gt;" in parts.html
    assert evil in parts.text  # plain text shows it as it is


@pytest.mark.parametrize("lang", LANGUAGES)
def test_optional_parts_can_be_empty(lang: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    for name in NOTIFICATIONS:
        parts = composer.render(name, lang, context(name, theme=""))
        assert "Thema" not in parts.text and "Theme" not in parts.text


def test_dates_are_written_in_the_readers_language() -> None:
    from datetime import date

    composer = Composer(Renderer(), "ondersteuning@sto.example")
    days = [date(2027, 3, 2), date(2027, 3, 9)]
    nl = composer.render("request_scheduled", "nl", context("request_scheduled"), dates=days)
    en = composer.render("request_scheduled", "en", context("request_scheduled"), dates=days)
    assert "dinsdag 2 maart 2027 en dinsdag 9 maart 2027" in nl.text
    assert "Tuesday 2 March 2027 and Tuesday 9 March 2027" in en.text


def test_an_unknown_language_falls_back_to_dutch() -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    parts = composer.render("request_approved", "fr", context("request_approved"))
    assert "goedgekeurd" in parts.subject
    assert composer.language("fr") == "nl"
