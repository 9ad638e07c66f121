"""Theme meetings in Slack, end to end in HTTP mode on SQLite and PostgreSQL.

`/sto bijeenkomsten`, the registration modal (myself, a colleague, a region),
the waitlist, cancelling with promotion, closed meetings, the team's form
(create, edit, cancel, inline errors), refusals for non-team users, escaping
and App Home: signed requests in, Web API calls out, rows checked in the database.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import meetings as mt
from models.db import transaction
from models.tables import (
    Contact,
    Notification,
    Region,
    RegionContact,
    Registration,
    ThemeMeeting,
)
from tests.conftest import NOW, TEAM
from tests.slack_fake import (
    app_home_opened,
    block_actions,
    event_body,
    interaction_body,
    slash_command_body,
    state_number,
    state_select,
    state_text,
    view_submission,
)
from tests.slack_harness import (
    COORDINATOR,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    ok,
)

T = TypeVar("T")
START = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # dinsdag 2 maart 2027, 10:00 in Amsterdam
DEADLINE = datetime(2027, 2, 23, 16, 0, tzinfo=UTC)  # 17:00 in Amsterdam
MULTI_CONTACT = "UMULTI"  # a contact of ZEELAND and TWENTE
EVIL = ("<!channel>", "<http://x|y>")
DASH = "\u2013"  # between the start and the end time
ESCAPED = ("&lt;!channel&gt;", "&lt;http://x|y&gt;")


# ---- helpers ------------------------------------------------------------------------------


def until(check: Callable[[], T | None], what: str, timeout: float = 5.0) -> T:
    """Listeners answer after the ack: wait for what they do."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.02)


def new_meeting(engine: Engine, *, now: datetime = NOW, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "title": "Techniek in de regio",
        "theme": "techniekpromotie",
        "description": "Kennisdeling",
        "starts_at": START,
        "ends_at": START + timedelta(hours=2),
        "timezone": "Europe/Amsterdam",
        "location": "Utrecht",
        "online_url": "",
        "capacity": 10,
        "registration_deadline": DEADLINE,
        "max_per_region": None,
    }
    fields.update(overrides)
    with transaction(engine) as session:
        return mt.create_meeting(session, **fields, by=TEAM, now=now).code


def meeting(engine: Engine, code: str) -> ThemeMeeting:
    with Session(engine) as session:
        return mt.get_meeting(session, code)


def registrations(engine: Engine, code: str) -> dict[str, tuple[str, str | None]]:
    """email -> (status, region code) of every registration of the meeting."""
    with Session(engine) as session:
        found = mt.get_meeting(session, code)
        rows = session.exec(
            select(Registration, Region.code)
            .join(Region, col(Region.id) == col(Registration.region_id), isouter=True)
            .where(Registration.meeting_id == found.id)
            .order_by(col(Registration.id))
        ).all()
        return {r.email: (r.status, region) for r, region in rows}


def mails(engine: Engine, template: str) -> list[str]:
    """Recipients of the outbox rows written with this template."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.recipient).where(Notification.template == template)
        ).all()
        return sorted(rows)


def multi_region_contact(engine: Engine) -> None:
    with transaction(engine) as session:
        contact = Contact(
            email="multi@school.example", name="Mia Meer", slack_user_id=MULTI_CONTACT
        )
        session.add(contact)
        session.flush()
        for code in ("ZEELAND", "TWENTE"):
            region = session.exec(select(Region).where(Region.code == code)).one()
            assert region.id is not None and contact.id is not None
            session.add(RegionContact(region_id=region.id, contact_id=contact.id))


def answer_at(slack: SlackHarness, url: str) -> dict[str, Any]:
    """What the app posted to one response_url."""
    path = urlparse(url).path

    def found() -> dict[str, Any] | None:
        calls = [c for c in slack.api.calls_to("response_url") if c.path == path]
        return calls[-1].args if calls else None

    return until(found, f"answer at {path}")


def ask(slack: SlackHarness, text: str, user: str) -> dict[str, Any]:
    """`/sto <text>`; returns the ephemeral answer."""
    url = slack.api.response_url()
    ok(slack.post(slash_command_body(text=text, user_id=user, response_url=url)))
    return answer_at(slack, url)


def command_opening(slack: SlackHarness, text: str, user: str) -> dict[str, Any]:
    """`/sto <text>` that opens a modal; returns the view."""
    trigger = uuid.uuid4().hex
    ok(slack.post(slash_command_body(text=text, user_id=user, trigger_id=trigger)))
    return opened(slack, trigger)


def opened(slack: SlackHarness, trigger: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        calls = [c for c in slack.api.calls_to("views.open") if c.args["trigger_id"] == trigger]
        return calls[-1].args["view"] if calls else None

    return until(found, f"views.open for {trigger}")


def press(
    slack: SlackHarness, user: str, action: str, value: str, trigger: str | None = None
) -> tuple[str, str]:
    """Click a button in an ephemeral answer; returns (its response_url, its trigger_id)."""
    url = slack.api.response_url()
    trigger = trigger or uuid.uuid4().hex
    payload = block_actions(
        user, action, value, "1700000000.000100", "D1", response_url=url, trigger_id=trigger
    )
    ok(slack.post(interaction_body(payload)))
    return url, trigger


def dms(slack: SlackHarness, user: str) -> list[str]:
    return [
        str(c.args["text"])
        for c in slack.api.calls_to("chat.postMessage")
        if c.args["channel"] == user and c.ok
    ]


def dm(slack: SlackHarness, user: str, count: int = 1) -> str:
    """The `count`-th direct message to `user` (they arrive after the ack)."""

    def arrived() -> list[str] | None:
        found = dms(slack, user)
        return found if len(found) >= count else None

    return until(arrived, "dm")[count - 1]


def radio(value: str) -> dict[str, Any]:
    return {**state_select(value), "type": "radio_buttons"}


def timepicker(value: str | None) -> dict[str, Any]:
    return {"type": "timepicker", "selected_time": value}


def datepicker(value: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": value}


def registration_form(
    who: str = "self",
    *,
    name: str | None = None,
    email: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "for": {"value": radio(who)},
        "name": {"value": state_text(name)},
        "email": {"value": state_text(email, element="email_text_input")},
    }
    if region is not None:
        values["region"] = {"value": state_select(region)}
    return values


def meeting_form(**over: str | None) -> dict[str, Any]:
    fields: dict[str, str | None] = {
        "title": "Techniek in de regio",
        "theme": "techniekpromotie",
        "description": "Kennisdeling over techniekonderwijs",
        "start_date": "2027-03-02",
        "start_time": "10:00",
        "end_date": None,
        "end_time": "12:00",
        "timezone": "Europe/Amsterdam",
        "location": "Utrecht",
        "online_url": None,
        "capacity": "20",
        "deadline_date": "2027-02-23",
        "deadline_time": None,
        "max_per_region": None,
    }
    fields.update(over)
    f = fields
    return {
        "title": {"value": state_text(f["title"])},
        "theme": {"value": state_select(f["theme"])},
        "description": {"value": state_text(f["description"])},
        "start_date": {"value": datepicker(f["start_date"])},
        "start_time": {"value": timepicker(f["start_time"])},
        "end_date": {"value": datepicker(f["end_date"])},
        "end_time": {"value": timepicker(f["end_time"])},
        "timezone": {"value": state_select(f["timezone"])},
        "location": {"value": state_text(f["location"])},
        "online_url": {"value": state_text(f["online_url"], element="url_text_input")},
        "capacity": {"value": state_number(f["capacity"])},
        "deadline_date": {"value": datepicker(f["deadline_date"])},
        "deadline_time": {"value": timepicker(f["deadline_time"])},
        "max_per_region": {"value": state_number(f["max_per_region"])},
    }


def sign_up(
    slack: SlackHarness, user: str, code: str, values: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Submit the registration modal of `code`; returns the inline errors, or None."""
    meta = json.dumps({"code": code, "region": "ZEELAND" if user == ZEELAND_CONTACT else "TWENTE"})
    response = ok(slack.submit(user, "meeting_register_modal", values or registration_form(), meta))
    body = response.json()
    return body["errors"] if body else None


def section_texts(answer: dict[str, Any]) -> str:
    return "\n".join(
        str(b["text"]["text"]) for b in answer.get("blocks") or [] if b.get("type") == "section"
    )


def buttons(answer: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in answer.get("blocks") or []:
        if "accessory" in block:
            found.append(block["accessory"])
        found.extend(block.get("elements") or [])
    return found


# ---- the list ------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["bijeenkomsten", "meetings"])
def test_the_list_shows_upcoming_meetings_in_dutch_with_a_register_button(
    slack: SlackHarness, engine: Engine, word: str
) -> None:
    code = new_meeting(engine, max_per_region=2)
    bonaire = new_meeting(
        engine,
        title="Techniek op Bonaire",
        theme="inclusie",
        starts_at=START + timedelta(days=1, hours=5),  # 10:00 on Bonaire (UTC-4)
        ends_at=START + timedelta(days=1, hours=7),
        timezone="America/Kralendijk",
        location="",
        online_url="https://meet.example/bonaire",
        registration_deadline=DEADLINE,
    )
    gone = new_meeting(engine, title="Gaat niet door")
    with transaction(engine) as session:
        mt.cancel_meeting(session, gone, by=TEAM, now=NOW)
    started = new_meeting(
        engine,
        title="Al begonnen",
        now=NOW - timedelta(days=30),
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2),
        registration_deadline=NOW - timedelta(days=2),
    )

    answer = ask(slack, word, ZEELAND_CONTACT)
    text = section_texts(answer)
    assert "Komende themabijeenkomsten* (2)" in text
    assert "*Techniek in de regio* · " + code in text and "Techniekpromotie" in text
    assert f"dinsdag 2 maart 2027 om 10:00{DASH}12:00" in text
    assert "Utrecht" in text and "10 van 10 plaatsen vrij" in text
    assert "hoogstens 2 per regio" in text
    assert "Aanmelden kan tot dinsdag 23 februari 2027 om 17:00" in text
    assert f"woensdag 3 maart 2027 om 10:00{DASH}12:00 (America/Kralendijk)" in text
    assert "online: https://meet.example/bonaire" in text and "Inclusie" in text
    assert gone not in text and "Gaat niet door" not in text
    assert started not in text and "Al begonnen" not in text
    register = [b for b in buttons(answer) if b["action_id"] == "meeting_register"]
    assert [b["value"] for b in register] == [code, bonaire]
    assert register[0]["text"]["text"] == "Aanmelden"
    # A contact sees no team buttons.
    assert {b["action_id"] for b in buttons(answer)} == {"meeting_register"}


def test_the_team_sees_edit_and_cancel_buttons(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    answer = ask(slack, "bijeenkomsten", COORDINATOR)
    by_action = {b["action_id"]: b for b in buttons(answer)}
    assert by_action["meeting_edit"]["value"] == code
    cancel = by_action["meeting_cancel"]
    assert cancel["value"] == code and cancel["style"] == "danger"
    assert cancel["confirm"]["text"]["type"] == "plain_text"
    assert code in cancel["confirm"]["text"]["text"]


def test_nothing_upcoming_says_so(slack: SlackHarness) -> None:
    answer = ask(slack, "bijeenkomsten", ZEELAND_CONTACT)
    assert "geen komende themabijeenkomsten" in section_texts(answer)


def test_a_full_meeting_shows_its_waitlist(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None
    text = section_texts(ask(slack, "bijeenkomsten", COORDINATOR))
    assert "vol, 1 op de wachtlijst" in text


def test_an_unknown_user_gets_the_no_access_answer(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    answer = ask(slack, "bijeenkomsten", "UNOBODY")
    assert "niet bekend" in answer["text"] and code not in json.dumps(answer)
    url, _ = press(slack, "UNOBODY", "meeting_register", code)
    assert "niet bekend" in answer_at(slack, url)["text"]
    errors = sign_up(slack, "UNOBODY", code)
    assert errors is not None and "niet bekend" in errors["for"]
    assert registrations(engine, code) == {}
    assert not slack.api.calls_to("views.open")


def test_english_readers_get_english(slack: SlackHarness, engine: Engine) -> None:
    new_meeting(engine)
    with transaction(engine) as session:
        contact = session.exec(select(Contact).where(Contact.slack_user_id == TWENTE_CONTACT)).one()
        contact.language = "en"
        session.add(contact)
    text = section_texts(ask(slack, "meetings", TWENTE_CONTACT))
    assert f"Tuesday 2 March 2027 at 10:00{DASH}12:00" in text
    assert "10 of 10 seats free" in text and "Promoting technology" in text


# ---- registering ---------------------------------------------------------------------------


def test_register_myself_from_the_button(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    _, trigger = press(slack, ZEELAND_CONTACT, "meeting_register", code)
    view = opened(slack, trigger)
    assert view["callback_id"] == "meeting_register_modal"
    assert json.loads(view["private_metadata"]) == {"code": code, "region": "ZEELAND"}
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert {"for", "name", "email"} <= set(blocks) and "region" not in blocks
    me = blocks["for"]["element"]["initial_option"]
    assert me["value"] == "self" and "Zeger Zeeuw" in me["text"]["text"]
    intro = view["blocks"][0]["text"]["text"]
    assert intro.startswith(f"*Techniek in de regio* · {code}\ndinsdag 2 maart 2027 om 10:00")
    assert intro.endswith("Utrecht\n\nKennisdeling")

    meta = view["private_metadata"]
    form = registration_form()
    response = ok(slack.submit(ZEELAND_CONTACT, "meeting_register_modal", form, meta))
    assert response.body in ("", "{}")
    assert registrations(engine, code) == {"zee@school.example": ("registered", "ZEELAND")}
    said = dm(slack, ZEELAND_CONTACT)
    assert said.startswith("U bent aangemeld voor *Techniek in de regio*") and code in said
    assert mails(engine, "meeting_registered") == ["zee@school.example"]
    with Session(engine) as session:
        reg = session.exec(select(Registration)).one()
        assert reg.channel == "slack" and reg.contact_id is not None

    mine = ask(slack, "bijeenkomsten", ZEELAND_CONTACT)
    assert "Uw aanmeldingen" in section_texts(mine)
    assert "_aangemeld_" in section_texts(mine)
    cancel = [b for b in buttons(mine) if b["action_id"] == "meeting_unregister"]
    assert [b["value"] for b in cancel] == [code]
    assert cancel[0]["confirm"]["confirm"]["text"] == "Ja"

    again = sign_up(slack, ZEELAND_CONTACT, code)
    assert again is not None and "al aangemeld" in again["for"]
    assert len(registrations(engine, code)) == 1


def test_register_a_colleague(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    form = registration_form("colleague", name="Jan Jansen", email=" Jan@School.example ")
    assert sign_up(slack, ZEELAND_CONTACT, code, form) is None
    assert registrations(engine, code) == {"jan@school.example": ("registered", "ZEELAND")}
    said = dm(slack, ZEELAND_CONTACT)
    assert said.startswith("Jan Jansen (jan@school.example) is aangemeld voor")
    assert mails(engine, "meeting_registered") == ["jan@school.example"]
    with Session(engine) as session:
        assert session.exec(select(Registration)).one().contact_id is None

    # The colleague is not the reader: the reader's own list shows no registration.
    assert "Uw aanmeldingen" not in section_texts(ask(slack, "bijeenkomsten", ZEELAND_CONTACT))


@pytest.mark.parametrize(
    ("name", "email", "block", "sentence"),
    [
        ("Jan Jansen", "geen-adres", "email", "Het e-mailadres is ongeldig (geen-adres)."),
        ("Jan Jansen", None, "email", "Het e-mailadres is ongeldig"),
        ("  ", "jan@school.example", "name", "De naam ontbreekt."),
        ("Jan", "zee@school.example", "email", "is al aangemeld"),
    ],
)
def test_a_colleague_form_with_a_mistake_says_so_under_the_field(
    slack: SlackHarness,
    engine: Engine,
    name: str,
    email: str | None,
    block: str,
    sentence: str,
) -> None:
    code = new_meeting(engine)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    form = registration_form("colleague", name=name, email=email)
    errors = sign_up(slack, ZEELAND_CONTACT, code, form)
    assert errors is not None and sentence in errors[block], errors
    assert list(registrations(engine, code)) == ["zee@school.example"]
    assert len(mails(engine, "meeting_registered")) == 1


def test_a_contact_of_several_regions_chooses_the_region(
    slack: SlackHarness, engine: Engine
) -> None:
    multi_region_contact(engine)
    code = new_meeting(engine)
    _, trigger = press(slack, MULTI_CONTACT, "meeting_register", code)
    view = opened(slack, trigger)
    region = next(b for b in view["blocks"] if b.get("block_id") == "region")
    assert [o["value"] for o in region["element"]["options"]] == ["TWENTE", "ZEELAND"]
    meta = view["private_metadata"]
    assert json.loads(meta) == {"code": code}

    def submit(values: dict[str, Any]) -> Any:
        return ok(slack.submit(MULTI_CONTACT, "meeting_register_modal", values, meta)).json()

    forged = submit(registration_form(region="UTRECHT"))
    assert "eigen regio" in forged["errors"]["region"]
    missing = submit(registration_form())
    assert "Kies de regio" in missing["errors"]["for"]
    assert registrations(engine, code) == {}

    assert submit(registration_form(region="TWENTE")) is None
    assert registrations(engine, code) == {"multi@school.example": ("registered", "TWENTE")}


def test_beyond_capacity_people_are_told_their_place(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None
    colleague = registration_form("colleague", name="Tom Twent", email="tom@school.example")
    assert sign_up(slack, TWENTE_CONTACT, code, colleague) is None

    assert registrations(engine, code) == {
        "zee@school.example": ("registered", "ZEELAND"),
        "twe@school.example": ("waitlisted", "TWENTE"),
        "tom@school.example": ("waitlisted", "TWENTE"),
    }
    first = dm(slack, TWENTE_CONTACT)
    assert first.startswith("U staat op de wachtlijst voor *Techniek in de regio*")
    assert "plaats 1." in first
    second = dm(slack, TWENTE_CONTACT, 2)
    assert second.startswith("Tom Twent (tom@school.example) staat op de wachtlijst")
    assert "plaats 2." in second
    assert mails(engine, "meeting_waitlisted") == ["tom@school.example", "twe@school.example"]

    text = section_texts(ask(slack, "bijeenkomsten", TWENTE_CONTACT))
    assert "_op de wachtlijst, plaats 1_" in text


def test_two_users_race_for_the_last_seat_and_only_one_gets_it(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=2)
    colleague = registration_form("colleague", name="Eerste", email="eerste@school.example")
    assert sign_up(slack, ZEELAND_CONTACT, code, colleague) is None

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda user: sign_up(slack, user, code), [ZEELAND_CONTACT, TWENTE_CONTACT])
        )
    assert results == [None, None]
    found = registrations(engine, code)
    statuses = sorted(status for status, _ in found.values())
    assert statuses == ["registered", "registered", "waitlisted"]
    assert meeting(engine, code).capacity == 2
    winner = ZEELAND_CONTACT if found["zee@school.example"][0] == "registered" else TWENTE_CONTACT
    loser = TWENTE_CONTACT if winner == ZEELAND_CONTACT else ZEELAND_CONTACT
    assert dm(slack, winner, 2 if winner == ZEELAND_CONTACT else 1).startswith("U bent aangemeld")
    assert "plaats 1." in dm(slack, loser, 2 if loser == ZEELAND_CONTACT else 1)


def test_many_parallel_registrations_fill_the_seats_exactly_and_queue_the_rest(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=3)
    forms = [
        registration_form("colleague", name=f"Collega {n}", email=f"c{n}@school.example")
        for n in range(10)
    ]
    users = [ZEELAND_CONTACT, TWENTE_CONTACT] * 5
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda u, f: sign_up(slack, u, code, f), users, forms))
    assert results == [None] * 10
    statuses = [status for status, _ in registrations(engine, code).values()]
    assert statuses.count("registered") == 3 and statuses.count("waitlisted") == 7
    with Session(engine) as session:
        places = sorted(
            mt.waitlist_position(session, code, r.email) or 0 for r in mt.waitlist(session, code)
        )
    assert places == list(range(1, 8))

    def answers() -> list[str] | None:
        found = dms(slack, ZEELAND_CONTACT) + dms(slack, TWENTE_CONTACT)
        return found if len(found) == 10 else None

    told = until(answers, "ten answers")
    said = sorted(int(m) for t in told for m in re.findall(r"plaats (\d+)\.", t))
    assert said == list(range(1, 8))  # everyone waiting was told a place of their own


def test_a_repeated_submission_registers_once(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    payload = view_submission(
        ZEELAND_CONTACT,
        "meeting_register_modal",
        registration_form(),
        json.dumps({"code": code, "region": "ZEELAND"}),
    )
    for _ in range(2):
        ok(slack.post(interaction_body(payload)))
    assert len(registrations(engine, code)) == 1
    dm(slack, ZEELAND_CONTACT)
    time.sleep(0.2)
    assert len(dms(slack, ZEELAND_CONTACT)) == 1


# ---- cancelling -----------------------------------------------------------------------------


def test_cancel_asks_to_confirm_and_promotes_the_first_in_line(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=1)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None
    mine = ask(slack, "bijeenkomsten", ZEELAND_CONTACT)
    (cancel,) = [b for b in buttons(mine) if b["action_id"] == "meeting_unregister"]
    assert cancel["confirm"]["title"]["text"] == "Afmelden?"
    assert "eerste op de wachtlijst" in cancel["confirm"]["text"]["text"]

    url, trigger = press(slack, ZEELAND_CONTACT, "meeting_unregister", cancel["value"])
    assert answer_at(slack, url)["text"] == f"U bent afgemeld voor *Techniek in de regio* ({code})."
    assert registrations(engine, code) == {
        "zee@school.example": ("cancelled", "ZEELAND"),
        "twe@school.example": ("registered", "TWENTE"),
    }
    assert mails(engine, "meeting_promoted") == ["twe@school.example"]

    # The same click delivered again changes nothing and says nothing.
    again, _ = press(slack, ZEELAND_CONTACT, "meeting_unregister", code, trigger)
    time.sleep(0.3)
    assert not [c for c in slack.api.calls_to("response_url") if c.path == urlparse(again).path]
    # Cancelling what is no longer there explains.
    gone, _ = press(slack, ZEELAND_CONTACT, "meeting_unregister", code)
    assert "Er is geen aanmelding van zee@school.example" in answer_at(slack, gone)["text"]
    assert mails(engine, "meeting_promoted") == ["twe@school.example"]


# ---- closed meetings ------------------------------------------------------------------------


def test_a_closed_meeting_has_no_register_button_and_refuses(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(
        engine,
        now=NOW - timedelta(days=30),
        starts_at=NOW + timedelta(days=10),
        ends_at=NOW + timedelta(days=10, hours=2),
        registration_deadline=NOW - timedelta(days=1),
    )
    answer = ask(slack, "bijeenkomsten", ZEELAND_CONTACT)
    assert code in section_texts(answer) and "aanmelding is gesloten" in section_texts(answer)
    assert not [b for b in buttons(answer) if b["action_id"] == "meeting_register"]

    url, _ = press(slack, ZEELAND_CONTACT, "meeting_register", code)
    assert "aanmelddeadline" in answer_at(slack, url)["text"]
    assert not slack.api.calls_to("views.open")
    errors = sign_up(slack, ZEELAND_CONTACT, code)  # a modal opened before the deadline
    assert errors is not None and "aanmelddeadline" in errors["for"]
    assert registrations(engine, code) == {}


# ---- the team: create, edit, cancel ---------------------------------------------------------


@pytest.mark.parametrize("words", ["bijeenkomst nieuw", "meeting new"])
def test_the_team_creates_a_meeting_with_inline_errors_first(
    slack: SlackHarness, engine: Engine, words: str
) -> None:
    view = command_opening(slack, words, COORDINATOR)
    assert view["callback_id"] == "meeting_form_modal"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) == set(meeting_form())
    assert blocks["timezone"]["element"]["initial_option"]["value"] == "Europe/Amsterdam"
    themes = [o["value"] for o in blocks["theme"]["element"]["options"]]
    assert "techniekpromotie" in themes and len(themes) == 10
    meta = view["private_metadata"]

    def submit(**over: str | None) -> Any:
        return ok(slack.submit(COORDINATOR, "meeting_form_modal", meeting_form(**over), meta))

    cases: list[tuple[dict[str, str | None], str, str]] = [
        ({"end_time": "09:00"}, "end_time", "Het einde moet na het begin liggen."),
        ({"capacity": "0"}, "capacity", "Het aantal plaatsen moet minstens 1 zijn."),
        ({"capacity": "veel"}, "capacity", "Het aantal plaatsen is ongeldig (veel)."),
        ({"location": None}, "location", "geef een plaats of een online link"),
        ({"deadline_date": "2027-03-03"}, "deadline_date", "moet vóór het begin liggen"),
        (
            {"start_date": "2026-11-01", "deadline_date": "2026-10-20"},
            "start_date",
            "Het begin ligt in het verleden.",
        ),
        ({"title": " "}, "title", "De titel ontbreekt."),
        ({"max_per_region": "0"}, "max_per_region", "moet minstens 1 zijn"),
        ({"timezone": "Mars/Olympus"}, "timezone", "De tijdzone is onbekend (Mars/Olympus)."),
    ]
    for over, block, sentence in cases:
        errors = submit(**over).json()["errors"]
        assert sentence in errors[block], (over, errors)
    with Session(engine) as session:
        assert session.exec(select(ThemeMeeting)).all() == []

    done = submit(online_url="https://meet.example/tb", max_per_region="3")
    assert done.body in ("", "{}")
    created = meeting(engine, "TB-2027-01")
    assert created.starts_at == START and created.ends_at == START + timedelta(hours=2)
    assert created.registration_deadline == datetime(2027, 2, 23, 22, 59, tzinfo=UTC)  # 23:59
    assert (created.capacity, created.max_per_region, created.theme) == (20, 3, "techniekpromotie")
    assert created.online_url == "https://meet.example/tb" and created.location == "Utrecht"
    said = dm(slack, COORDINATOR)
    assert said.startswith("Bijeenkomst *TB-2027-01* is aangemaakt: Techniek in de regio")
    assert f"dinsdag 2 maart 2027 om 10:00{DASH}12:00" in said


def test_a_meeting_over_two_days_on_bonaire(slack: SlackHarness, engine: Engine) -> None:
    view = command_opening(slack, "bijeenkomst nieuw", COORDINATOR)
    form = meeting_form(
        timezone="America/Kralendijk", end_date="2027-03-03", end_time="16:00", capacity="5"
    )
    ok(slack.submit(COORDINATOR, "meeting_form_modal", form, view["private_metadata"]))
    created = meeting(engine, "TB-2027-01")
    assert created.timezone == "America/Kralendijk"
    assert created.starts_at == datetime(2027, 3, 2, 14, 0, tzinfo=UTC)
    assert created.ends_at == datetime(2027, 3, 3, 20, 0, tzinfo=UTC)
    said = dm(slack, COORDINATOR)
    assert "dinsdag 2 maart 2027 om 10:00 tot woensdag 3 maart 2027 om 16:00" in said
    assert "(America/Kralendijk)" in said


def test_the_team_edits_a_meeting_in_the_prefilled_form(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=3, theme="samenwerking")
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None

    _, trigger = press(slack, COORDINATOR, "meeting_edit", code)
    view = opened(slack, trigger)
    assert json.loads(view["private_metadata"]) == {"code": code}
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert blocks["title"]["initial_value"] == "Techniek in de regio"
    assert blocks["start_date"]["initial_date"] == "2027-03-02"
    assert blocks["start_time"]["initial_time"] == "10:00"
    assert blocks["end_time"]["initial_time"] == "12:00"
    assert "initial_date" not in blocks["end_date"]
    assert blocks["deadline_date"]["initial_date"] == "2027-02-23"
    assert blocks["deadline_time"]["initial_time"] == "17:00"
    assert blocks["capacity"]["initial_value"] == "3"
    assert blocks["theme"]["initial_option"]["value"] == "samenwerking"  # typed in the CLI
    meta = view["private_metadata"]

    common = {"theme": "samenwerking", "deadline_time": "17:00", "capacity": "3"}
    below = meeting_form(**{**common, "capacity": "1"})
    errors = ok(slack.submit(COORDINATOR, "meeting_form_modal", below, meta)).json()["errors"]
    assert "heeft al 2 aanmeldingen" in errors["capacity"]
    assert meeting(engine, code).sequence == 0

    same = meeting_form(**common, description="Kennisdeling")
    ok(slack.submit(COORDINATOR, "meeting_form_modal", same, meta))
    assert dm(slack, COORDINATOR) == f"Er is niets gewijzigd aan bijeenkomst *{code}*."

    changed = meeting_form(
        **{**common, "title": "Techniek in de regio (nieuwe zaal)", "start_time": "10:30"},
        description="Kennisdeling",
    )
    ok(slack.submit(COORDINATOR, "meeting_form_modal", changed, meta))
    edited = meeting(engine, code)
    assert edited.title == "Techniek in de regio (nieuwe zaal)" and edited.sequence == 1
    assert edited.starts_at == START + timedelta(minutes=30)
    assert dm(slack, COORDINATOR, 2) == (
        f"Bijeenkomst *{code}* is gewijzigd (versie 1); wie is aangemeld krijgt bericht."
    )
    assert mails(engine, "meeting_changed") == ["twe@school.example", "zee@school.example"]


def test_the_team_cancels_a_meeting_and_everyone_is_told(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=1)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None

    url, _ = press(slack, COORDINATOR, "meeting_cancel", code)
    assert answer_at(slack, url)["text"] == (
        f"Bijeenkomst *{code}* is geannuleerd; alle aangemelden en wachtenden krijgen bericht."
    )
    assert meeting(engine, code).status == "cancelled"
    assert mails(engine, "meeting_cancelled") == ["twe@school.example", "zee@school.example"]
    assert code not in json.dumps(ask(slack, "bijeenkomsten", ZEELAND_CONTACT))


def test_a_contact_cannot_do_what_only_the_team_does(slack: SlackHarness, engine: Engine) -> None:
    code = new_meeting(engine)
    before = meeting(engine, code)

    refused = ask(slack, "bijeenkomst nieuw", ZEELAND_CONTACT)
    assert "alleen het ondersteuningsteam" in refused["text"]
    edit, _ = press(slack, ZEELAND_CONTACT, "meeting_edit", code)
    assert "alleen het ondersteuningsteam" in answer_at(slack, edit)["text"]
    cancel, _ = press(slack, ZEELAND_CONTACT, "meeting_cancel", code)
    assert "alleen het ondersteuningsteam" in answer_at(slack, cancel)["text"]

    form = meeting_form(title="Zelf gemaakt")
    created = ok(slack.submit(ZEELAND_CONTACT, "meeting_form_modal", form, "{}")).json()
    assert "alleen het ondersteuningsteam" in created["errors"]["title"]
    meta = json.dumps({"code": code})
    edited = ok(slack.submit(ZEELAND_CONTACT, "meeting_form_modal", form, meta)).json()
    assert "alleen het ondersteuningsteam" in edited["errors"]["title"]

    after = meeting(engine, code)
    assert (after.status, after.title, after.sequence) == ("scheduled", before.title, 0)
    with Session(engine) as session:
        assert len(session.exec(select(ThemeMeeting)).all()) == 1
    assert not slack.api.calls_to("views.open")
    assert mails(engine, "meeting_cancelled") == []


# ---- escaping ------------------------------------------------------------------------------


def test_user_text_is_escaped(slack: SlackHarness, engine: Engine) -> None:
    title = f"{EVIL[0]} Techniek {EVIL[1]}"
    view = command_opening(slack, "bijeenkomst nieuw", COORDINATOR)
    form = meeting_form(title=title, location=f"Zaal {EVIL[0]}")
    ok(slack.submit(COORDINATOR, "meeting_form_modal", form, view["private_metadata"]))
    code = "TB-2027-01"
    assert meeting(engine, code).title == title  # stored as typed
    created = dm(slack, COORDINATOR)
    assert f"{ESCAPED[0]} Techniek {ESCAPED[1]}" in created
    assert all(raw not in created for raw in EVIL)

    answer = ask(slack, "bijeenkomsten", COORDINATOR)
    text = section_texts(answer)
    assert f"*{ESCAPED[0]} Techniek {ESCAPED[1]}*" in text and f"Zaal {ESCAPED[0]}" in text
    assert all(raw not in text for raw in EVIL)
    confirm = next(b for b in buttons(answer) if b["action_id"] == "meeting_cancel")["confirm"]
    assert confirm["text"]["type"] == "plain_text"  # Slack shows plain text as it is

    form = registration_form("colleague", name=f"Jan {EVIL[0]} {EVIL[1]}", email="jan@x.example")
    assert sign_up(slack, ZEELAND_CONTACT, code, form) is None
    said = dm(slack, ZEELAND_CONTACT)
    assert f"Jan {ESCAPED[0]} {ESCAPED[1]} (jan@x.example)" in said
    assert all(raw not in said for raw in EVIL)


# ---- App Home --------------------------------------------------------------------------------


def open_home(slack: SlackHarness, user: str) -> str:
    before = len(slack.api.calls_to("views.publish"))
    ok(slack.post(event_body(app_home_opened(user))))
    calls = slack.api.wait_for("views.publish", count=before + 1)
    return json.dumps([c for c in calls if c.args["user_id"] == user][-1].args["view"]["blocks"])


def test_the_teams_home_counts_registrations_and_the_waitlist(
    slack: SlackHarness, engine: Engine
) -> None:
    code = new_meeting(engine, capacity=1)
    assert sign_up(slack, ZEELAND_CONTACT, code) is None
    assert sign_up(slack, TWENTE_CONTACT, code) is None
    home = json.loads(open_home(slack, COORDINATOR))
    text = "\n".join(b["text"]["text"] for b in home if b["type"] == "section")
    assert "*Komende bijeenkomsten* (1)" in text
    assert f"*{code}* · Techniek in de regio · dinsdag 2 maart 2027" in text
    assert "1/1 aangemeld · 1 op de wachtlijst" in text
    assert "Komende bijeenkomsten" not in open_home(slack, ZEELAND_CONTACT)
