"""`sto meetings announce`: one mail per contact and a Slack DM to those with a Slack id,
at the configured pace, never twice (SQLite and PostgreSQL; Slack against the fake API)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import RecordingMailer
from bot.render import Renderer
from models import announcements
from models import meetings as mt
from models.clock import FixedClock
from models.db import transaction
from models.errors import MeetingClosed, UnknownRegion
from models.tables import Contact, Notification, Region, RegionContact
from scheduling.dispatcher import Dispatcher
from tests.cli_helpers import Sto
from tests.conftest import NOW, TEAM
from tests.slack_harness import SlackHarness
from tests.test_meetings import DEADLINE, new_meeting

S = timedelta(seconds=1)
# (email, name, regions, slack id, language)
CONTACTS = (
    ("zee1@school.example", "Zeger", ("ZEELAND",), "UZ1", "nl"),
    ("zee2@school.example", "Zoë", ("ZEELAND",), None, "en"),
    ("both@school.example", "Bea", ("ZEELAND", "TWENTE"), "UB", "nl"),
    ("twe@school.example", "Tim", ("TWENTE",), None, "nl"),
    ("utr@school.example", "Ursula", ("UTRECHT",), "UU", "nl"),
    ("none@school.example", "Noor", (), "UN", "nl"),  # in no region: never announced to
)


@pytest.fixture
def contacts(engine: Engine) -> dict[str, int]:
    with transaction(engine) as session:
        regions = {c: Region(code=c, name=c.title()) for c in ("ZEELAND", "TWENTE", "UTRECHT")}
        session.add_all(regions.values())
        session.flush()
        ids = {}
        for email, name, codes, slack, lang in CONTACTS:
            contact = Contact(email=email, name=name, slack_user_id=slack, language=lang)
            session.add(contact)
            session.flush()
            assert contact.id is not None
            ids[email] = contact.id
            for code in codes:
                region_id = regions[code].id
                assert region_id is not None
                session.add(RegionContact(region_id=region_id, contact_id=contact.id))
        return ids


def announce(engine: Engine, code: str, regions: list[str] | None, **kw: int) -> object:
    with transaction(engine) as session:
        return announcements.announce(
            session, code, regions=regions, mail_per_minute=kw.get("mail", 60),
            slack_per_minute=kw.get("slack", 30), by=TEAM, now=kw.get("now", NOW),  # type: ignore[arg-type]
        )  # fmt: skip


def rows(engine: Engine, channel: str) -> list[Notification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(
                    Notification.template == "meeting_announcement",
                    Notification.channel == channel,
                )
                .order_by(col(Notification.due_at), col(Notification.id))
            ).all()
        )


def test_announcing_to_regions_paces_both_channels_and_never_repeats(
    engine: Engine, contacts: dict[str, int]
) -> None:
    code = new_meeting(engine)
    with Session(engine) as session:
        meeting_id = mt.get_meeting(session, code).id
    done = announce(engine, code, ["zeeland"])
    assert isinstance(done, announcements.Announced)
    assert (done.contacts, done.email.count, done.slack.count, done.already) == (3, 3, 2, 0)
    assert done.email.last_due == NOW + 2 * S  # 60 a minute: one a second
    assert done.slack.last_due == NOW + 2 * S  # 30 a minute: one every two seconds
    mails = rows(engine, "email")
    assert [(r.recipient, r.due_at, r.language) for r in mails] == [
        ("zee1@school.example", NOW, "nl"),
        ("zee2@school.example", NOW + S, "en"),
        ("both@school.example", NOW + 2 * S, "nl"),
    ]
    # the contract another part relies on: a reply to this mail registers its writer
    first = contacts["zee1@school.example"]
    assert mails[0].dedupe_key == f"meeting:{meeting_id}:announce:{first}"
    assert (mails[0].subject_type, mails[0].subject_id) == ("meeting", meeting_id)
    dms = rows(engine, "slack")
    assert [(r.recipient, r.due_at) for r in dms] == [("UZ1", NOW), ("UB", NOW + 2 * S)]
    assert dms[0].dedupe_key == f"meeting:{meeting_id}:announce-slack:{first}"

    # Again, now with TWENTE: only Tim is new (Bea had it); he queues behind the others.
    again = announce(engine, code, ["ZEELAND", "TWENTE"])
    assert isinstance(again, announcements.Announced)
    assert (again.contacts, again.email.count, again.slack.count, again.already) == (4, 1, 0, 3)
    assert again.email.last_due == NOW + 3 * S and again.slack.last_due is None
    # All regions: Ursula by mail and Slack, after what still waits in each channel.
    everyone = announce(engine, code, None)
    assert isinstance(everyone, announcements.Announced)
    assert (everyone.email.count, everyone.slack.count) == (1, 1)
    assert everyone.email.last_due == NOW + 4 * S
    assert everyone.slack.last_due == NOW + 4 * S
    assert "none@school.example" not in [r.recipient for r in rows(engine, "email")]
    assert len(rows(engine, "email")) == 5 and len(rows(engine, "slack")) == 3
    assert announce(engine, code, None) == announcements.Announced(
        code, 5, announcements.ChannelPlan(0, None), announcements.ChannelPlan(0, None), 5
    )


def test_the_dispatcher_keeps_the_pace(engine: Engine, contacts: dict[str, int]) -> None:
    code = new_meeting(engine)
    announce(engine, code, None, mail=20)  # one every 3 seconds
    mailer = RecordingMailer()
    clock = FixedClock(NOW)
    notifier = MailNotifier(mailer, Composer(Renderer(), "team@sto.example"), clock)
    dispatcher = Dispatcher(engine, {"email": notifier}, clock)
    sent_by: list[int] = []
    for _ in range(6):
        asyncio.run(dispatcher.run_once())
        sent_by.append(len(mailer.mails))
        clock.advance(2 * S)
    # at 0, 2, 4, 6, 8, 10 s: rows are due at 0, 3, 6, 9, 12 s
    assert sent_by == [1, 1, 2, 3, 3, 4]
    first = mailer.sent[0]
    assert str(first["Subject"]) == f"[{code}] Uitnodiging themabijeenkomst: Techniek in de regio"
    body = first.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Beste Zeger," in text
    assert "Aanmelden kan tot dinsdag 23 februari 2027 om 10:00" in text
    assert 'antwoord op deze e-mail met "aanmelden"' in text
    english = mailer.sent[1]  # Zoë reads English
    assert str(english["Subject"]).endswith("Invitation to a theme meeting: Techniek in de regio")


def test_cancelling_the_meeting_stops_the_announcements(
    engine: Engine, contacts: dict[str, int]
) -> None:
    code = new_meeting(engine)
    announce(engine, code, None)
    with transaction(engine) as session:
        mt.cancel_meeting(session, code, by=TEAM, now=NOW)
    assert {r.status for r in rows(engine, "email") + rows(engine, "slack")} == {"cancelled"}


def test_refusals_write_nothing(engine: Engine, contacts: dict[str, int]) -> None:
    code = new_meeting(engine)
    with pytest.raises(UnknownRegion):
        announce(engine, code, ["ZEELAND", "ATLANTIS"])
    with pytest.raises(MeetingClosed) as closed:
        announce(engine, code, None, now=DEADLINE + S)  # type: ignore[arg-type]
    assert closed.value.params["reason"] == "deadline_passed"
    assert rows(engine, "email") == [] and rows(engine, "slack") == []


def test_slack_dms_arrive(slack: SlackHarness) -> None:
    code = new_meeting(slack.engine, title="Samen sterker")
    done = announce(slack.engine, code, None, slack=50)
    assert isinstance(done, announcements.Announced) and done.slack.count == 2
    assert done.slack.last_due == NOW + timedelta(seconds=1.2)
    slack.clock.set(NOW)
    slack.dispatch()
    assert len(slack.api.calls_to("chat.postMessage")) == 1  # the second is not due yet
    slack.clock.set(NOW + timedelta(seconds=1.2))
    slack.dispatch()
    posts = slack.api.calls_to("chat.postMessage")
    opened = [c.args["users"] for c in slack.api.calls_to("conversations.open")]
    assert sorted(opened) == ["UTWE", "UZEE"]
    assert len(posts) == 2
    for post in posts:
        text = post.args["text"]
        assert "*Samen sterker*" in text and code in text
        assert "dinsdag 2 maart 2027 van 10:00 tot 13:00" in text
        assert "`/sto bijeenkomsten`" in text


@pytest.fixture
def sto(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sto:
    return Sto(engine, capsys, monkeypatch, NOW)


def test_the_command_says_how_many_and_when_the_last_goes(
    sto: Sto, engine: Engine, contacts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = new_meeting(engine)
    monkeypatch.setenv("STO_ANNOUNCE_MAIL_PER_MINUTE", "2")  # one every 30 seconds
    monkeypatch.setenv("STO_ANNOUNCE_SLACK_PER_MINUTE", "1")
    done = sto("meetings", "announce", code, "--regions", "ZEELAND,twente")
    assert done.code == 0, done.err
    assert f"Aankondiging van {code} aan 4 contacten:" in done.out
    # NOW is 09:00 UTC, 10:00 in Amsterdam; 4 mails: the last at 10:01:30
    last = "de laatste gaat weg op maandag 30 november 2026 om 10:01"
    assert f"e-mail: 4 berichten, hoogstens 2 per minuut; {last}" in done.out
    assert f"Slack: 2 berichten, hoogstens 1 per minuut; {last}" in done.out
    assert done.out.splitlines()[1:] == [
        f"- e-mail: 4 berichten, hoogstens 2 per minuut; {last}",
        f"- Slack: 2 berichten, hoogstens 1 per minuut; {last}",
    ]
    again = sto("meetings", "announce", code, "--all")
    assert again.code == 0, again.err
    assert "(4 hadden hem al en krijgen hem niet nog eens)" in again.out
    assert "e-mail: 1 bericht," in again.out and "Slack: 1 bericht," in again.out
    for argv in (("--all", "--regions", "ZEELAND"), ()):
        wrong = sto("meetings", "announce", code, *argv)
        assert wrong.code == 2 and "--regions ZEELAND,TWENTE" in wrong.err
    unknown = sto("meetings", "announce", code, "--regions", "ATLANTIS")
    assert unknown.code == 1 and "ATLANTIS" in unknown.err
    assert len(rows(engine, "email")) == 5  # the refused ones wrote nothing
    monkeypatch.setenv("STO_ANNOUNCE_MAIL_PER_MINUTE", "0")
    bad = sto("meetings", "announce", code, "--all")
    assert bad.code != 0 and "STO_ANNOUNCE_MAIL_PER_MINUTE" in bad.err
