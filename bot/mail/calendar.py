"""iCalendar invitations (RFC 5545, iTIP RFC 5546) that Outlook and Google Calendar accept.

One invitation per subject (a request's support days, a visit, a meeting):
its UID comes from the subject, so every later version (new dates, a
cancellation) updates the same entry in the reader's calendar; SEQUENCE is
raised by the caller on every change (the outbox row id does: a later
notification about a subject always has a higher one, and a repeat after a
crash the same). `METHOD:REQUEST` invites or updates, `METHOD:CANCEL`
removes. Timed events carry their zone (TZID) with a VTIMEZONE Outlook
understands; support days are all-day events (`DTSTART;VALUE=DATE`).

Several days stay one event (one UID, so that an update replaces all of them):
consecutive days are one event spanning them; days that are not consecutive
are a one-day event on the first day with the others as RDATE (each an
instance of one day).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText, vUri

from bot.mail.headers import one_line
from bot.mail.timezones import vtimezone

PRODID = "-//Sterk Techniekonderwijs//STO-assistent//NL"
_UID_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Person:
    address: str
    name: str = ""


@dataclass(frozen=True)
class Invite:
    """What the reader's calendar needs; either `days` (all-day) or `start`/`end` (timed)."""

    uid: str
    sequence: int
    summary: str
    description: str
    organizer: Person
    attendee: Person
    days: tuple[date, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "Europe/Amsterdam"
    location: str = ""
    url: str = ""
    cancel: bool = False
    rsvp: bool = True

    @property
    def method(self) -> str:
        return "CANCEL" if self.cancel else "REQUEST"


def invite_uid(subject: str, domain: str) -> str:
    """A stable UID for a subject ("request:STO-2027-0042"): readable, and unique per domain."""
    readable = _UID_SAFE.sub("-", subject)[:60].strip("-")
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:12]
    return f"sto-{readable}-{digest}@{domain}"


_OUR_UID = re.compile(r"sto-(request|meeting|visit)-([A-Za-z0-9._-]{1,60})-([0-9a-f]{12})@(.+)")


def invite_subject(uid: str, domain: str) -> str | None:
    """The subject ("meeting:TB-2027-03") of a UID `invite_uid` made for `domain`, else None.

    The digest in the UID is checked, so a UID someone made up to look like
    ours is not taken for one.
    """
    found = _OUR_UID.fullmatch(uid.strip())
    if found is None or found.group(4).lower() != domain.lower():
        return None
    subject = f"{found.group(1)}:{found.group(2)}"
    return subject if invite_uid(subject, domain) == uid.strip() else None


def _person(person: Person, **params: str) -> vCalAddress:
    value = vCalAddress(f"mailto:{person.address}")
    if person.name:
        value.params["CN"] = one_line(person.name, 120)
    value.params.update(params)
    return value


def _consecutive(days: Sequence[date]) -> bool:
    return all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))


def _when(event: Event, invite: Invite) -> int | None:
    """Set the dates; returns the year a VTIMEZONE is needed for (None for all-day)."""
    if invite.days:
        days = sorted(set(invite.days))
        event.add("DTSTART", days[0])
        if _consecutive(days):
            event.add("DTEND", days[-1] + timedelta(days=1))
        else:
            event.add("DTEND", days[0] + timedelta(days=1))
            event.add("RDATE", days[1:])
        return None
    if invite.start is None or invite.end is None:
        raise ValueError("an invitation needs days, or a start and an end")
    if invite.start.tzinfo is None or invite.end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    tz = zoneinfo.ZoneInfo(invite.timezone)
    event.add("DTSTART", invite.start.astimezone(tz))
    event.add("DTEND", invite.end.astimezone(tz))
    return invite.start.astimezone(tz).year


def build(invite: Invite, *, stamp: datetime) -> Calendar:
    """The VCALENDAR object of one invitation or cancellation."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", invite.method)
    event = Event()
    event.add("UID", invite.uid)
    event.add("SEQUENCE", invite.sequence)
    event.add("DTSTAMP", stamp.astimezone(UTC))
    year = _when(event, invite)
    event.add("SUMMARY", vText(one_line(invite.summary, 250)))
    if invite.description:
        event.add("DESCRIPTION", invite.description)
    if invite.location:
        event.add("LOCATION", one_line(invite.location, 250))
    if invite.url:
        event.add("URL", vUri(one_line(invite.url, 1000)))
    event.add("ORGANIZER", _person(invite.organizer))
    event.add(
        "ATTENDEE",
        _person(
            invite.attendee,
            CUTYPE="INDIVIDUAL",
            ROLE="REQ-PARTICIPANT",
            PARTSTAT="NEEDS-ACTION",
            RSVP="TRUE" if invite.rsvp and not invite.cancel else "FALSE",
        ),
    )
    event.add("STATUS", "CANCELLED" if invite.cancel else "CONFIRMED")
    if year is not None:
        cal.add_component(vtimezone(invite.timezone, year))
    cal.add_component(event)
    return cal


def to_ics(invite: Invite, *, stamp: datetime) -> str:
    """The invitation as iCalendar text (CRLF line ends, lines folded at 75 octets)."""
    return str(build(invite, stamp=stamp).to_ical().decode("utf-8"))
