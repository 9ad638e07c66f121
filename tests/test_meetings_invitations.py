"""Meeting invitations end to end: domain → outbox → dispatcher → SMTP (aiosmtpd) → icalendar.

Every mail the SMTP server receives is parsed back and its calendar part read
field by field: METHOD, UID (one per meeting), SEQUENCE (the meeting's; higher
for whoever registers again), the times with their TZID and VTIMEZONE (a
meeting on the day after the October DST change in Amsterdam, and one on
Bonaire), LOCATION, URL, ORGANIZER and ATTENDEE. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import icalendar
import pytest
from sqlalchemy import Engine

from bot.mail.calendar import invite_uid
from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import SmtpMailer
from bot.render import Renderer
from config.settings import TlsMode
from models import meetings as mt
from models.clock import FixedClock
from models.db import transaction
from models.types import Channel
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM
from tests.test_mail_out import Server, Store, _start

SENDER = "ondersteuning@sto.example"
# The clocks go back on Sunday 31 October 2027; Monday 1 November 10:00 is CET (UTC+1).
AFTER_DST = datetime(2027, 11, 1, 9, 0, tzinfo=UTC)
# Bonaire: UTC-4 all year; 14:00 there.
BONAIRE = datetime(2027, 3, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[Server]:
    store = Store()
    for port in _start(store, enable_SMTPUTF8=True):
        yield Server(store, port)


def deliver(engine: Engine, smtp: Server, at: datetime = NOW) -> None:
    """Run the dispatcher once, as `sto run` does, into the real SMTP server."""
    mailer = SmtpMailer("127.0.0.1", smtp.port, tls=TlsMode.none, timeout=5)
    clock = FixedClock(at)
    notifier = MailNotifier(mailer, Composer(Renderer(), SENDER), clock)

    async def run() -> None:
        try:
            while await Dispatcher(engine, {"email": notifier}, clock).run_once():
                pass
        finally:
            await notifier.close()

    asyncio.run(run())


def received(smtp: Server) -> list[EmailMessage]:
    found = [smtp.store.parsed(i) for i in range(len(smtp.store.messages))]
    smtp.store.messages.clear()
    return found


def to(msg: EmailMessage) -> str:
    return str(msg["To"].addresses[0].addr_spec)


def calendar(msg: EmailMessage) -> icalendar.Calendar | None:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    assert len(parts) == 1
    data = parts[0].get_payload(decode=True)
    assert isinstance(data, bytes)
    assert parts[0].get_param("method") == icalendar.Calendar.from_ical(data)["METHOD"]
    return icalendar.Calendar.from_ical(data)


def event(cal: icalendar.Calendar) -> icalendar.Event:
    (found,) = cal.walk("VEVENT")
    assert isinstance(found, icalendar.Event)
    return found


def meeting(engine: Engine, start: datetime, tz: str, **fields: object) -> str:
    values: dict[str, object] = {
        "title": "Techniek in de regio",
        "theme": "samenwerking",
        "description": "Kennisdeling",
        "starts_at": start,
        "ends_at": start + timedelta(hours=3),
        "timezone": tz,
        "location": "Utrecht, Jaarbeurs",
        "online_url": "",
        "capacity": 1,
        "registration_deadline": start - timedelta(days=7),
    }
    values.update(fields)
    with transaction(engine) as session:
        return mt.create_meeting(session, **values, by=TEAM, now=NOW).code  # type: ignore[arg-type]


def register(engine: Engine, code: str, who: str, name: str) -> str:
    with transaction(engine) as session:
        return mt.register(
            session, code, name=name, email=who, region_code=None, contact_id=None,
            channel=Channel.cli.value, by=TEAM, now=NOW,
        ).status  # fmt: skip


def check_times(ev: icalendar.Event, tz: str, start: datetime, hours: int, offset: int) -> None:
    for name, at in (("DTSTART", start), ("DTEND", start + timedelta(hours=hours))):
        assert ev[name].params["TZID"] == tz
        local = ev.decoded(name)
        assert local == at
        assert local.utcoffset() == timedelta(hours=offset)


def test_the_whole_life_of_an_invitation(engine: Engine, smtp: Server) -> None:
    tz = "Europe/Amsterdam"
    code = meeting(engine, AFTER_DST, tz, online_url="https://meet.example/sto")
    uid = invite_uid(f"meeting:{code}", "sto.example")
    assert register(engine, code, "anna@school.example", "Anna de Vries") == "registered"
    assert register(engine, code, "bram@school.example", "Bram Bos") == "waitlisted"
    deliver(engine, smtp)
    confirmed, waiting = sorted(received(smtp), key=to)
    assert to(confirmed) == "anna@school.example"
    assert calendar(waiting) is None  # the waitlist gets no invitation
    cal = calendar(confirmed)
    assert cal is not None and cal["METHOD"] == "REQUEST"
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == [tz]
    ev = event(cal)
    assert str(ev["UID"]) == uid
    assert int(ev.decoded("SEQUENCE")) == 0
    check_times(ev, tz, AFTER_DST, 3, offset=1)
    assert ev.decoded("DTSTART").hour == 10  # 10:00 winter time, the day after the change
    assert str(ev["LOCATION"]) == "Utrecht, Jaarbeurs"
    assert str(ev["URL"]) == "https://meet.example/sto"
    assert str(ev["ORGANIZER"]) == f"mailto:{SENDER}"
    assert str(ev["ATTENDEE"]) == "mailto:anna@school.example"
    assert ev["ATTENDEE"].params["CN"] == "Anna de Vries"
    assert ev["ATTENDEE"].params["RSVP"] == "TRUE"
    assert ev["STATUS"] == "CONFIRMED"
    assert code in str(ev["SUMMARY"])
    body = confirmed.get_body(("plain",))
    assert body is not None and "uitnodiging voor uw agenda" in body.get_content()

    # The team moves it an hour later: an update of the same entry, SEQUENCE 1.
    with transaction(engine) as session:
        mt.edit_meeting(
            session, code, starts_at=AFTER_DST + timedelta(hours=1),
            ends_at=AFTER_DST + timedelta(hours=4), by=TEAM, now=NOW,
        )  # fmt: skip
    deliver(engine, smtp)
    (changed,) = received(smtp)
    assert to(changed) == "anna@school.example"
    cal = calendar(changed)
    assert cal is not None and cal["METHOD"] == "REQUEST"
    ev = event(cal)
    assert str(ev["UID"]) == uid and int(ev.decoded("SEQUENCE")) == 1
    check_times(ev, tz, AFTER_DST + timedelta(hours=1), 3, offset=1)

    # Anna cancels: her copy is withdrawn, Bram gets the seat and the invitation.
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, "anna@school.example"), by=TEAM, now=NOW)
    deliver(engine, smtp)
    withdrawn, promoted = sorted(received(smtp), key=to)
    cal = calendar(withdrawn)
    assert cal is not None and cal["METHOD"] == "CANCEL"
    ev = event(cal)
    assert str(ev["UID"]) == uid and int(ev.decoded("SEQUENCE")) == 1
    assert ev["STATUS"] == "CANCELLED"
    assert str(ev["ATTENDEE"]) == "mailto:anna@school.example"
    assert "U bent afgemeld" in str(withdrawn["Subject"])
    cal = calendar(promoted)
    assert cal is not None and cal["METHOD"] == "REQUEST"
    ev = event(cal)
    assert str(ev["UID"]) == uid and int(ev.decoded("SEQUENCE")) == 1
    assert str(ev["ATTENDEE"]) == "mailto:bram@school.example"
    check_times(ev, tz, AFTER_DST + timedelta(hours=1), 3, offset=1)

    # The meeting is cancelled: METHOD:CANCEL to everyone registered, SEQUENCE 2;
    # who was waiting is told too, without a calendar part (nothing to remove).
    assert register(engine, code, "cees@school.example", "Cees") == "waitlisted"
    deliver(engine, smtp)
    received(smtp)
    with transaction(engine) as session:
        mt.cancel_meeting(session, code, by=TEAM, now=NOW)
    deliver(engine, smtp)
    cancelled, waiter = sorted(received(smtp), key=to)
    assert to(cancelled) == "bram@school.example"
    assert to(waiter) == "cees@school.example" and calendar(waiter) is None
    assert "Geannuleerd" in str(waiter["Subject"])
    cal = calendar(cancelled)
    assert cal is not None and cal["METHOD"] == "CANCEL"
    ev = event(cal)
    assert str(ev["UID"]) == uid and int(ev.decoded("SEQUENCE")) == 2
    assert ev["STATUS"] == "CANCELLED"
    assert ev["ATTENDEE"].params["RSVP"] == "FALSE"


def test_an_online_meeting_on_bonaire(engine: Engine, smtp: Server) -> None:
    tz = "America/Kralendijk"
    url = "https://meet.example/bes"
    code = meeting(engine, BONAIRE, tz, location="", online_url=url, capacity=5)
    register(engine, code, "carla@school.example", "Carla Martis")
    deliver(engine, smtp)
    (msg,) = received(smtp)
    cal = calendar(msg)
    assert cal is not None and cal["METHOD"] == "REQUEST"
    (zone,) = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == tz
    assert zone.walk("DAYLIGHT") == []
    ev = event(cal)
    check_times(ev, tz, BONAIRE, 3, offset=-4)
    assert ev.decoded("DTSTART").hour == 14
    assert str(ev["LOCATION"]) == url  # online only: the link is the place
    assert str(ev["URL"]) == url


def test_leaving_the_waitlist_confirms_without_an_invitation(engine: Engine, smtp: Server) -> None:
    code = meeting(engine, AFTER_DST, "Europe/Amsterdam")
    register(engine, code, "anna@school.example", "Anna")
    register(engine, code, "bram@school.example", "Bram")
    deliver(engine, smtp)
    received(smtp)
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, "bram@school.example"), by=TEAM, now=NOW)
    deliver(engine, smtp)
    (msg,) = received(smtp)
    assert to(msg) == "bram@school.example"
    assert calendar(msg) is None  # he never had an entry in his calendar
    body = msg.get_body(("plain",))
    assert body is not None and "niet meer op de wachtlijst" in body.get_content()


def test_registering_again_after_cancelling_gets_a_newer_invitation(
    engine: Engine, smtp: Server
) -> None:
    """One UID per meeting: whoever cancelled (METHOD:CANCEL) and registers again needs a
    higher SEQUENCE, or their calendar keeps the REQUEST for a stale copy and shows nothing.
    Nobody else's number moves, and nobody else is mailed."""
    code = meeting(engine, AFTER_DST, "Europe/Amsterdam", capacity=5)
    uid = invite_uid(f"meeting:{code}", "sto.example")
    register(engine, code, "anna@school.example", "Anna de Vries")
    register(engine, code, "bram@school.example", "Bram Bos")
    deliver(engine, smtp)
    received(smtp)
    seen: list[tuple[str, int]] = []  # Anna's calendar, in the order she receives it

    def anna_reads(expected: str) -> None:
        (msg,) = received(smtp)  # only Anna is mailed
        assert to(msg) == "anna@school.example"
        cal = calendar(msg)
        assert cal is not None and cal["METHOD"] == expected
        ev = event(cal)
        assert str(ev["UID"]) == uid
        seen.append((expected, int(ev.decoded("SEQUENCE"))))

    for _ in range(2):
        with transaction(engine) as session:
            mt.cancel_registration(session, (code, "anna@school.example"), by=TEAM, now=NOW)
        deliver(engine, smtp)
        anna_reads("CANCEL")
        assert register(engine, code, "anna@school.example", "Anna de Vries") == "registered"
        deliver(engine, smtp)
        anna_reads("REQUEST")
    assert seen == [("CANCEL", 0), ("REQUEST", 1), ("CANCEL", 1), ("REQUEST", 2)]

    # A change of the meeting raises everyone's number from where it stood.
    with transaction(engine) as session:
        mt.edit_meeting(session, code, location="Zwolle", by=TEAM, now=NOW)
    deliver(engine, smtp)
    numbers = {
        to(m): int(event(cal).decoded("SEQUENCE"))
        for m in received(smtp)
        if (cal := calendar(m)) is not None
    }
    assert numbers == {"anna@school.example": 3, "bram@school.example": 1}
