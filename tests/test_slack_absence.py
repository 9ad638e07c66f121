"""`/sto afwezig` end to end: signed requests in, the fake Slack Web API out (both databases)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from models import requests as rq
from models.db import transaction
from models.tables import SupporterAbsence
from tests.conftest import NOW, TEAM
from tests.slack_fake import state_date, state_select, state_text
from tests.slack_harness import (
    COORDINATOR,
    CRITICAL_FRIEND,
    TEAM_CHANNEL,
    ZEELAND_CONTACT,
    SlackHarness,
    ok,
)
from tests.supporters_helpers import add_supporter, assignee

ANTON = "UANTON"


def form(
    start: str | None,
    end: str | None,
    stand_in: str | None = None,
    reason: str | None = None,
    supporter: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "from": {"value": state_date(start)},
        "to": {"value": state_date(end)},
        "stand_in": {"value": state_select(stand_in)},
        "reason": {"value": state_text(reason)},
    }
    if supporter is not None:
        values["supporter"] = {"value": state_select(supporter)}
    return values


def opened(slack: SlackHarness, user: str, word: str = "afwezig") -> dict[str, Any]:
    before = len(slack.api.calls_to("views.open"))
    ok(slack.command(word, user))
    view: dict[str, Any] = slack.api.wait_for("views.open", count=before + 1)[-1].args["view"]
    return view


def absences(engine: Engine) -> list[SupporterAbsence]:
    with Session(engine) as session:
        return list(session.exec(select(SupporterAbsence)).all())


def options(view: dict[str, Any], block_id: str) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return [o["value"] for o in block["element"]["options"]]


def approved_for_carla(engine: Engine) -> str:
    with transaction(engine) as session:
        new = rq.NewRequest(region="ZEELAND", kind="process", half_days=2)
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        rq.assign(session, ref, TEAM, NOW, supporter_email="cf@sto.example")
    return ref


def test_a_supporter_registers_an_absence_and_the_stand_in_takes_over(
    slack: SlackHarness, engine: Engine
) -> None:
    add_supporter(engine, "anton@sto.example", "Anton Aalders", slack_user_id=ANTON)
    ref = approved_for_carla(engine)

    view = opened(slack, CRITICAL_FRIEND)
    assert view["callback_id"] == "absence_modal"
    assert view["title"]["text"] == "Afwezigheid melden"
    assert "supporter" not in [b.get("block_id") for b in view["blocks"]]  # it is about herself
    assert options(view, "stand_in") == ["anton@sto.example"]  # not herself, no coordinators
    meta = view["private_metadata"]

    done = ok(
        slack.submit(
            CRITICAL_FRIEND,
            "absence_modal",
            form("2026-12-07", "2026-12-11", "anton@sto.example", "cursus"),
            meta,
        )
    )
    assert done.body in ("", "{}"), done.body
    (absence,) = absences(engine)
    assert (absence.starts_on.isoformat(), absence.ends_on.isoformat()) == (
        "2026-12-07",
        "2026-12-11",
    )
    assert absence.reason == "cursus"
    assert assignee(engine, ref) == "anton@sto.example"

    saved = slack.api.wait_for("chat.postMessage")[-1].args
    assert saved["channel"] == CRITICAL_FRIEND
    assert "Opgeslagen: Carla Vriend is afwezig van maandag 7 december 2026" in saved["text"]
    assert ref in saved["text"]

    slack.dispatch()
    posted = [c.args for c in slack.api.calls_to("chat.postMessage") if c.ok]
    to_anton = [p["text"] for p in posted if p["channel"] == "D" + ANTON]
    assert any("U vervangt Carla Vriend" in t and ref in t for t in to_anton)
    in_team = [p["text"] for p in posted if p["channel"] == TEAM_CHANNEL]
    assert any("Carla Vriend is afwezig" in t and "Anton Aalders neemt over" in t for t in in_team)
    assert any(t.startswith(ref) for t in in_team)  # the request's card, now with Anton


def test_the_team_registers_for_anyone_with_the_english_alias(
    slack: SlackHarness, engine: Engine
) -> None:
    view = opened(slack, COORDINATOR, "absent")
    assert options(view, "supporter") == ["cf@sto.example"]
    done = ok(
        slack.submit(
            COORDINATOR,
            "absence_modal",
            form("2026-12-01", "2026-12-01", supporter="cf@sto.example"),
            view["private_metadata"],
        )
    )
    assert done.body in ("", "{}"), done.body
    (absence,) = absences(engine)
    assert absence.stand_in_id is None


def test_errors_show_under_their_field_and_change_nothing(
    slack: SlackHarness, engine: Engine
) -> None:
    add_supporter(engine, "anton@sto.example", "Anton Aalders", slack_user_id=ANTON)
    meta = opened(slack, CRITICAL_FRIEND)["private_metadata"]

    def submit(values: dict[str, Any], user: str = CRITICAL_FRIEND) -> dict[str, str]:
        answer = ok(slack.submit(user, "absence_modal", values, meta)).json()
        assert answer["response_action"] == "errors"
        errors: dict[str, str] = answer["errors"]
        return errors

    assert "eindigt vóór ze begint" in submit(form("2026-12-11", "2026-12-07"))["to"]
    assert "Vul deze datum in" in submit(form(None, "2026-12-07"))["from"]
    assert absences(engine) == []

    # Anton is away himself, so he cannot stand in; and Carla cannot be away twice.
    ok(slack.submit(ANTON, "absence_modal", form("2026-12-01", "2026-12-31"), meta_for(ANTON)))
    assert len(absences(engine)) == 1
    stand_in = submit(form("2026-12-07", "2026-12-08", "anton@sto.example"))["stand_in"]
    assert "zelf afwezig" in stand_in
    ok(slack.submit(CRITICAL_FRIEND, "absence_modal", form("2026-12-07", "2026-12-08"), meta))
    overlap = submit(form("2026-12-08", "2026-12-09"))["from"]
    assert "al afwezig van 2026-12-07 t/m 2026-12-08" in overlap
    assert len(absences(engine)) == 2


def meta_for(user: str) -> str:
    return json.dumps({"supporter": {"UANTON": "anton@sto.example"}[user]})


def test_only_supporters_and_the_team_may_register(slack: SlackHarness, engine: Engine) -> None:
    ok(slack.command("afwezig", ZEELAND_CONTACT))
    assert "ondersteuningsteam" in slack.replies()[0]["text"]
    assert slack.api.calls_to("views.open") == []

    # A supporter cannot register someone else's absence, even with a forged form.
    add_supporter(engine, "anton@sto.example", "Anton Aalders", slack_user_id=ANTON)
    forged = ok(
        slack.submit(
            ANTON,
            "absence_modal",
            form("2026-12-01", "2026-12-02", supporter="cf@sto.example"),
            meta_for(ANTON),
        )
    ).json()
    assert "ondersteuningsteam" in forged["errors"]["supporter"]
    contact = ok(
        slack.submit(
            ZEELAND_CONTACT,
            "absence_modal",
            form("2026-12-01", "2026-12-02"),
            json.dumps({"supporter": "cf@sto.example"}),
        )
    ).json()
    assert "ondersteuningsteam" in contact["errors"]["from"]
    assert absences(engine) == []
