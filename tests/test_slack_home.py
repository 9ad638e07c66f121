"""App Home, escaping of user text and English answers, end to end in HTTP mode."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import Contact
from tests.slack_fake import app_home_opened, event_body, state_text
from tests.slack_harness import (
    COORDINATOR,
    CRITICAL_FRIEND,
    TEAM_CHANNEL,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    ok,
    request_form,
)

ZEELAND = '{"region": "ZEELAND"}'
TWENTE = '{"region": "TWENTE"}'
EVIL = ("<!channel>", "<@U123>", "<http://evil|click>")
ESCAPED = ("&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;http://evil|click&gt;")


def book(slack: SlackHarness, user: str, meta: str, days: str, **more: Any) -> None:
    response = ok(slack.submit(user, "request_modal", request_form(days, **more), meta))
    assert response.body in ("", "{}"), response.body


def open_home(slack: SlackHarness, user: str) -> str:
    """Open the App Home tab; returns the published view's blocks as JSON text."""
    before = len(slack.api.calls_to("views.publish"))
    ok(slack.post(event_body(app_home_opened(user))))
    calls = slack.api.wait_for("views.publish", count=before + 1)
    published = [c for c in calls if c.args["user_id"] == user]
    assert published, [c.args["user_id"] for c in calls]
    return json.dumps(published[-1].args["view"]["blocks"], ensure_ascii=False)


def set_language(engine: Engine, email: str, language: str) -> None:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.email == email)).one()
        contact.language = language
        session.add(contact)
        session.commit()


# ---- App Home ---------------------------------------------------------------------------


def test_a_contact_sees_their_region_only(slack: SlackHarness) -> None:
    book(slack, ZEELAND_CONTACT, ZEELAND, "1", theme="leerlijnen")
    book(slack, TWENTE_CONTACT, TWENTE, "2", theme="techniekdag")

    home = open_home(slack, ZEELAND_CONTACT)
    assert "Zeeland" in home and "3,5 dag beschikbaar" in home
    assert "STO-2026-0001" in home and "leerlijnen" in home
    assert "Twente" not in home and "TWENTE" not in home
    assert "STO-2026-0002" not in home and "techniekdag" not in home
    assert slack.api.home_views[ZEELAND_CONTACT]["type"] == "home"


def test_the_team_sees_all_regions_lowest_first_and_what_waits(slack: SlackHarness) -> None:
    book(slack, TWENTE_CONTACT, TWENTE, "4")  # Twente: 1 day left, Zeeland 4,5
    book(slack, ZEELAND_CONTACT, ZEELAND, "0,5")

    home = open_home(slack, COORDINATOR)
    assert home.index("Twente") < home.index("Zeeland")
    assert "1 dag beschikbaar" in home and "4 dagen beschikbaar" in home
    assert "Wacht op het team* (2)" in home
    assert "STO-2026-0001" in home and "STO-2026-0002" in home


def test_an_unknown_user_sees_no_data(slack: SlackHarness) -> None:
    book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    home = open_home(slack, "UNOBODY")
    assert "niet bekend" in home
    assert "Zeeland" not in home and "STO-2026" not in home


def test_homes_are_republished_when_a_request_changes(slack: SlackHarness) -> None:
    book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    # The DM and the card, and one refresh for each home that shows Zeeland.
    assert slack.dispatch(homes=True) == 2 + 3
    first = {c.args["user_id"] for c in slack.api.wait_for("views.publish", count=3)}
    assert first == {ZEELAND_CONTACT, CRITICAL_FRIEND, COORDINATOR}
    assert "STO-2026-0001" in json.dumps(slack.api.home_views[COORDINATOR]["blocks"])

    ts = next(
        str(c.response["ts"])
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == TEAM_CHANNEL
    )
    ok(
        slack.click(
            COORDINATOR,
            "request_approve",
            "STO-2026-0001",
            message_ts=ts,
            channel_id=TEAM_CHANNEL,
        )
    )
    slack.until_status("STO-2026-0001", "approved")
    assert slack.dispatch(homes=True) == 2 + 3
    again = slack.api.wait_for("views.publish", count=6)[3:]
    assert {c.args["user_id"] for c in again} == {ZEELAND_CONTACT, CRITICAL_FRIEND, COORDINATOR}
    contact_home = json.dumps(slack.api.home_views[ZEELAND_CONTACT]["blocks"])
    team_home = json.dumps(slack.api.home_views[COORDINATOR]["blocks"])
    assert "STO-2026-0001" in contact_home and "goedgekeurd" in contact_home
    assert "Wacht op het team* (0)" in team_home and "STO-2026-0001" not in team_home


# ---- escaping ---------------------------------------------------------------------------


def _shown(text: str) -> None:
    for raw in EVIL:
        assert raw not in text, raw
    for safe in ESCAPED:
        assert safe in text, safe


def test_user_text_is_escaped_in_every_message(slack: SlackHarness) -> None:
    theme = "Ik meld: <!channel> <@U123>"
    description = "Lees <http://evil|click> en <!channel> en <@U123>"
    book(slack, ZEELAND_CONTACT, ZEELAND, "1", theme=theme, description=description)
    slack.dispatch()

    card = next(
        c.args for c in slack.api.calls_to("chat.postMessage") if c.args["channel"] == TEAM_CHANNEL
    )
    _shown(json.dumps(card["blocks"], ensure_ascii=False))

    ok(slack.command("mijn", ZEELAND_CONTACT))
    mine = slack.replies()[0]
    mine_text = json.dumps(mine["blocks"], ensure_ascii=False)
    for raw in EVIL[:2]:
        assert raw not in mine_text
    assert ESCAPED[0] in mine_text and ESCAPED[1] in mine_text  # /sto mijn shows the theme

    _shown(open_home(slack, COORDINATOR) + json.dumps(card["blocks"], ensure_ascii=False))

    # A reason typed by the team reaches the requester escaped as well.
    meta = json.dumps({"ref": "STO-2026-0001", "channel": TEAM_CHANNEL, "ts": card.get("ts", "")})
    reason = {"reason": {"value": state_text(" ".join(EVIL))}}
    ok(slack.submit(COORDINATOR, "reject_modal", reason, meta))
    slack.dispatch()
    rejected = [
        str(c.args["text"])
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == "D" + ZEELAND_CONTACT and "afgewezen" in str(c.args["text"])
    ]
    assert len(rejected) == 1
    _shown(rejected[0])

    # Nothing the app sent anywhere carries a live mention or link.
    for call in slack.api.calls:
        sent = json.dumps(call.args, ensure_ascii=False)
        for raw in EVIL:
            assert raw not in sent, (call.method, raw)


# ---- English ----------------------------------------------------------------------------


def test_an_english_contact_gets_english_answers(slack: SlackHarness, engine: Engine) -> None:
    set_language(engine, "zee@school.example", "en")
    ok(slack.command("balance", ZEELAND_CONTACT))
    reply = slack.replies()[0]
    text = json.dumps(reply, ensure_ascii=False)
    assert "Balance 2026" in text and "4.5 days available" in text
    assert "beschikbaar" not in text

    ok(slack.command("coffee", ZEELAND_CONTACT))
    assert "what you can ask" in slack.replies(2)[1]["text"]

    book(slack, ZEELAND_CONTACT, ZEELAND, "1")
    slack.dispatch()
    dm = next(
        str(c.args["text"])
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == "D" + ZEELAND_CONTACT
    )
    assert "Your request *STO-2026-0001*" in dm

    ok(
        slack.click(
            ZEELAND_CONTACT,
            "request_cancel",
            "STO-2026-0001",
            message_ts="1700000000.000900",
            channel_id="D" + ZEELAND_CONTACT,
        )
    )
    slack.until_status("STO-2026-0001", "cancelled")
    assert slack.replies(3)[2]["text"] == "STO-2026-0001 is now cancelled."

    too_much = ok(slack.submit(ZEELAND_CONTACT, "request_modal", request_form("9"), ZEELAND)).json()
    assert "4.5 days left" in too_much["errors"]["days"]


def test_the_team_sees_the_weeks_visits(slack: SlackHarness, engine: Engine) -> None:
    from datetime import UTC, date, datetime

    from models.tables import Period, Region, Supporter, Visit

    with Session(engine) as session:
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        supporter = session.exec(
            select(Supporter).where(Supporter.role == "critical_friend")
        ).first()
        period = session.exec(select(Period).where(Period.code == "2026")).one()
        assert supporter is not None
        assert region.id and supporter.id and period.id
        at = datetime(2026, 11, 1, tzinfo=UTC)
        for day, status in ((date(2026, 12, 2), "scheduled"), (date(2026, 12, 9), "scheduled")):
            session.add(
                Visit(
                    region_id=region.id, supporter_id=supporter.id, period_id=period.id,
                    number=1, status=status, day=day, window_from=day, window_to=day,
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
        session.commit()
        name = supporter.name

    home = open_home(slack, COORDINATOR)
    assert "Deze week* (vanaf maandag 30 november 2026)" in home
    assert f"woensdag 2 december 2026: bezoek 1 van de critical friend · Zeeland · {name}" in home
    assert "9 december" not in home  # next week
    assert "Deze week" not in open_home(slack, ZEELAND_CONTACT)
