"""VTIMEZONE components that Outlook reads, derived from the zone's own rules.

Outlook maps a VTIMEZONE to its time-zone structure and only understands a
yearly RRULE with one "nth weekday of the month" per onset (BYDAY=-1SU;
BYMONTH=3); definitions made of RDATE lists, as generic generators produce,
shift events by an hour there. So for the year around an event we find the
zone's transitions with zoneinfo and write them as such a rule. A zone without
daylight saving time (America/Kralendijk) gets one STANDARD component without
a rule. A zone whose transitions do not fit the pattern falls back to the
icalendar library's generator for a few years around the event.
"""

from __future__ import annotations

import calendar
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ANCHOR_YEAR = 1970  # the onsets are written from here on, as Google and Outlook do


@dataclass(frozen=True)
class Onset:
    local: datetime  # wall time just before the change, in the offset it changes from
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool


def _offset(tz: zoneinfo.ZoneInfo, at: datetime) -> timedelta:
    value = at.astimezone(tz).utcoffset()
    assert value is not None
    return value


def transitions(tzid: str, year: int) -> list[Onset]:
    """The offset changes of a zone in a year: a daily scan, then bisection to the second."""
    tz = zoneinfo.ZoneInfo(tzid)

    def offset(seconds: int) -> timedelta:
        return _offset(tz, datetime.fromtimestamp(seconds, UTC))

    found: list[Onset] = []
    day = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    while day < end:
        nxt = day + 86400
        if offset(day) != offset(nxt):
            low, high = day, nxt  # offset(low) is the old one, offset(high) the new one
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if offset(mid) == offset(low) else (low, mid)
            before, after = offset(low), offset(high)
            at = datetime.fromtimestamp(high, UTC)
            local = at.astimezone(tz)
            found.append(
                Onset(
                    local=(at + before).replace(tzinfo=None),
                    offset_from=before,
                    offset_to=after,
                    name=local.tzname() or "",
                    daylight=bool(local.dst()),
                )
            )
        day = nxt
    return found


def _byday(day: date) -> str | None:
    """ "-1SU" for the last Sunday of its month, "2SU" for the second; None beyond the 4th."""
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day + 7 > last:
        return f"-1{WEEKDAYS[day.weekday()]}"
    nth = (day.day - 1) // 7 + 1
    return f"{nth}{WEEKDAYS[day.weekday()]}" if nth <= 4 else None


def _anchor(onset: Onset, rule: str) -> datetime:
    """The same onset in ANCHOR_YEAR: the same nth weekday of the same month, same time."""
    month = onset.local.month
    weekday = WEEKDAYS.index(rule[-2:])
    nth = int(rule[:-2])
    days = [
        d
        for d in range(1, calendar.monthrange(ANCHOR_YEAR, month)[1] + 1)
        if calendar.weekday(ANCHOR_YEAR, month, d) == weekday
    ]
    day = days[nth] if nth < 0 else days[nth - 1]
    return datetime(ANCHOR_YEAR, month, day, onset.local.hour, onset.local.minute)  # noqa: DTZ001


def _fixed(tzid: str, year: int) -> Timezone:
    tz = zoneinfo.ZoneInfo(tzid)
    at = datetime(year, 7, 1, tzinfo=UTC).astimezone(tz)
    offset = at.utcoffset()
    assert offset is not None
    std = TimezoneStandard()
    std.add("DTSTART", datetime(ANCHOR_YEAR, 1, 1))  # noqa: DTZ001 (a floating onset)
    std.add("TZOFFSETFROM", offset)
    std.add("TZOFFSETTO", offset)
    std.add("TZNAME", at.tzname() or tzid)
    vtz = Timezone()
    vtz.add("TZID", tzid)
    vtz.add_component(std)
    return vtz


@cache
def vtimezone(tzid: str, year: int) -> Timezone:
    """A VTIMEZONE for `tzid` that is right for `year` and the years after it (same rules)."""
    onsets = transitions(tzid, year)
    if not onsets:
        return _fixed(tzid, year)
    rules = [_byday(o.local.date()) for o in onsets]
    if len(onsets) != 2 or None in rules or onsets[0].daylight == onsets[1].daylight:
        return Timezone.from_tzid(
            tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 3, 1, 1)
        )
    vtz = Timezone()
    vtz.add("TZID", tzid)
    for onset, rule in zip(onsets, rules, strict=True):
        assert rule is not None
        part = TimezoneDaylight() if onset.daylight else TimezoneStandard()
        part.add("DTSTART", _anchor(onset, rule))
        part.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": onset.local.month, "BYDAY": rule})
        part.add("TZOFFSETFROM", onset.offset_from)
        part.add("TZOFFSETTO", onset.offset_to)
        part.add("TZNAME", onset.name)
        vtz.add_component(part)
    return vtz
