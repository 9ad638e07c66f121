"""A message names what its reader can do where they are: a command on the command line,
`/sto …` or the button in Slack, an answer by mail in a mail (SQLite and PostgreSQL).

The same error or sentence is rendered from one template per language; the channel that
shows it says which it is (`channel`), as the CLI, the Slack listeners and mail answers do.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.render import Renderer
from models import request_proposals as rp
from models import requests as rq
from models import visits as vs
from models.db import transaction
from models.errors import (
    DomainError,
    InvalidDates,
    InvalidSlot,
    NoAllowance,
    UnknownMeeting,
    UnknownRegion,
    UnknownRequest,
    UnknownSupporter,
    UnknownVisit,
)
from models.tables import Contact
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM, RegionFactory
from tests.request_proposal_helpers import OPTIONS, World, approved_request, world
from tests.slack_harness import COORDINATOR, ZEELAND_CONTACT, SlackHarness, ok
from tests.test_slack_meetings import answer_at
from tests.test_slack_meetings import press as press_in_answer
from tests.test_visits_mail import Post, body
from tests.test_visits_slack import press
from tests.visit_helpers import proposed_visit
from tests.visit_helpers import world as visit_world

CLI_COMMAND = re.compile(r"(?<!/)\bsto (meetings|requests|visits|quota|import|supporters)\b")


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


# --- one template per message, a sentence per channel ----------------------------------------

ERRORS = [
    UnknownMeeting("TB-1999-01"),
    UnknownRequest("STO-1999-0001"),
    UnknownVisit("7"),
    InvalidSlot("3", "2", "past"),
    InvalidSlot("3", "2", "taken"),
    InvalidDates("STO-2027-0042", "taken", 1, "2027-01-12"),
    InvalidDates("STO-2027-0042", "no_supporter"),
    UnknownRegion("ZEELANT"),
    NoAllowance("ZEELAND", "2027", "support_days"),
    UnknownSupporter("piet@sto.example"),
]


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: f"{e.code}-{e.params.get('problem', '')}")
def test_errors_name_only_what_the_channel_offers(lang: str, error: DomainError) -> None:
    renderer = Renderer()
    said = {
        channel: renderer.render(f"errors.{error.code}", lang, **error.params, channel=channel)
        for channel in ("cli", "slack", "mail")
    }
    assert CLI_COMMAND.search(said["cli"]), said["cli"]
    assert not CLI_COMMAND.search(said["slack"]), said["slack"]
    assert not CLI_COMMAND.search(said["mail"]) and "/sto" not in said["mail"], said["mail"]
    # Without a channel (a caller that does not know it) the sentence is the command line's.
    assert renderer.render(f"errors.{error.code}", lang, **error.params) == said["cli"]
    # A mail refusal says it the mail's way.
    refused = renderer.render(
        "mail.body_refused", lang, error=error.code, params=dict(error.params)
    )
    assert said["mail"] in refused


# What each channel offers instead of the command (Dutch, then English).
SAID = [
    (
        UnknownRegion("ZEELANT"),
        {
            "cli": ("`sto quota`", "`sto quota`"),
            "slack": ("`/sto saldo alle`", "`/sto balance all`"),
            "mail": ('"Hoeveel dagen hebben wij nog?"', '"How many days do we have left?"'),
        },
    ),
    (
        NoAllowance("ZEELAND", "2027", "support_days"),
        {
            "cli": ("`sto quota adjust`", "`sto quota adjust`"),
            "slack": ("Het ondersteuningsteam kan het toekennen", "The support team can grant"),
            "mail": ("Het ondersteuningsteam kan het toekennen", "The support team can grant"),
        },
    ),
    (
        UnknownSupporter("piet@sto.example"),
        {
            "cli": ("`sto import supporters`", "`sto import supporters`"),
            "slack": ("uit de lijst in het formulier", "from the list in the form"),
            "mail": ("bij het ondersteuningsteam bekend is", "the support team knows"),
        },
    ),
    (
        InvalidDates("STO-2027-0042", "no_supporter"),
        {
            "cli": ("`sto requests assign STO-2027-0042 E-MAIL`", "`sto requests assign"),
            "slack": ("'Ondersteuner toewijzen'", "'Assign supporter'"),
            "mail": ("wijst er eerst een toe", "assigns one first"),
        },
    ),
]


@pytest.mark.parametrize("channel", ["cli", "slack", "mail"])
@pytest.mark.parametrize(("error", "said"), SAID, ids=lambda x: getattr(x, "code", ""))
def test_each_channel_is_told_what_it_can_do(
    error: DomainError, said: dict[str, tuple[str, str]], channel: str
) -> None:
    renderer = Renderer()
    for lang, expected in zip(("nl", "en"), said[channel], strict=True):
        text = renderer.render(f"errors.{error.code}", lang, **error.params, channel=channel)
        assert expected in text, (lang, text)


def test_the_visit_question_by_mail_names_no_command() -> None:
    renderer = Renderer()
    nl = renderer.render("visits.confirm_mail_hint", "nl", visit_id=7)
    en = renderer.render("visits.confirm_mail_hint", "en", visit_id=7)
    assert "Antwoord op deze e-mail met ja of nee" in nl and "(bezoek 7)" in nl
    assert "Reply to this email with yes or no" in en and "(visit 7)" in en
    for text in (nl, en):
        assert not CLI_COMMAND.search(text) and "Slack" not in text and "/sto" not in text


# --- the command line ------------------------------------------------------------------------


def test_the_command_line_names_its_commands(sto: Sto) -> None:
    unknown = sto("meetings", "show", "TB-1999-01")
    assert unknown.code == 1 and "`sto meetings list`" in unknown.err


# --- Slack -----------------------------------------------------------------------------------


def test_slack_points_at_sto_bijeenkomsten(slack: SlackHarness) -> None:
    url, _ = press_in_answer(slack, ZEELAND_CONTACT, "meeting_register", "TB-1999-01")
    text = answer_at(slack, url)["text"]
    assert 'geen bijeenkomst met de code "TB-1999-01"' in text
    assert "`/sto bijeenkomsten`" in text and not CLI_COMMAND.search(text)


def _busy_on_option_one(engine: Engine, contact_id: int | None, supporter: str) -> None:
    """Another request of the same supporter is planned on the days of option 1."""
    with transaction(engine) as session:
        new = rq.NewRequest(
            region="ZEELAND", kind="process", half_days=3, requester_contact_id=contact_id,
            preferred_from=date(2027, 1, 11), preferred_to=date(2027, 2, 12),
        )  # fmt: skip
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        rq.assign(session, ref, TEAM, NOW, supporter_email=supporter)
        rq.schedule(session, ref, TEAM, NOW, days=OPTIONS[0])


def test_slack_says_press_none_of_these(slack: SlackHarness, engine: Engine) -> None:
    with transaction(engine) as session:
        query = select(Contact).where(Contact.slack_user_id == ZEELAND_CONTACT)
        contact_id = session.exec(query).one().id
        new = rq.NewRequest(
            region="ZEELAND", kind="process", half_days=3, requester_contact_id=contact_id,
            preferred_from=date(2027, 1, 11), preferred_to=date(2027, 2, 12),
        )  # fmt: skip
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        rq.assign(session, ref, TEAM, NOW, supporter_email="cf@sto.example")
        proposal_id = rp.propose_dates(session, ref, OPTIONS, TEAM, NOW).id
    _busy_on_option_one(engine, contact_id, "cf@sto.example")
    ok(press(slack, ZEELAND_CONTACT, "request_dates_choose_1", f"{proposal_id}:1"))
    [reply] = slack.replies()
    assert "niet meer vrij" in reply["text"] and "'Geen van deze'" in reply["text"]
    assert "antwoord" not in reply["text"] and not CLI_COMMAND.search(reply["text"])


def test_slack_asks_the_supporter_with_the_button_not_the_command(
    slack: SlackHarness, engine: Engine
) -> None:
    from tests.test_request_proposals_channels import slack_request
    from tests.test_visits_slack import buttons, dm_to

    ref, proposal_id = slack_request(engine)
    ok(press(slack, ZEELAND_CONTACT, "request_dates_decline", str(proposal_id)))
    slack.replies()
    slack.dispatch()
    to_carla = dm_to(slack, "UCF")[-1]
    assert f"`/sto voorstellen {ref}`" in to_carla["text"]
    assert not CLI_COMMAND.search(to_carla["text"])
    assert buttons(to_carla) == [("request_dates_propose", ref)]


def test_slack_names_sto_saldo_for_an_unknown_region(slack: SlackHarness) -> None:
    ok(slack.command("saldo ZEELANT", COORDINATOR))
    [reply] = slack.replies()
    assert "Regio 'ZEELANT' bestaat niet" in reply["text"]
    assert "`/sto saldo alle`" in reply["text"] and not CLI_COMMAND.search(reply["text"])


def test_slack_says_the_team_assigns_a_supporter_first(slack: SlackHarness, engine: Engine) -> None:
    with transaction(engine) as session:
        new = rq.NewRequest(region="ZEELAND", kind="process", half_days=2)
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
    ok(slack.command(f"voorstellen {ref}", COORDINATOR))
    [reply] = slack.replies()
    assert f"{ref} heeft nog geen ondersteuner" in reply["text"]
    assert "'Ondersteuner toewijzen'" in reply["text"] and not CLI_COMMAND.search(reply["text"])
    assert slack.api.calls_to("views.open") == []


# --- mail ------------------------------------------------------------------------------------


def test_the_visit_question_by_mail_asks_for_an_answer_that_reaches_the_team(
    engine: Engine, make_region: RegionFactory, tmp_path: Path, sto: Sto
) -> None:
    """A critical friend without Slack is asked by mail whether the visit took place: the
    mail says to answer it (no command), and the answer is kept for the team."""
    v = visit_world(engine, make_region)
    _, proposal = proposed_visit(engine, v.bes, v.cf_bes, (date(2026, 12, 2),))
    with transaction(engine) as session:
        vs.choose_slot(session, proposal, 1, TEAM, NOW)
    post = Post(engine, tmp_path)
    post.clock.set(datetime(2026, 12, 3, 14, 0, tzinfo=UTC))  # the next day, 10:00 on Bonaire
    [question] = [m for m in post.deliver() if "plaatsgevonden" in str(m["Subject"])]
    assert question["To"].addresses[0].addr_spec == "bas@sto.example"
    text = body(question)
    assert "Antwoord op deze e-mail met ja of nee" in text
    assert not CLI_COMMAND.search(text) and "Slack" not in text

    post.reply("Bas Bonaire <bas@sto.example>", "Ja, het bezoek heeft plaatsgevonden.", question)
    [kept] = sto("mail", "list", "--json").json()
    assert kept["sender"] == "bas@sto.example"
    assert "Bes" in kept["subject"] and "plaatsgevonden" in kept["subject"]


def test_mail_says_answer_none(engine: Engine, make_region: RegionFactory, tmp_path: Path) -> None:
    w: World = world(engine, make_region)
    post = Post(engine, tmp_path)
    ref = approved_request(engine, w)
    with transaction(engine) as session:
        rp.propose_dates(session, ref, OPTIONS, TEAM, NOW)
    _busy_on_option_one(engine, None, "anton@sto.example")
    proposal = next(m for m in post.deliver() if "Kies de data" in str(m["Subject"]))
    post.reply("Jan Jansen <jan@school.example>", "1", proposal)
    [refused] = post.deliver()
    text = body(refused)
    assert "niet meer vrij" in text and "antwoord 'geen'" in text
    assert "Geen van deze" not in text and not CLI_COMMAND.search(text)
    with Session(engine) as session:
        assert rq.get_request(session, ref).status == "approved"
