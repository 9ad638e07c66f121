"""Every meeting mail and Slack message renders in Dutch and English for the contexts the
domain writes (models.meetings._context, models.announcements._context)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.mail.compose import Composer
from bot.render import Renderer

MAILS = [
    "meeting_registered",
    "meeting_waitlisted",
    "meeting_promoted",
    "meeting_changed",
    "meeting_cancelled",
    "meeting_unregistered",
    "meeting_reminder",
    "meeting_announcement",
]
REGISTRATION: dict[str, Any] = {
    "code": "TB-2027-03",
    "title": "Techniek & de regio",
    "name": "José",
    "starts_at": "2027-11-01T09:00:00+00:00",
    "ends_at": "2027-11-01T12:00:00+00:00",
    "timezone": "Europe/Amsterdam",
    "location": "Utrecht",
    "online_url": "https://meet.example/sto",
    "description": "Kennisdeling",
    "sequence": 2,
    "place": None,
}
ANNOUNCEMENT = {
    **{k: v for k, v in REGISTRATION.items() if k not in ("sequence", "place")},
    "theme": "samenwerking",
    "registration_deadline": "2027-10-25T22:59:00+00:00",
}
WHEN = {"nl": "maandag 1 november 2027 van 10:00 tot 13:00", "en": "Monday 1 November 2027"}


def context(name: str, **changes: Any) -> dict[str, Any]:
    base = ANNOUNCEMENT if name == "meeting_announcement" else REGISTRATION
    return {**base, **changes}


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("name", MAILS)
def test_every_meeting_mail_renders(lang: str, name: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    values = context(name, place=3) if name == "meeting_waitlisted" else context(name)
    for invite in (False, True):
        parts = composer.render(name, lang, values, invite=invite)
        assert parts.subject.startswith("[TB-2027-03] ")
        for body in (parts.text, parts.html):
            assert WHEN[lang] in body
        assert "Techniek & de regio" in parts.text
        assert "Techniek &amp; de regio" in parts.html  # user text is escaped in HTML
        assert not re.search(r"\{\{|\{%|Undefined", parts.text + parts.html)


@pytest.mark.parametrize("name", MAILS)
def test_dutch_meeting_mails_say_u(name: str) -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    parts = composer.render(name, "nl", context(name, place=1), name="José", invite=True)
    words = set(re.findall(r"[a-zë]+", parts.text.lower()))
    assert words & {"u", "uw"} and not words & {"je", "jij", "jouw", "jullie"}
    assert parts.text.startswith("Beste José,")


def test_the_invitation_sentence_follows_the_calendar_part() -> None:
    composer = Composer(Renderer(), "ondersteuning@sto.example")
    with_ics = composer.render("meeting_unregistered", "nl", context("x"), invite=True).text
    without = composer.render("meeting_unregistered", "nl", context("x"), invite=False).text
    assert "verdwijnt de afspraak uit uw agenda" in with_ics
    assert "agenda" not in without
    waiting = composer.render("meeting_unregistered", "nl", context("x", place=2)).text
    assert "niet meer op de wachtlijst" in waiting


@pytest.mark.parametrize(
    ("lang", "command"), [("nl", "/sto bijeenkomsten"), ("en", "/sto meetings")]
)
def test_the_slack_announcement_renders(lang: str, command: str) -> None:
    text = Renderer().render(
        "notify.meeting_announcement", lang, **context("meeting_announcement"), extra="ignored"
    )
    assert "*Techniek & de regio* (TB-2027-03)" in text
    assert command in text and WHEN[lang] in text
