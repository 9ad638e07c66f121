"""Theme meetings in Block Kit: the list, the registration modal, the team's form, App Home.

Structure only (slack_sdk.models); every word comes from templates/<lang>/slack_meetings.j2.
What the list shows is read through the domain (`upcoming`), once per answer.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    DatePickerElement,
    DividerBlock,
    EmailInputElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    TimePickerElement,
    UrlInputElement,
)
from slack_sdk.models.views import View
from sqlmodel import Session

from bot.slack.blocks import MAX_BLOCKS, text_section
from bot.slack.deps import SlackDeps
from models import meetings as mt
from models.meetings import normalise_email
from models.people import Person
from models.tables import ThemeMeeting
from models.types import THEMES, MeetingStatus, RegistrationStatus

REGISTER = "meeting_register"
UNREGISTER = "meeting_unregister"
EDIT = "meeting_edit"
CANCEL_MEETING = "meeting_cancel"
REGISTER_MODAL = "meeting_register_modal"
FORM_MODAL = "meeting_form_modal"
SELF, COLLEAGUE = "self", "colleague"
MAX_LISTED = 15  # meetings in one answer (Slack allows 50 blocks per message)
HOME_LINES = 10
ZONES = ("Europe/Amsterdam", "America/Kralendijk")  # the Netherlands and the BES islands


@dataclass(frozen=True)
class MeetingRow:
    """One upcoming meeting as the channel shows it, with the reader's own registration."""

    meeting: ThemeMeeting
    registered: int
    waitlisted: int
    is_open: bool
    mine: str | None  # registered | waitlisted | None
    place: int | None  # the reader's place in line

    @property
    def seats_left(self) -> int:
        return max(0, self.meeting.capacity - self.registered)


def closed_reason(meeting: ThemeMeeting, now: datetime) -> str | None:
    """Why nobody can register now (as `MeetingClosed` says it), or None while open.

    For showing the Register button only: `models.meetings.register` decides for real.
    """
    if meeting.status == MeetingStatus.cancelled.value:
        return "cancelled"
    if now >= meeting.starts_at:
        return "started"
    if now > meeting.registration_deadline:
        return "deadline_passed"
    return None


def is_open(meeting: ThemeMeeting, now: datetime) -> bool:
    return closed_reason(meeting, now) is None


def upcoming(session: Session, now: datetime, email: str | None) -> list[MeetingRow]:
    """Meetings that are not cancelled and have not started, first first."""
    address = normalise_email(email) if email else None
    rows: list[MeetingRow] = []
    for meeting in mt.list_meetings(session, now=now):
        if meeting.starts_at <= now:
            continue
        registered = mt.attendees(session, meeting.code)
        waiting = mt.waitlist(session, meeting.code)
        mine: str | None = None
        place: int | None = None
        if address is not None:
            if any(r.email == address for r in registered):
                mine = RegistrationStatus.registered.value
            for index, r in enumerate(waiting, start=1):
                if r.email == address:
                    mine, place = RegistrationStatus.waitlisted.value, index
        rows.append(
            MeetingRow(meeting, len(registered), len(waiting), is_open(meeting, now), mine, place)
        )
    return rows


def _show_zone(deps: SlackDeps, meeting: ThemeMeeting) -> bool:
    return meeting.timezone != deps.settings.timezone


def _when(deps: SlackDeps, meeting: ThemeMeeting) -> dict[str, Any]:
    return {
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "tz": meeting.timezone,
        "show_zone": _show_zone(deps, meeting),
    }


def _meeting_text(deps: SlackDeps, lang: str, row: MeetingRow) -> str:
    m = row.meeting
    return deps.t(
        "slack_meetings.meeting",
        lang,
        code=m.code,
        title=m.title,
        theme_value=m.theme,
        location=m.location,
        online_url=m.online_url,
        capacity=m.capacity,
        seats_left=row.seats_left,
        waitlisted=row.waitlisted,
        deadline=m.registration_deadline,
        is_open=row.is_open,
        max_per_region=m.max_per_region,
        **_when(deps, m),
    )


def _confirm(deps: SlackDeps, lang: str, key: str, m: ThemeMeeting) -> ConfirmObject:
    # Plain text: the confirm dialog would otherwise read the title as mrkdwn.
    text = deps.plain(f"slack_meetings.{key}_text", lang, code=m.code, title=m.title)
    return ConfirmObject(
        title=deps.plain(f"slack_meetings.{key}_title", lang)[:100],
        text=PlainTextObject(text=text[:300]),
        confirm=deps.plain("slack_meetings.confirm_yes", lang),
        deny=deps.plain("slack_meetings.confirm_no", lang),
    )


def list_blocks(deps: SlackDeps, lang: str, person: Person, rows: list[MeetingRow]) -> list[Block]:
    """The answer to `/sto bijeenkomsten`: upcoming meetings, then the reader's registrations."""
    if not rows:
        return [text_section(deps.t("slack_meetings.none_upcoming", lang))]
    shown = rows[:MAX_LISTED]
    mine = [r for r in rows if r.mine is not None]
    per_meeting = 2 if person.is_team else 1
    room = MAX_BLOCKS - 2 - (1 + len(mine) if mine else 0)
    shown = shown[: max(1, room // per_meeting)]
    blocks: list[Block] = [
        text_section(deps.t("slack_meetings.list_header", lang, count=len(rows)))
    ]
    for row in shown:
        m = row.meeting
        register = None
        if row.is_open:
            register = ButtonElement(
                text=deps.plain("slack_meetings.register_button", lang),
                action_id=REGISTER,
                value=m.code,
                style="primary",
            )
        blocks.append(
            SectionBlock(
                block_id=f"meeting:{m.code}",
                text=MarkdownTextObject(text=_meeting_text(deps, lang, row)[:3000]),
                accessory=register,
            )
        )
        if person.is_team:
            blocks.append(
                ActionsBlock(
                    block_id=f"team:{m.code}",
                    elements=[
                        ButtonElement(
                            text=deps.plain("slack_meetings.edit_button", lang),
                            action_id=EDIT,
                            value=m.code,
                        ),
                        ButtonElement(
                            text=deps.plain("slack_meetings.cancel_button", lang),
                            action_id=CANCEL_MEETING,
                            value=m.code,
                            style="danger",
                            confirm=_confirm(deps, lang, "cancel_confirm", m),
                        ),
                    ],
                )
            )
    if len(shown) < len(rows):
        blocks.append(
            text_section(deps.t("slack_meetings.more", lang, count=len(rows) - len(shown)))
        )
    if mine:
        blocks.append(DividerBlock())
        blocks.append(text_section(deps.t("slack_meetings.mine_header", lang)))
        for row in mine[: MAX_BLOCKS - len(blocks)]:
            m = row.meeting
            line = deps.t(
                "slack_meetings.mine_line",
                lang,
                code=m.code,
                title=m.title,
                status=row.mine,
                place=row.place,
                **_when(deps, m),
            )
            blocks.append(
                SectionBlock(
                    block_id=f"mine:{m.code}",
                    text=MarkdownTextObject(text=line[:3000]),
                    accessory=ButtonElement(
                        text=deps.plain("slack_meetings.unregister_button", lang),
                        action_id=UNREGISTER,
                        value=m.code,
                        style="danger",
                        confirm=_confirm(deps, lang, "unregister_confirm", m),
                    ),
                )
            )
    return blocks


def register_modal(
    deps: SlackDeps,
    lang: str,
    person: Person,
    meeting: ThemeMeeting,
    regions: list[tuple[str, str]],
) -> View:
    """Register myself or a colleague; a contact of several regions chooses the region."""
    me = Option(
        value=SELF,
        label=deps.plain(
            "slack_meetings.register_self", lang, name=person.name, email=person.email
        )[:75],
    )
    colleague = Option(value=COLLEAGUE, label=deps.plain("slack_meetings.register_colleague", lang))
    intro = deps.t(
        "slack_meetings.register_intro",
        lang,
        code=meeting.code,
        title=meeting.title,
        location=meeting.location,
        online_url=meeting.online_url,
        description=meeting.description[:2000],
        **_when(deps, meeting),
    )
    blocks: list[Block] = [
        text_section(intro),
        InputBlock(
            block_id="for",
            label=deps.plain("slack_meetings.register_for", lang),
            element=RadioButtonsElement(
                action_id="value", options=[me, colleague], initial_option=me
            ),
        ),
    ]
    if len(regions) > 1:
        blocks.append(
            InputBlock(
                block_id="region",
                label=deps.plain("slack_meetings.register_region", lang),
                element=StaticSelectElement(
                    action_id="value",
                    options=[
                        Option(value=code, label=f"{name} ({code})"[:75]) for code, name in regions
                    ][:100],
                ),
            )
        )
    hint = deps.plain("slack_meetings.colleague_hint", lang)
    blocks += [
        InputBlock(
            block_id="name",
            label=deps.plain("slack_meetings.colleague_name", lang),
            hint=hint,
            optional=True,
            element=PlainTextInputElement(action_id="value", max_length=200),
        ),
        InputBlock(
            block_id="email",
            label=deps.plain("slack_meetings.colleague_email", lang),
            hint=hint,
            optional=True,
            element=EmailInputElement(action_id="value"),
        ),
    ]
    metadata: dict[str, str] = {"code": meeting.code}
    if len(regions) == 1:
        metadata["region"] = regions[0][0]
    return View(
        type="modal",
        callback_id=REGISTER_MODAL,
        title=PlainTextObject(text=deps.plain("slack_meetings.register_title", lang)[:24]),
        submit=PlainTextObject(text=deps.plain("slack_meetings.register_submit", lang)[:24]),
        close=PlainTextObject(text=deps.plain("slack_meetings.close", lang)[:24]),
        private_metadata=json.dumps(metadata),
        blocks=blocks,
    )


def _local(value: datetime, tz: str) -> datetime:
    return value.astimezone(zoneinfo.ZoneInfo(tz))


def form_modal(deps: SlackDeps, lang: str, meeting: ThemeMeeting | None = None) -> View:
    """The team's form: empty to create, prefilled from `meeting` to edit it."""
    m = meeting
    tz = m.timezone if m else deps.settings.timezone
    start = _local(m.starts_at, tz) if m else None
    end = _local(m.ends_at, tz) if m else None
    deadline = _local(m.registration_deadline, tz) if m else None

    def label(key: str) -> str:
        return deps.plain(f"slack_meetings.form_{key}", lang)

    def theme_option(value: str) -> Option:
        return Option(value=value, label=deps.plain("slack_meetings.theme", lang, value=value)[:75])

    themes = [theme_option(t) for t in sorted(THEMES)]
    if m and m.theme and m.theme not in THEMES:
        themes.insert(0, theme_option(m.theme))  # a theme typed at the command line stays
    zones = list(dict.fromkeys([tz, deps.settings.timezone, *ZONES]))
    zone_options = [Option(value=z, label=z) for z in zones]
    blocks: list[Block] = [
        InputBlock(
            block_id="title",
            label=label("title"),
            element=PlainTextInputElement(
                action_id="value", max_length=300, initial_value=m.title if m else None
            ),
        ),
        InputBlock(
            block_id="theme",
            label=label("theme"),
            optional=True,
            element=StaticSelectElement(
                action_id="value",
                options=themes,
                initial_option=next((o for o in themes if m and o.value == m.theme), None),
            ),
        ),
        InputBlock(
            block_id="description",
            label=label("description"),
            optional=True,
            element=PlainTextInputElement(
                action_id="value",
                multiline=True,
                max_length=3000,
                initial_value=(m.description or None) if m else None,
            ),
        ),
        InputBlock(
            block_id="start_date",
            label=label("start_date"),
            element=DatePickerElement(
                action_id="value", initial_date=start.date().isoformat() if start else None
            ),
        ),
        InputBlock(
            block_id="start_time",
            label=label("start_time"),
            element=TimePickerElement(
                action_id="value", initial_time=start.strftime("%H:%M") if start else None
            ),
        ),
        InputBlock(
            block_id="end_date",
            label=label("end_date"),
            hint=label("end_date_hint"),
            optional=True,
            element=DatePickerElement(
                action_id="value",
                initial_date=end.date().isoformat()
                if end and start and end.date() != start.date()
                else None,
            ),
        ),
        InputBlock(
            block_id="end_time",
            label=label("end_time"),
            element=TimePickerElement(
                action_id="value", initial_time=end.strftime("%H:%M") if end else None
            ),
        ),
        InputBlock(
            block_id="timezone",
            label=label("timezone"),
            hint=label("timezone_hint"),
            element=StaticSelectElement(
                action_id="value", options=zone_options, initial_option=zone_options[0]
            ),
        ),
        InputBlock(
            block_id="location",
            label=label("location"),
            hint=label("place_hint"),
            optional=True,
            element=PlainTextInputElement(
                action_id="value", max_length=500, initial_value=(m.location or None) if m else None
            ),
        ),
        InputBlock(
            block_id="online_url",
            label=label("online_url"),
            optional=True,
            element=UrlInputElement(
                action_id="value", initial_value=(m.online_url or None) if m else None
            ),
        ),
        InputBlock(
            block_id="capacity",
            label=label("capacity"),
            element=NumberInputElement(
                action_id="value",
                is_decimal_allowed=False,
                min_value=1,
                initial_value=m.capacity if m else None,
            ),
        ),
        InputBlock(
            block_id="deadline_date",
            label=label("deadline_date"),
            element=DatePickerElement(
                action_id="value", initial_date=deadline.date().isoformat() if deadline else None
            ),
        ),
        InputBlock(
            block_id="deadline_time",
            label=label("deadline_time"),
            hint=label("deadline_time_hint"),
            optional=True,
            element=TimePickerElement(
                action_id="value", initial_time=deadline.strftime("%H:%M") if deadline else None
            ),
        ),
        InputBlock(
            block_id="max_per_region",
            label=label("max_per_region"),
            hint=label("max_per_region_hint"),
            optional=True,
            element=NumberInputElement(
                action_id="value",
                is_decimal_allowed=False,
                min_value=1,
                initial_value=m.max_per_region if m else None,
            ),
        ),
    ]
    editing = m is not None
    return View(
        type="modal",
        callback_id=FORM_MODAL,
        title=PlainTextObject(text=label("title_edit" if editing else "title_new")[:24]),
        submit=PlainTextObject(text=label("submit_edit" if editing else "submit_new")[:24]),
        close=PlainTextObject(text=deps.plain("slack_meetings.close", lang)[:24]),
        private_metadata=json.dumps({"code": m.code} if m else {}),
        blocks=blocks,
    )


def home_section(deps: SlackDeps, lang: str, rows: list[MeetingRow]) -> str:
    """The team's App Home: upcoming meetings with registered/capacity and the waitlist."""
    lines = [deps.t("slack_meetings.home_header", lang, count=len(rows))]
    for row in rows[:HOME_LINES]:
        m = row.meeting
        lines.append(
            deps.t(
                "slack_meetings.home_line",
                lang,
                code=m.code,
                title=m.title,
                starts_at=m.starts_at,
                tz=m.timezone,
                registered=row.registered,
                capacity=m.capacity,
                waitlisted=row.waitlisted,
            )
        )
    if len(rows) > HOME_LINES:
        lines.append(deps.t("slack_meetings.more", lang, count=len(rows) - HOME_LINES))
    if not rows:
        lines.append(deps.t("slack_meetings.home_none", lang))
    return "\n".join(lines)
