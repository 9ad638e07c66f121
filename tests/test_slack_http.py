"""The Slack channel in HTTP mode, end to end: signed requests in, Web API calls out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from bot.slack.listeners import commands
from models.tables import Contact, SupportRequest
from tests.conftest import RegionFactory
from tests.slack_fake import app_home_opened, event_body
from tests.slack_harness import (
    COORDINATOR,
    CRITICAL_FRIEND,
    TEAM_CHANNEL,
    TWENTE_CONTACT,
    ZEELAND_CONTACT,
    SlackHarness,
    request_form,
)


def _requests(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(SupportRequest)).one())


def test_saldo_shows_the_contacts_region_in_dutch(slack: SlackHarness) -> None:
    response = slack.command("saldo", ZEELAND_CONTACT)
    assert response.status == 200 and response.seconds < 3
    reply = slack.replies()[0]
    text = str(reply["blocks"])
    assert "Zeeland" in text and "4,5 dag beschikbaar" in text
    assert "Twente" not in text


def test_a_quick_answer_rides_on_the_ack(slack: SlackHarness) -> None:
    response = slack.command("saldo", ZEELAND_CONTACT)
    assert response.status == 200 and response.seconds < 3
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "4,5 dag beschikbaar" in str(answer["blocks"])
    # Nothing was posted to the response URL: the ack carried the answer.
    assert [c.http_method for c in slack.api.calls_to("response_url")] == ["ACK"]


def test_an_answer_not_ready_in_time_follows_through_the_response_url(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "INLINE_BUDGET", 0.0)  # every answer is "late"
    response = slack.command("saldo", ZEELAND_CONTACT)
    assert response.status == 200 and response.seconds < 3 and not response.body
    (reply,) = slack.replies()
    assert "4,5 dag beschikbaar" in str(reply["blocks"])
    assert [c.http_method for c in slack.api.calls_to("response_url")] == ["POST"]


def test_a_contact_cannot_see_another_region(slack: SlackHarness) -> None:
    slack.command("saldo TWENTE", ZEELAND_CONTACT)
    assert "eigen regio" in slack.replies()[0]["text"]


def test_the_team_sees_all_regions_lowest_first(slack: SlackHarness) -> None:
    slack.command("balance all", COORDINATOR)
    blocks = str(slack.replies()[0]["blocks"])
    assert blocks.index("Zeeland") < blocks.index("Twente")


def test_the_team_sees_every_one_of_77_regions_in_one_answer(
    slack: SlackHarness, make_region: RegionFactory
) -> None:
    for n in range(75):  # with ZEELAND and TWENTE: 77 regions, two kinds each
        make_region(f"REGIO{n:02d}", days=str(1 + n % 9))
    slack.command("saldo alle", COORDINATOR)
    blocks = slack.replies()[0]["blocks"]
    assert len(blocks) <= 50  # Slack's limit for a message
    text = str(blocks)
    assert all(f"(REGIO{n:02d})" in text for n in range(75))
    assert "(ZEELAND)" in text and "(TWENTE)" in text
    assert text.count("ondersteuningsdagen:") == 77 and "regels" not in text


def test_help_and_unknown_subcommands(slack: SlackHarness) -> None:
    slack.command("koffie", ZEELAND_CONTACT)
    assert "/sto saldo" in slack.replies()[0]["text"]


def test_an_unknown_user_is_told_how_to_get_access(slack: SlackHarness) -> None:
    slack.api.users["UNEW"] = {"email": "nobody@elsewhere.example", "real_name": "Nie Mand"}
    slack.command("saldo", "UNEW")
    reply = slack.replies()[0]
    assert "niet bekend" in reply["text"] and "Zeeland" not in str(reply)


def known_only_by_profile_email(slack: SlackHarness, engine: Engine) -> None:
    """Zeeland's contact is known by email only; Slack's profile of UZEE2 has that email."""
    slack.api.users["UZEE2"] = {"email": "ZEE@school.example", "real_name": "Zeger"}
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.email == "zee@school.example")).one()
        contact.slack_user_id = None
        session.add(contact)
        session.commit()


def test_an_unknown_user_is_linked_by_profile_email(slack: SlackHarness, engine: Engine) -> None:
    known_only_by_profile_email(slack, engine)
    slack.command("saldo", "UZEE2")
    assert "Zeeland" in str(slack.replies()[0]["blocks"])


def test_a_request_from_a_slack_user_known_only_by_profile_email_is_linked_and_booked(
    slack: SlackHarness, engine: Engine
) -> None:
    known_only_by_profile_email(slack, engine)
    meta = '{"region": "ZEELAND"}'
    response = slack.submit("UZEE2", "request_modal", request_form("1"), meta)
    assert response.status == 200 and response.body in ("", "{}")
    assert _requests(engine) == 1
    with Session(engine) as session:
        linked = session.exec(select(Contact).where(Contact.email == "zee@school.example")).one()
        assert linked.slack_user_id == "UZEE2"


def test_a_request_from_an_unknown_slack_user_is_refused_inline(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.api.users["UNEW"] = {"email": "nobody@elsewhere.example", "real_name": "Nie Mand"}
    meta = '{"region": "ZEELAND"}'
    answer = slack.submit("UNEW", "request_modal", request_form("1"), meta).json()
    assert answer["response_action"] == "errors" and "niet bekend" in answer["errors"]["days"]
    assert _requests(engine) == 0


def test_request_modal_submit_reserves_and_tells_everyone(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.command("aanvragen", ZEELAND_CONTACT)
    view = slack.api.wait_for("views.open")[0].args["view"]
    assert view["callback_id"] == "request_modal"
    assert "4,5 dag beschikbaar" in str(view)
    meta = view["private_metadata"]

    form = request_form("1,5", theme="leerlijnen", description="Graag <!channel> <http://x|klik>")
    response = slack.submit(ZEELAND_CONTACT, "request_modal", form, meta)
    assert response.status == 200 and response.body in ("", "{}") and response.seconds < 3
    assert _requests(engine) == 1

    assert slack.dispatch() == 2
    dm = slack.api.wait_for("chat.postMessage", count=2)
    texts = {c.args["channel"]: c for c in dm}
    assert "STO-2026-0001" in texts["D" + ZEELAND_CONTACT].args["text"]
    card = texts[TEAM_CHANNEL].args
    card_text = str(card["blocks"])
    assert "&lt;!channel&gt;" in card_text and "<!channel>" not in card_text
    assert "request_approve" in card_text
    # The assign select says why: Carla is the critical friend, "leerlijnen" is not her theme.
    assert "Carla Vriend · critical friend, ander thema" in card_text


def test_modal_errors_are_inline_and_change_nothing(slack: SlackHarness, engine: Engine) -> None:
    meta = '{"region": "ZEELAND"}'
    too_much = slack.submit(ZEELAND_CONTACT, "request_modal", request_form("5"), meta).json()
    assert too_much["response_action"] == "errors"
    assert "nog 4,5 dag beschikbaar" in too_much["errors"]["days"]
    half = slack.submit(ZEELAND_CONTACT, "request_modal", request_form("0,3"), meta).json()
    assert "per halve dag" in half["errors"]["days"]
    past = slack.submit(
        ZEELAND_CONTACT,
        "request_modal",
        request_form("1", start="2026-01-05", end="2026-02-01"),
        meta,
    ).json()
    assert "verleden" in past["errors"]["from"]
    other = slack.submit(TWENTE_CONTACT, "request_modal", request_form("1"), meta).json()
    assert "eigen regio" in str(other["errors"])
    assert _requests(engine) == 0


def test_team_approves_and_the_card_updates_in_place(slack: SlackHarness) -> None:
    slack.submit(ZEELAND_CONTACT, "request_modal", request_form("1"), '{"region": "ZEELAND"}')
    slack.dispatch()
    first = slack.api.wait_for("chat.postMessage", count=2)
    ts = next(c.response["ts"] for c in first if c.args["channel"] == TEAM_CHANNEL)

    slack.click(
        ZEELAND_CONTACT, "request_approve", "STO-2026-0001", message_ts=ts, channel_id=TEAM_CHANNEL
    )
    assert "ondersteuningsteam" in slack.replies()[0]["text"]  # not the team: refused

    slack.click(
        COORDINATOR, "request_approve", "STO-2026-0001", message_ts=ts, channel_id=TEAM_CHANNEL
    )
    slack.until_status("STO-2026-0001", "approved")
    assert slack.dispatch() == 2
    update = slack.api.wait_for("chat.update")[0].args
    assert update["ts"] == ts and "goedgekeurd" in str(update["blocks"])
    assert "request_approve" not in str(update["blocks"])


def test_a_repeated_event_id_acts_once(slack: SlackHarness) -> None:
    body = event_body(app_home_opened(ZEELAND_CONTACT), event_id="Ev0001")
    first = slack.post(body)
    again = slack.post(body, retry_num=1, retry_reason="http_timeout")
    assert (first.status, again.status) == (200, 200)
    published = slack.api.wait_for("views.publish")[0].args
    assert published["user_id"] == ZEELAND_CONTACT and "Zeeland" in str(published["view"])
    slack.post(event_body(app_home_opened(ZEELAND_CONTACT), event_id="Ev0002"))
    assert len(slack.api.wait_for("views.publish", count=2)) == 2
    with pytest.raises(TimeoutError):  # the retry of Ev0001 published nothing
        slack.api.wait_for("views.publish", count=3, timeout=0.5)


def test_the_team_sees_waiting_requests_under_mijn_and_a_critical_friend_cannot_cancel(
    slack: SlackHarness,
) -> None:
    slack.submit(ZEELAND_CONTACT, "request_modal", request_form("1"), '{"region": "ZEELAND"}')
    slack.command("mijn", COORDINATOR)
    assert "STO-2026-0001" in str(slack.replies()[0]["blocks"])
    slack.click(CRITICAL_FRIEND, "request_cancel", "STO-2026-0001")  # no response URL: a DM
    refusal = slack.api.wait_for("chat.postMessage")[0].args
    assert refusal["channel"] == CRITICAL_FRIEND and "eigen regio" in refusal["text"]
    slack.until_status("STO-2026-0001", "submitted")


def test_request_text_fills_the_modal_in(slack: SlackHarness) -> None:
    slack.command("aanvragen twee dagdelen procesbegeleiding in maart", ZEELAND_CONTACT)
    view = slack.api.wait_for("views.open")[0].args["view"]
    blocks = {b["block_id"]: b["element"] for b in view["blocks"] if b.get("type") == "input"}
    assert blocks["days"]["initial_value"] == "1"
    assert blocks["kind"]["initial_option"]["value"] == "process"
    assert (blocks["from"]["initial_date"], blocks["to"]["initial_date"]) == (
        "2027-03-01",
        "2027-03-31",
    )
