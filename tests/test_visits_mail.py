"""Visit proposals by mail: the proposal mail, an answer "2" (or "geen", or nonsense) through
the inbound pipeline, and the invitations read back with icalendar."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.mail.compose import Composer
from bot.mail.inbound import Inbound, MailDeps
from bot.mail.notifier import MailNotifier
from bot.mail.option_answers import read_answer
from bot.mail.outbound import FileMailer
from bot.render import Renderer
from config.settings import Settings
from models import visits as vs
from models.clock import FixedClock
from models.db import transaction
from models.tables import Visit, VisitProposal
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM, RegionFactory
from tests.visit_helpers import World, proposed_visit, world

SENDER = "ondersteuning@sto.example"
OPTIONS = (date(2027, 3, 30), date(2027, 4, 1), date(2027, 4, 2))
WINDOW = (date(2027, 3, 1), date(2027, 4, 30))


@pytest.fixture
def w(engine: Engine, make_region: RegionFactory) -> World:
    return world(engine, make_region)


class Post:
    """The outbox delivered by mail into .eml files, and the inbound pipeline."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine = engine
        self.folder = folder
        self.clock = FixedClock(NOW)
        notifier = MailNotifier(FileMailer(folder), Composer(Renderer(), SENDER), self.clock)
        self.dispatcher = Dispatcher(engine, {"email": notifier}, self.clock)
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            mail_from=SENDER,
            mail_trust_from=True,
        )
        self.inbound = Inbound(MailDeps(settings=settings, engine=engine, clock=self.clock))
        self.seen: set[str] = set()

    def deliver(self) -> list[EmailMessage]:
        """Send what is due; returns the mails written since the last call."""

        async def drain() -> None:
            while await self.dispatcher.run_once():
                pass

        asyncio.run(drain())
        new = []
        for path in sorted(self.folder.glob("*.eml")):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            new.append(msg)
        return new

    def reply(self, sender: str, body: str, to: EmailMessage) -> None:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = SENDER
        msg["Subject"] = "Re: " + str(to["Subject"])
        msg["Message-ID"] = make_msgid(domain="school.example")
        msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0100"
        msg["In-Reply-To"] = str(to["Message-ID"])
        msg["References"] = str(to["Message-ID"])
        msg.set_content(body + "\n\n> quoted proposal\n")
        assert asyncio.run(self.inbound.handle(bytes(msg))) is True


def body(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def calendar(mail: EmailMessage) -> icalendar.Calendar:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return icalendar.Calendar.from_ical(data)


def event(mail: EmailMessage) -> icalendar.Event:
    found = calendar(mail).walk("VEVENT")[0]
    assert isinstance(found, icalendar.Event)
    return found


def to(mails: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in mails if m["To"].addresses[0].addr_spec == address]


def test_answer_two_by_mail_schedules_and_invites(engine: Engine, w: World, tmp_path: Path) -> None:
    post = Post(engine, tmp_path)
    visit_id, _ = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, window=WINDOW)
    [proposal] = post.deliver()  # the contact on Slack gets a DM, the other a mail
    assert proposal["To"].addresses[0].addr_spec == "zee2@school.example"
    assert "kies een moment" in str(proposal["Subject"])
    text = body(proposal)
    assert "1. dinsdag 30 maart 2027" in text and "2. donderdag 1 april 2027" in text
    assert 'met "geen"' in text

    post.reply("Zoë Zand <zee2@school.example>", "2", proposal)
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "scheduled"
        assert visit.day == date(2027, 4, 1)

    invitations = post.deliver()
    assert sorted(m["To"].addresses[0].addr_spec for m in invitations) == [
        "carla@sto.example",
        "zee2@school.example",
        "zee@school.example",
    ]
    for mail in invitations:
        assert str(calendar(mail)["METHOD"]) == "REQUEST"
        e = event(mail)
        assert e.decoded("DTSTART") == date(2027, 4, 1)
        assert e["DTSTART"].params["VALUE"] == "DATE"
        assert int(e.decoded("SEQUENCE")) == 1
        assert "Carla Vriend" in str(e["SUMMARY"]) and "Zeeland" in str(e["SUMMARY"])
    uids = {str(event(m)["UID"]) for m in invitations}
    assert len(uids) == 1 and "visit" in next(iter(uids))
    assert "donderdag 1 april 2027" in body(to(invitations, "zee2@school.example")[0])

    with transaction(engine) as session:
        vs.cancel_visit(session, visit_id, TEAM, NOW, reason="ziekte")
    cancellations = post.deliver()
    assert len(cancellations) == 3
    for mail in cancellations:
        assert str(calendar(mail)["METHOD"]) == "CANCEL"
        assert str(event(mail)["UID"]) in uids
        assert int(event(mail).decoded("SEQUENCE")) == 2
    assert "gaat niet door (ziekte)" in body(cancellations[0])


def test_answer_none_brings_new_slots_and_nonsense_is_asked_again(
    engine: Engine, w: World, tmp_path: Path
) -> None:
    post = Post(engine, tmp_path)
    visit_id, proposal_id = proposed_visit(engine, w.zeeland, w.cf, OPTIONS, window=WINDOW)
    [proposal] = post.deliver()
    post.reply("zee2@school.example", "misschien later", proposal)
    [unclear] = post.deliver()
    assert unclear["In-Reply-To"] is not None
    assert "1, 2 of 3" in body(unclear)
    with Session(engine) as session:
        assert session.get(VisitProposal, proposal_id).status == "open"  # type: ignore[union-attr]

    post.reply("zee2@school.example", "Geen van deze, helaas", proposal)
    new = post.deliver()
    assert len(new) == 1 and "Geen van de vorige momenten paste" in body(new[0])
    with Session(engine) as session:
        proposals = session.exec(
            select(VisitProposal).where(VisitProposal.visit_id == visit_id)
        ).all()
        assert [p.status for p in proposals] == ["declined", "open"]

    post.reply("zee2@school.example", "1", proposal)  # an answer to the old proposal
    [refused] = post.deliver()
    assert "niet meer open" in body(refused)
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "proposed"

    post.reply("zee2@school.example", "3", new[0])
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "scheduled"
        assert visit.day == proposals[1].slot_3


def test_a_timed_visit_in_kralendijk_carries_its_zone(
    engine: Engine, w: World, tmp_path: Path
) -> None:
    post = Post(engine, tmp_path)
    visit_id, proposal_id = proposed_visit(engine, w.bes, w.cf_bes, OPTIONS, window=WINDOW)
    with transaction(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        start = datetime(2027, 4, 1, 14, 0, tzinfo=UTC)  # 10:00 in Kralendijk
        visit.starts_at, visit.ends_at = start, start + timedelta(hours=2)
        session.add(visit)
    with transaction(engine) as session:
        vs.choose_slot(session, proposal_id, 2, TEAM, NOW)
    mails = post.deliver()  # the proposal, then the two invitations
    cal_mails = [m for m in mails if any(x.get_content_type() == "text/calendar" for x in m.walk())]
    assert len(mails) == 3
    assert len(cal_mails) == 2
    e = event(cal_mails[0])
    assert e["DTSTART"].params["TZID"] == "America/Kralendijk"
    assert e.decoded("DTSTART").hour == 10
    assert calendar(cal_mails[0]).walk("VTIMEZONE")
    english = to(cal_mails, "bes@school.example")[0]
    assert "Critical-friend visit" in str(english["Subject"])


def test_reading_answers() -> None:
    assert read_answer("2") == 2
    assert read_answer("  Optie 3.\nGroet, Zoë") == 3
    assert read_answer("\n\n1!") == 1
    assert read_answer("geen") == 0
    assert read_answer("None of these, sorry") == 0
    assert read_answer("2 of 3 is goed") is None
    assert read_answer("") is None
