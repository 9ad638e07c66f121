"""Invitations: the iCalendar part of a mail, parsed back with icalendar, field by field."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest

from bot.mail.calendar import Invite, Person, invite_subject, invite_uid, to_ics
from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier, days_of
from bot.mail.outbound import RecordingMailer
from bot.mail.timezones import transitions, vtimezone
from bot.render import Renderer
from models.clock import FixedClock
from scheduling.dispatcher import Message

SENDER = "ondersteuning@sto.example"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "ref": "STO-2027-0042",
    "region": "ZEELAND",
    "region_name": "Zeeland",
    "days": "1.5",
    "kind": "process",
    "status": "scheduled",
    "theme": "doorlopende leerlijnen",
    "reason": "2027-03-02, 2027-03-09",
    "fallback_email": "jose@school.example",
}


DAYS = ["2027-03-02", "2027-03-09"]
NAME = "José van ’t Hoëk"  # noqa: RUF001 (the Dutch apostrophe, on purpose)


def deliver(*rows: Message) -> list[EmailMessage]:
    mailer = RecordingMailer()
    notifier = MailNotifier(mailer, Composer(Renderer(), SENDER), FixedClock(NOW))

    async def run() -> None:
        for message in rows:
            await notifier.deliver(message)

    asyncio.run(run())
    return mailer.sent


def row(n: int, template: str = "request_scheduled", **context: Any) -> Message:
    return Message(
        id=n,
        key=f"request:STO-2027-0042:{n}:requester",
        template=template,
        channel="email",
        recipient="jose@school.example",
        language="nl",
        context={**CONTEXT, **context},
        subject_type="request",
        subject_id=42,
        attempts=1,
    )


def payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def calendar_of(msg: EmailMessage) -> tuple[EmailMessage, icalendar.Calendar]:
    found = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(found) == 1
    part = found[0]
    assert isinstance(part, EmailMessage)
    return part, icalendar.Calendar.from_ical(payload(part))


def sequence(event: icalendar.Event) -> int:
    return int(event.decoded("SEQUENCE"))


def event_of(cal: icalendar.Calendar) -> icalendar.Event:
    events = cal.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, icalendar.Event)
    return event


def test_a_scheduled_request_carries_an_invitation() -> None:
    (msg,) = deliver(row(17))
    assert msg.get_content_type() == "multipart/mixed"
    alternative = next(msg.iter_parts())
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    part, cal = calendar_of(msg)
    assert part.get_param("method") == "REQUEST"
    assert cal["METHOD"] == "REQUEST"
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    event = event_of(cal)
    assert str(event["UID"]) == invite_uid("request:STO-2027-0042", "sto.example")
    assert sequence(event) == 17
    assert event["STATUS"] == "CONFIRMED"
    # support days are all-day: DTSTART;VALUE=DATE, the other day as RDATE
    assert event["DTSTART"].params.get("VALUE") == "DATE"
    assert event.decoded("DTSTART") == date(2027, 3, 2)
    assert event.decoded("DTEND") == date(2027, 3, 3)
    rdate = event["RDATE"]
    assert isinstance(rdate, icalendar.vDDDLists)
    assert [d.dt for d in rdate.dts] == [date(2027, 3, 9)]
    assert str(event["ORGANIZER"]) == f"mailto:{SENDER}"
    assert event["ORGANIZER"].params["CN"] == "Ondersteuningsteam Sterk Techniekonderwijs"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:jose@school.example"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert "[STO-2027-0042]" in str(event["SUMMARY"])
    assert "1,5 dag" in str(event["DESCRIPTION"])
    assert event.decoded("DTSTAMP") == NOW
    attachment = [p for p in msg.iter_attachments() if p.get_filename() == "invite.ics"]
    assert len(attachment) == 1
    assert payload(attachment[0]) == payload(part)


def test_consecutive_days_are_one_event_spanning_them() -> None:
    (msg,) = deliver(row(3, reason="2027-03-03, 2027-03-02"))
    event = event_of(calendar_of(msg)[1])
    assert event.decoded("DTSTART") == date(2027, 3, 2)
    assert event.decoded("DTEND") == date(2027, 3, 4)
    assert "RDATE" not in event


def test_new_dates_update_the_same_entry_with_a_higher_sequence() -> None:
    first, moved = deliver(row(17), row(23, reason="2027-04-06"))
    one, two = event_of(calendar_of(first)[1]), event_of(calendar_of(moved)[1])
    assert one["UID"] == two["UID"]
    assert sequence(two) > sequence(one)
    assert two.decoded("DTSTART") == date(2027, 4, 6)
    # a repeat of the same notification (a crash before it was marked sent) is identical
    (again,) = deliver(row(17))
    assert sequence(event_of(calendar_of(again)[1])) == sequence(one)
    assert again["Message-ID"] == first["Message-ID"]


def test_a_cancellation_withdraws_the_invitation() -> None:
    scheduled, cancelled = deliver(
        row(17),
        row(31, "request_cancelled", status="cancelled", reason="", dates=DAYS),
    )
    part, cal = calendar_of(cancelled)
    assert part.get_param("method") == "CANCEL"
    assert cal["METHOD"] == "CANCEL"
    event = event_of(cal)
    assert event["UID"] == event_of(calendar_of(scheduled)[1])["UID"]
    assert sequence(event) == 31
    assert event["STATUS"] == "CANCELLED"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"
    text = cancelled.get_body(("plain",))
    assert text is not None and "annulering" in text.get_content()


def test_no_invitation_without_days() -> None:
    approved, cancelled, odd = deliver(
        row(1, "request_approved", reason=""),
        row(2, "request_cancelled", status="cancelled", reason="te laat"),
        row(3, reason="na overleg"),  # scheduled, but the reason is not a list of days
    )
    for msg in (approved, cancelled, odd):
        assert msg.get_content_type() == "multipart/alternative"
        assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    body = odd.get_body(("plain",))
    assert body is not None and "ingepland: na overleg." in body.get_content()


def test_days_are_read_from_dates_or_from_the_scheduling_reason() -> None:
    assert days_of("request_scheduled", {"reason": "2027-03-09, 2027-03-02"}) == [
        date(2027, 3, 2),
        date(2027, 3, 9),
    ]
    assert days_of("request_cancelled", {"reason": "2027-03-02"}) == []
    assert days_of("request_cancelled", {"dates": "2027-03-02"}) == [date(2027, 3, 2)]
    assert days_of("request_scheduled", {"reason": "binnenkort"}) == []


def _timed(tz: str, start: datetime, **changes: Any) -> icalendar.Event:
    invite = Invite(
        uid="visit-7@sto.example",
        sequence=2,
        summary="Bezoek critical friend",
        description="Gesprek over het regioplan.",
        organizer=Person(SENDER, "Ondersteuningsteam"),
        attendee=Person("jose@school.example", NAME),
        start=start,
        end=start + timedelta(hours=2),
        timezone=tz,
        location="Kralendijk, Kaya Grandi 1",
        **changes,
    )
    cal = icalendar.Calendar.from_ical(to_ics(invite, stamp=NOW))
    zones = cal.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == [tz]
    return event_of(cal)


def test_a_timed_event_in_amsterdam_carries_its_zone() -> None:
    start = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in winter time
    event = _timed("Europe/Amsterdam", start)
    assert event["DTSTART"].params["TZID"] == "Europe/Amsterdam"
    assert event["DTEND"].params["TZID"] == "Europe/Amsterdam"
    local = event.decoded("DTSTART")
    assert (local.hour, local.minute) == (10, 0) and local == start
    assert event["ATTENDEE"].params["CN"] == NAME


def test_a_timed_event_on_the_dst_morning() -> None:
    start = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # the clocks went forward at 02:00
    local = _timed("Europe/Amsterdam", start).decoded("DTSTART")
    assert local.hour == 10 and local.utcoffset() == timedelta(hours=2)


def test_a_timed_event_on_bonaire() -> None:
    start = datetime(2027, 3, 2, 13, 0, tzinfo=UTC)
    event = _timed("America/Kralendijk", start, cancel=True)
    assert event["DTSTART"].params["TZID"] == "America/Kralendijk"
    assert event.decoded("DTSTART").hour == 9
    assert event["STATUS"] == "CANCELLED"


def test_vtimezone_amsterdam_is_written_as_outlook_reads_it() -> None:
    vtz = vtimezone("Europe/Amsterdam", 2027)
    daylight, standard = vtz.walk("DAYLIGHT")[0], vtz.walk("STANDARD")[0]
    assert daylight["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"
    assert standard["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"
    assert daylight.decoded("DTSTART") == datetime(1970, 3, 29, 2, 0)  # noqa: DTZ001
    assert standard.decoded("DTSTART") == datetime(1970, 10, 25, 3, 0)  # noqa: DTZ001
    assert daylight.decoded("TZOFFSETFROM") == timedelta(hours=1)
    assert daylight.decoded("TZOFFSETTO") == timedelta(hours=2)
    assert "RDATE" not in daylight and "RDATE" not in standard


def test_vtimezone_bonaire_has_no_daylight_saving() -> None:
    vtz = vtimezone("America/Kralendijk", 2027)
    assert vtz.walk("DAYLIGHT") == []
    (standard,) = vtz.walk("STANDARD")
    assert standard.decoded("TZOFFSETTO") == timedelta(hours=-4)
    assert "RRULE" not in standard


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Europe/Amsterdam", [datetime(2027, 3, 28, 2, 0), datetime(2027, 10, 31, 3, 0)]),  # noqa: DTZ001
        ("America/Kralendijk", []),
    ],
)
def test_transitions_are_found_to_the_minute(tz: str, expected: list[datetime]) -> None:
    assert [o.local for o in transitions(tz, 2027)] == expected


def test_an_invitation_needs_days_or_a_time() -> None:
    bare = Invite(
        uid="u@x", sequence=0, summary="s", description="", organizer=Person(SENDER),
        attendee=Person("a@b.example"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="days, or a start"):
        to_ics(bare, stamp=NOW)


@pytest.mark.parametrize("subject", ["request:STO-2027-0042", "meeting:TB-2027-03", "visit:7"])
def test_a_uid_we_made_tells_its_subject_again(subject: str) -> None:
    uid = invite_uid(subject, "sto.example")
    assert invite_subject(uid, "sto.example") == subject
    assert invite_subject(uid, "elders.example") is None  # another deployment's
    readable, _, rest = uid.rpartition("-")
    assert invite_subject(f"{readable}-{'0' * 12}@{rest.partition('@')[2]}", "sto.example") is None
    assert invite_subject("040000008200E00074C5B7101A82E008", "sto.example") is None  # Outlook's
