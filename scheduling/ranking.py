"""Who should carry out a request: supporters ranked, each with the reasons for its place.

The order, most important first:

1. the region's critical friend, when the request's theme fits their
   expertise (or the request names no theme);
2. expertise: the request's theme is one of the supporter's themes;
3. free capacity in the requested period: enough free days for the request,
   then some, then none (absences, holidays, planned days and the monthly
   maximum all count);
4. a fair spread: fewest open assignments first;
5. then more free days, then the name (so the order is stable).

Reasons are codes with facts (`Reason`); the sentences live in
`templates/<lang>/supporters.j2`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from models import requests as rq
from models import supporters as sp
from models.tables import Period, Region, SupportRequest
from scheduling.calendar import WorkingCalendar, load_calendar
from scheduling.supporters import Capacity, capacity

DEFAULT_WINDOW = timedelta(weeks=4)  # without a preferred end: the four weeks from its start


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    supporter_id: int
    email: str
    name: str
    role: str
    critical_friend: bool
    theme_match: bool | None  # None: the request names no theme
    capacity: Capacity
    needed_days: int
    open_assignments: int
    reasons: tuple[Reason, ...]

    @property
    def free_days(self) -> int:
        return self.capacity.free_days

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "critical_friend": self.critical_friend,
            "theme_match": self.theme_match,
            "free_days": self.free_days,
            "needed_days": self.needed_days,
            "open_assignments": self.open_assignments,
            "reasons": [{"code": r.code, **r.params} for r in self.reasons],
        }


def slug(text: str) -> str:
    """ "Loopbaanoriëntatie & LOB" -> "loopbaanorientatie-lob" (as theme slugs are written)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def matching_theme(request_theme: str, themes: list[str]) -> str | None:
    """The supporter's theme that the request's theme is about, if any."""
    wanted = slug(request_theme)
    if not wanted:
        return None
    for theme in themes:
        if theme == wanted or theme in wanted or (len(wanted) >= 5 and wanted in theme):
            return theme
    return None


def window(session: Session, request: SupportRequest, today: date) -> tuple[date, date]:
    """The period a request asks for: its days, else its preferred window from today on."""
    planned = rq.days_of(session, request)
    if planned:
        return planned[0], planned[-1]
    start = max(request.preferred_from or today, today)
    end = request.preferred_to or start + DEFAULT_WINDOW - timedelta(days=1)
    period = session.get(Period, request.period_id)
    if period is not None and request.preferred_to is None and start <= period.ends_on < end:
        end = period.ends_on
    return start, max(start, end)


def _reasons(
    region: Region,
    cf: bool,
    fits_cf: bool,
    theme: str,
    match: str | None,
    themes: list[str],
    cap: Capacity,
    needed: int,
    assigned: int,
) -> tuple[Reason, ...]:
    found: list[Reason] = []
    if cf:
        code = "critical_friend" if fits_cf else "critical_friend_other_theme"
        found.append(Reason(code, {"region": region.code, "region_name": region.name}))
    if not theme.strip():
        found.append(Reason("no_theme"))
    elif match is not None:
        found.append(Reason("expertise", {"theme": match}))
    else:
        found.append(Reason("other_expertise", {"theme": theme, "themes": themes}))
    dates = {"start": cap.start.isoformat(), "end": cap.end.isoformat()}
    facts = {"free": cap.free_days, "needed": needed, **dates}
    if cap.free_days >= needed:
        found.append(Reason("capacity", facts))
    elif cap.free_days > 0:
        found.append(Reason("capacity_short", facts))
    else:
        found.append(Reason("no_capacity", facts))
    if cap.absent_days:
        found.append(Reason("absent", {"days": cap.absent_days, **dates}))
    if cap.month_cap_days and cap.free_days < needed:  # only when the maximum decides
        found.append(Reason("month_cap", {"days": cap.month_cap_days}))
    found.append(Reason("open_assignments", {"count": assigned}))
    return tuple(found)


def rank(
    session: Session,
    request: SupportRequest,
    today: date,
    *,
    calendar: WorkingCalendar | None = None,
) -> list[Candidate]:
    """Every supporter who could carry out the request, best first, with reasons."""
    region = session.get(Region, request.region_id)
    assert region is not None and request.id is not None
    cal = calendar or load_calendar(session)
    start, end = window(session, request, today)
    needed = math.ceil(request.half_days / 2)
    people = sp.workers(session)
    assigned = sp.open_assignments(session, [s.id for s in people if s.id is not None])
    scored: list[tuple[tuple[Any, ...], Candidate]] = []
    for s in people:
        assert s.id is not None
        themes = sp.themes_of(s)
        match = matching_theme(request.theme, themes)
        no_theme = not request.theme.strip()
        cf = s.id == region.critical_friend_id
        fits_cf = cf and (no_theme or match is not None)
        cap = capacity(
            session, s, start, end, region=region, calendar=cal, exclude_request_id=request.id
        )
        # The request itself does not count against whoever has it now.
        count = assigned.get(s.id, 0) - (1 if request.assigned_supporter_id == s.id else 0)
        room = 0 if cap.free_days >= needed else 1 if cap.free_days > 0 else 2
        key = (not fits_cf, not (no_theme or match is not None), room, count, -cap.free_days)
        candidate = Candidate(
            supporter_id=s.id,
            email=s.email,
            name=s.name,
            role=s.role,
            critical_friend=cf,
            theme_match=None if no_theme else match is not None,
            capacity=cap,
            needed_days=needed,
            open_assignments=count,
            reasons=_reasons(region, cf, fits_cf, request.theme, match, themes, cap, needed, count),
        )
        scored.append(((*key, s.name.casefold(), s.id), candidate))
    scored.sort(key=lambda pair: pair[0])
    return [candidate for _, candidate in scored]
