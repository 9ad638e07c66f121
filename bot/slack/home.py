"""App Home: a contact sees their region; the team sees every region and what waits for them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.render import long_date
from bot.slack import blocks, meeting_blocks
from bot.slack.deps import SlackDeps
from models import people, quota
from models import requests as rq
from models import visits as vs
from models.people import Person
from models.periods import period_on
from models.regions import get_region
from models.types import AllowanceKind, RequestStatus
from scheduling.rules import visits_on

TEAM_LINES = 30


def build(session: Session, deps: SlackDeps, person: Person | None) -> View:
    lang = person.language if person else deps.settings.language.value
    if person is None:
        return blocks.home_view(deps, lang, [deps.t("slack.home_unknown", lang)], [])
    period = period_on(session, deps.today())
    lines = quota.overview(session, period, codes=None if person.is_team else person.region_codes)
    if person.is_team:
        days = [x for x in lines if x.balance.kind is AllowanceKind.support_days]
        days.sort(key=lambda x: (x.balance.available, x.region.code))
        shown = days[:TEAM_LINES]
        waiting = rq.open_requests(session, statuses=frozenset({RequestStatus.submitted}))
        title = deps.t("slack.home_title_team", lang)
        requests_title = deps.t("slack.home_waiting", lang, count=len(waiting))
        found = waiting
    else:
        shown = lines
        found = rq.open_requests(session, region_codes=person.region_codes)
        title = deps.t("slack.home_title_contact", lang, regions=list(person.region_codes))
        requests_title = deps.t("slack.home_open", lang, count=len(found))
    low = {i for i, line in enumerate(shown) if quota.is_low(line)}
    balance = blocks.balance_blocks(deps, lang, period.code, shown, low)
    described: list[dict[str, Any]] = [rq.describe(session, r) for r in found]
    request_text = "\n".join(blocks.request_line(deps, lang, r) for r in described[:40])
    dates = sorted({d for r in described for d in r["dates"]})
    visits = deps.t("slack.home_visits", lang, dates=[long_date(d, lang) for d in dates[:20]])
    sections = [title, requests_title + "\n" + (request_text or deps.t("slack.home_nothing", lang))]
    if not person.is_team:
        sections.append(visits)
        sections.append(_friend_visits(session, deps, lang, person.region_codes))
    else:
        sections.append(_week(session, deps, lang))
        upcoming = meeting_blocks.upcoming(session, deps.clock.now(), None)
        sections.append(meeting_blocks.home_section(deps, lang, upcoming))
    return blocks.home_view(deps, lang, sections, balance)


def _friend_visits(session: Session, deps: SlackDeps, lang: str, codes: tuple[str, ...]) -> str:
    """The critical friend's visits to these regions that are scheduled from today on."""
    today = deps.today()
    found = [
        vs.describe(session, visit)
        for code in codes
        for visit in vs.list_visits(
            session, region_id=get_region(session, code).id, status=vs.VisitStatus.scheduled
        )
        if visit.day >= today
    ]
    found.sort(key=lambda v: (v["day"], v["region"], v["number"]))
    lines = [deps.t("slack.home_cf_visits", lang, count=len(found))]
    lines.extend(
        deps.t(
            "slack.home_week_line",
            lang,
            day=long_date(v["day"], lang),
            kind="visit",
            ref="",
            number=v["number"],
            region=v["region"],
            region_name=v["region_name"],
            supporter=v["supporter"],
        )
        for v in found[:TEAM_LINES]
    )
    return "\n".join(lines)


def _week(session: Session, deps: SlackDeps, lang: str) -> str:
    """The team's week: critical-friend visits and planned support, Monday to Sunday."""
    today = deps.today()
    monday = today - timedelta(days=today.weekday())
    days = [monday + timedelta(days=n) for n in range(7)]
    items = [(day, item) for day in days for item in visits_on(session, day)]
    lines = [deps.t("slack.home_week", lang, monday=long_date(monday, lang), count=len(items))]
    lines.extend(
        deps.t("slack.home_week_line", lang, day=long_date(day, lang), **item)
        for day, item in items[:TEAM_LINES]
    )
    return "\n".join(lines)


async def publish(deps: SlackDeps, client: AsyncWebClient, user_id: str) -> None:
    def read(session: Session) -> View:
        return build(session, deps, people.by_slack_id(session, user_id))

    view = await deps.read(read)
    await client.views_publish(user_id=user_id, view=view)
