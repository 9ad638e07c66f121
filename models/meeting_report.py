"""Counts of theme-meeting registrations per region, for the team's overview.

Derived in one aggregate query from the registrations (never kept as
counters). Cancelled meetings do not count; a registration without a region
(someone registered by the team without one) is counted under region "".
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import and_, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from models.regions import all_regions
from models.tables import Period, Region, Registration, ThemeMeeting
from models.types import MeetingStatus, RegistrationStatus

R = RegistrationStatus


@dataclass(frozen=True)
class RegionCount:
    region: str  # code, "" for registrations without a region
    name: str
    meetings: int  # meetings with someone of the region registered
    registrations: int  # registered (not waitlisted, not cancelled)
    waitlisted: int
    attended: int


def counts(
    session: Session,
    *,
    meeting: ThemeMeeting | None = None,
    period: Period | None = None,
    timezone: str = "Europe/Amsterdam",
    every_region: bool = False,
) -> list[RegionCount]:
    """Per region: over one meeting, the meetings starting in a period, or all meetings.

    `every_region` lists regions without any registration too (with zeros);
    otherwise only regions that have some.
    """
    registered = col(Registration.status) == R.registered.value
    stmt = (
        sa_select(  # five columns: more than sqlmodel's select is typed for
            col(Registration.region_id),
            func.count(func.distinct(case((registered, Registration.meeting_id)))),
            func.count(case((registered, 1))),
            func.count(case((col(Registration.status) == R.waitlisted.value, 1))),
            func.count(case((and_(registered, col(Registration.attended).is_(True)), 1))),
        )
        .join(ThemeMeeting, col(ThemeMeeting.id) == Registration.meeting_id)
        .where(col(ThemeMeeting.status) != MeetingStatus.cancelled.value)
        .group_by(col(Registration.region_id))
    )
    if meeting is not None:
        stmt = stmt.where(col(ThemeMeeting.id) == meeting.id)
    if period is not None:
        zone = zoneinfo.ZoneInfo(timezone)
        begin = datetime.combine(period.starts_on, time(0), tzinfo=zone)
        end = datetime.combine(period.ends_on + timedelta(days=1), time(0), tzinfo=zone)
        stmt = stmt.where(col(ThemeMeeting.starts_at) >= begin, col(ThemeMeeting.starts_at) < end)
    found = {row[0]: tuple(int(v) for v in row[1:]) for row in session.execute(stmt).all()}
    regions: list[Region] = all_regions(session)
    lines = [
        RegionCount(r.code, r.name, *found.get(r.id, (0, 0, 0, 0)))
        for r in regions
        if every_region or r.id in found
    ]
    if None in found:
        lines.append(RegionCount("", "", *found[None]))
    return lines
