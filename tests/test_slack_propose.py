"""The supporter proposes dates for a request from Slack: the button in the assignment's DM and
`/sto voorstellen REF` open a modal prefilled with three options; submitting sends the
requester their choice (signed requests against the fake Slack; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.mail.compose import Composer
from bot.render import Renderer
from models import request_proposals as rp
from models import requests as rq
from models.db import transaction
from models.tables import Contact, RequestProposal, Supporter
from tests.conftest import NOW, TEAM
from tests.request_proposal_helpers import rows
from tests.slack_fake import state_text
from tests.slack_harness import (
    COORDINATOR,
    CRITICAL_FRIEND,
    ZEELAND_CONTACT,
    Response,
    SlackHarness,
    ok,
)
from tests.test_visits_slack import buttons, dm_to, press

OTHER_SUPPORTER = "UBEA"
MODAL = "request_propose_modal"
# What the planner finds for Carla (Mon-Fri, no absences) in 11 January - 12 February 2027.
SUGGESTED = [
    "2027-01-11, 2027-01-12",
    "2027-01-27, 2027-01-28",
    "2027-02-11, 2027-02-12",
]


def assigned_request(engine: Engine) -> str:
    """ZEELAND's approved request (3 half days: two days) from its contact, assigned to Carla;
    another supporter, Bea, is on Slack too."""
    with transaction(engine) as session:
        session.add(
            Supporter(
                email="bea@sto.example", name="Bea Bakker", role="specialist",
                slack_user_id=OTHER_SUPPORTER,
            )
        )  # fmt: skip
        query = select(Contact).where(Contact.slack_user_id == ZEELAND_CONTACT)
        contact = session.exec(query).one()
        new = rq.NewRequest(
            region="ZEELAND",
            kind="process",
            half_days=3,
            preferred_from=date(2027, 1, 11),
            preferred_to=date(2027, 2, 12),
            requester_contact_id=contact.id,
        )
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        rq.assign(session, ref, TEAM, NOW, supporter_email="cf@sto.example")
        return ref


def opened_view(slack: SlackHarness, before: int) -> dict[str, Any]:
    view: dict[str, Any] = slack.api.wait_for("views.open", count=before + 1)[-1].args["view"]
    return view


def prefilled(view: dict[str, Any]) -> list[str | None]:
    return [
        b["element"].get("initial_value")
        for b in view["blocks"]
        if str(b.get("block_id", "")).startswith("option_")
    ]


def form(*options: str | None) -> dict[str, Any]:
    return {f"option_{n}": {"value": state_text(o)} for n, o in enumerate(options, 1)}


def submit(slack: SlackHarness, user: str, ref: str, *options: str | None) -> Response:
    return ok(slack.submit(user, MODAL, form(*options), f'{{"ref": "{ref}"}}'))


def proposals(engine: Engine) -> list[RequestProposal]:
    with Session(engine) as session:
        return list(session.exec(select(RequestProposal)).all())


def test_the_supporter_proposes_from_the_button(slack: SlackHarness, engine: Engine) -> None:
    ref = assigned_request(engine)
    slack.dispatch()
    [to_carla] = dm_to(slack, CRITICAL_FRIEND)
    assert ref in to_carla["text"] and "Stel de aanvrager data voor" in to_carla["text"]
    assert buttons(to_carla) == [("request_dates_propose", ref)]
    with Session(engine) as session:
        [row] = rows(session, "request_assigned_supporter")
        assert row.channel == "slack" and row.recipient == CRITICAL_FRIEND

    ok(press(slack, CRITICAL_FRIEND, "request_dates_propose", ref))
    view = opened_view(slack, 0)
    assert view["callback_id"] == MODAL
    assert prefilled(view) == SUGGESTED
    assert ref in str(view["blocks"][0]) and "2 dagen" in str(view["blocks"][0])

    posted = len(slack.api.calls_to("chat.postMessage"))
    # Carla keeps the first two and writes the third in Dutch.
    answer = submit(slack, CRITICAL_FRIEND, ref, SUGGESTED[0], SUGGESTED[1], "2-2-2027 3-2-2027")
    assert answer.body == ""  # closed: no errors
    [proposal] = proposals(engine)
    assert proposal.status == "open" and proposal.proposed_by == (
        f"Carla Vriend (slack:{CRITICAL_FRIEND})"
    )
    with Session(engine) as session:
        assert rp.options_of(proposal) == [
            [date(2027, 1, 11), date(2027, 1, 12)],
            [date(2027, 1, 27), date(2027, 1, 28)],
            [date(2027, 2, 2), date(2027, 2, 3)],
        ]
        assert rq.get_request(session, ref).status == "approved"
    confirmation = slack.api.wait_for("chat.postMessage", count=posted + 1)[posted].args
    assert confirmation["channel"] == CRITICAL_FRIEND
    assert f"Uw voorstel voor {ref} is verstuurd naar zee@school.example" in confirmation["text"]
    assert "3. dinsdag 2 februari 2027 en woensdag 3 februari 2027" in confirmation["text"]

    slack.dispatch()
    message = next(m for m in dm_to(slack, ZEELAND_CONTACT) if m.get("blocks"))
    assert "Carla Vriend" in message["text"] and "2 februari 2027" in message["text"]
    assert [a for a, _ in buttons(message)] == [
        "request_dates_choose_1",
        "request_dates_choose_2",
        "request_dates_choose_3",
        "request_dates_decline",
    ]


def test_wrong_dates_show_under_their_option_and_change_nothing(
    slack: SlackHarness, engine: Engine
) -> None:
    ref = assigned_request(engine)
    errors = submit(slack, CRITICAL_FRIEND, ref, "2027-01-12").json()["errors"]
    assert "precies 2 verschillende dagen" in errors["option_1"]
    # Option 2 is left empty: an error about the second given option is under option 3.
    errors = submit(slack, CRITICAL_FRIEND, ref, SUGGESTED[0], None, "2027-01-20").json()
    assert list(errors["errors"]) == ["option_3"]
    assert "Optie 2" in errors["errors"]["option_3"]
    errors = submit(slack, CRITICAL_FRIEND, ref, SUGGESTED[0], "morgen").json()["errors"]
    not_a_date = "'morgen' is geen datum. Schrijf bijvoorbeeld 2027-03-02 of 2-3-2027."
    assert errors == {"option_2": not_a_date}
    errors = submit(slack, CRITICAL_FRIEND, ref, None, None, None).json()["errors"]
    assert "minstens één optie" in errors["option_1"]
    assert proposals(engine) == []
    with Session(engine) as session:
        assert rows(session, "request_proposal") == []
    assert not [m for m in dm_to(slack, CRITICAL_FRIEND) if "Uw voorstel" in m["text"]]


def test_the_command_opens_the_modal_for_the_team_and_refuses_others(
    slack: SlackHarness, engine: Engine
) -> None:
    ref = assigned_request(engine)
    ok(slack.command(f"voorstellen {ref}", COORDINATOR))
    assert prefilled(opened_view(slack, 0)) == SUGGESTED
    ok(slack.command(f"propose {ref}", CRITICAL_FRIEND))
    assert prefilled(opened_view(slack, 1)) == SUGGESTED

    for user in (ZEELAND_CONTACT, OTHER_SUPPORTER):
        ok(slack.command(f"voorstellen {ref}", user))
    refusals = slack.replies(2)
    expected = f"Alleen de toegewezen ondersteuner van {ref} of het team kan data voorstellen."
    assert [r["text"] for r in refusals] == [expected, expected]
    assert len(slack.api.calls_to("views.open")) == 2
    # A submission forged by another supporter is refused too, inline.
    errors = submit(slack, OTHER_SUPPORTER, ref, SUGGESTED[0]).json()["errors"]
    assert errors == {"option_1": expected.replace("`", "")}
    ok(slack.command("voorstellen", CRITICAL_FRIEND))
    assert "/sto voorstellen STO-2027-0042" in slack.replies(3)[-1]["text"]
    ok(slack.command("voorstellen STO-2099-0001", CRITICAL_FRIEND))
    assert "Aanvraag 'STO-2099-0001' bestaat niet" in slack.replies(4)[-1]["text"]
    assert proposals(engine) == []

    # The team proposes through the modal too.
    assert submit(slack, COORDINATOR, ref, SUGGESTED[2]).body == ""
    [proposal] = proposals(engine)
    assert proposal.proposed_by == f"Coby Ordina (slack:{COORDINATOR})"


def test_a_request_not_yet_approved_cannot_get_dates(slack: SlackHarness, engine: Engine) -> None:
    with transaction(engine) as session:
        new = rq.NewRequest(region="ZEELAND", kind="process", half_days=2)
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.assign(session, ref, TEAM, NOW, supporter_email="cf@sto.example")
    ok(press(slack, CRITICAL_FRIEND, "request_dates_propose", ref))
    [reply] = slack.replies()
    assert f"Voor {ref} kunnen geen data worden voorgesteld" in reply["text"]
    assert slack.api.calls_to("views.open") == []


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("nl", ["U voert deze aanvraag", "/sto voorstellen STO-2027-0042", "1,5 dag"]),
        ("en", ["You carry out this request", "/sto propose STO-2027-0042", "1.5 days"]),
    ],
)
def test_a_supporter_without_slack_is_told_by_mail(lang: str, expected: list[str]) -> None:
    context = {
        "ref": "STO-2027-0042", "region": "ZEELAND", "region_name": "Zeeland", "days": "1.5",
        "kind": "process", "theme": "<leerlijnen>", "status": "approved",
        "name": "Piet de Vrïes", "fallback_email": "piet@sto.example",
    }  # fmt: skip
    parts = Composer(Renderer(), "ondersteuning@sto.example").render(
        "request_assigned_supporter", lang, context
    )
    assert parts.subject.startswith("[STO-2027-0042] ") and expected[0] in parts.subject
    for text in (parts.text, parts.html):
        assert all(e in text for e in expected[1:]) and "Piet de Vrïes" in text
    assert "&lt;leerlijnen&gt;" in parts.html and "<leerlijnen>" in parts.text


def test_help_shows_the_subcommand_to_supporters_only(slack: SlackHarness) -> None:
    ok(slack.command("help", CRITICAL_FRIEND))
    supporter = slack.replies(1)[-1]["text"]
    ok(slack.command("help", ZEELAND_CONTACT))
    contact = slack.replies(2)[-1]["text"]
    assert "`/sto voorstellen REF`" in supporter and "`/sto propose`" in supporter
    assert "voorstellen" not in contact
