"""Theme meetings in Slack: the list, registering and cancelling, and the team's form.

`/sto bijeenkomsten` (`meetings`) lists what is coming with a Register button;
the modal registers the reader or a colleague. The team creates (`/sto
bijeenkomst nieuw`, `meeting new`), edits and cancels. Every change is one call
of `models.meetings` in one transaction that also claims the Slack delivery,
so a retried button or submission acts once; modal errors show inline.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.slack import meeting_blocks as mb
from bot.slack.deps import SlackDeps
from bot.slack.identity import who
from bot.slack.listeners.common import (
    Inline,
    act_as,
    actor_of,
    domain_message,
    submitted_as,
    tell,
)
from models import meetings as mt
from models.actor import Actor
from models.errors import (
    AlreadyRegistered,
    CapacityBelowRegistered,
    DomainError,
    InvalidMeeting,
    MeetingClosed,
    NotAllowed,
    UnknownRegion,
)
from models.people import Person
from models.regions import get_region
from models.types import Channel, RegistrationStatus

if TYPE_CHECKING:
    from bot.slack.listeners.commands import Invocation

T = TypeVar("T")
NEW_WORDS = ("nieuw", "new")
END_OF_DAY = time(23, 59)
# Which input of the team's form an InvalidMeeting belongs under.
FORM_BLOCKS = {
    "title": "title",
    "theme": "theme",
    "description": "description",
    "starts_at": "start_date",
    "ends_at": "end_time",
    "timezone": "timezone",
    "location": "location",
    "online_url": "online_url",
    "capacity": "capacity",
    "registration_deadline": "deadline_date",
    "max_per_region": "max_per_region",
}
# Text the domain stores in bounded columns; the form's own limits, checked for forged input.
MAX_LENGTH = {"theme": 200, "location": 500, "online_url": 1000}


def value_of(values: dict[str, Any], block: str) -> str | None:
    """What one input of a submitted modal holds (text, select, radio, date or time)."""
    element = (values.get(block) or {}).get("value") or {}
    for key in ("selected_date", "selected_time"):
        if key in element:
            return element[key] or None
    if "selected_option" in element:
        return (element["selected_option"] or {}).get("value")
    found = element.get("value")
    return None if found is None else str(found)


# ---- /sto bijeenkomsten, /sto bijeenkomst nieuw ----------------------------------------


async def list_command(call: Invocation) -> None:
    deps, person = call.deps, call.person
    now = deps.clock.now()

    def read(session: Session) -> tuple[str, list[Any]]:
        rows = mb.upcoming(session, now, person.email)
        header = deps.t("slack_meetings.list_header", person.language, count=len(rows))
        return header, mb.list_blocks(deps, person.language, person, rows)

    text, blocks = await deps.read(read)
    await call.respond(text=text, blocks=blocks)


async def meeting_command(call: Invocation) -> None:
    """`/sto bijeenkomst nieuw` opens the team's form; anything else lists the meetings."""
    if call.rest.strip().lower() not in NEW_WORDS:
        await list_command(call)
        return
    call.person.require_team("meeting_create")
    view = mb.form_modal(call.deps, call.person.language)
    await call.client.views_open(trigger_id=call.command["trigger_id"], view=view)


SUBCOMMANDS = {
    "bijeenkomsten": list_command,
    "meetings": list_command,
    "bijeenkomst": meeting_command,
    "meeting": meeting_command,
}


# ---- reading the team's form ------------------------------------------------------------


def _date(values: dict[str, Any], block: str, field: str) -> date | None:
    raw = value_of(values, block)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Inline(block, InvalidMeeting(field, "invalid", raw)) from None


def _time(values: dict[str, Any], block: str, field: str) -> time | None:
    raw = value_of(values, block)
    if raw is None:
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise Inline(block, InvalidMeeting(field, "invalid", raw)) from None


def _int(values: dict[str, Any], block: str, field: str) -> int | None:
    raw = (value_of(values, block) or "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit():
        raise Inline(block, InvalidMeeting(field, "invalid", raw))
    return int(raw)


def _required(value: T | None, block: str, field: str) -> T:
    if value is None:
        raise Inline(block, InvalidMeeting(field, "empty"))
    return value


def read_form(values: dict[str, Any], default_zone: str) -> dict[str, Any]:
    """The form's inputs as the fields of `create_meeting` / `edit_meeting`."""
    tz = value_of(values, "timezone") or default_zone
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Inline("timezone", InvalidMeeting("timezone", "unknown", tz)) from None
    text = {k: value_of(values, k) or "" for k in ("title", "theme", "description")}
    text |= {k: value_of(values, k) or "" for k in MAX_LENGTH}
    for name, limit in MAX_LENGTH.items():
        if len(text[name]) > limit:
            raise Inline(name, InvalidMeeting(name, "too_long", str(limit)))
    start_day = _required(_date(values, "start_date", "starts_at"), "start_date", "starts_at")
    start_time = _required(_time(values, "start_time", "starts_at"), "start_time", "starts_at")
    end_day = _date(values, "end_date", "ends_at") or start_day
    end_time = _required(_time(values, "end_time", "ends_at"), "end_time", "ends_at")
    deadline_day = _required(
        _date(values, "deadline_date", "registration_deadline"),
        "deadline_date",
        "registration_deadline",
    )
    deadline_time = _time(values, "deadline_time", "registration_deadline") or END_OF_DAY
    return {
        **text,
        "timezone": tz,
        "starts_at": datetime.combine(start_day, start_time, tzinfo=zone),
        "ends_at": datetime.combine(end_day, end_time, tzinfo=zone),
        "registration_deadline": datetime.combine(deadline_day, deadline_time, tzinfo=zone),
        "capacity": _required(_int(values, "capacity", "capacity"), "capacity", "capacity"),
        "max_per_region": _int(values, "max_per_region", "max_per_region"),
    }


def _form_block(error: DomainError) -> str:
    if isinstance(error, InvalidMeeting):
        return FORM_BLOCKS.get(str(error.params["field"]), "title")
    if isinstance(error, CapacityBelowRegistered):
        return "capacity"
    return "title"


def _register_block(error: DomainError, colleague: bool, has_region: bool) -> str:
    if isinstance(error, InvalidMeeting) and colleague:
        return "email" if error.params["field"] == "email" else "name"
    if isinstance(error, AlreadyRegistered) and colleague:
        return "email"
    if isinstance(error, NotAllowed | UnknownRegion) and has_region:
        return "region"
    return "for"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def open_modal(
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        build: Callable[[Session, Person], View],
    ) -> None:
        """A button that opens a modal: nothing changes yet, so nothing to claim."""
        person = await who(deps, client, body["user"]["id"])
        if person is None:
            lang = deps.settings.language.value
            await tell(body, client, respond, deps.t("slack.unknown_user", lang))
            return
        try:
            view = await deps.read(lambda session: build(session, person))
        except DomainError as error:
            await tell(body, client, respond, domain_message(deps, person.language, error))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    # ---- registering --------------------------------------------------------------------

    @app.action(mb.REGISTER)
    async def register_clicked(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        code = str(body["actions"][0]["value"])
        now = deps.clock.now()

        def build(session: Session, person: Person) -> View:
            meeting = mt.get_meeting(session, code)
            reason = mb.closed_reason(meeting, now)
            if reason is not None:
                raise MeetingClosed(meeting.code, reason)
            regions: list[tuple[str, str]] = []
            if person.kind == "contact":
                regions = [(c, get_region(session, c).name) for c in person.region_codes]
            return mb.register_modal(deps, person.language, person, meeting, regions)

        await open_modal(body, client, respond, build)

    @app.view(mb.REGISTER_MODAL)
    async def register_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        values = view["state"]["values"]
        has_region = "region" in values
        meta = json.loads(view.get("private_metadata") or "{}")
        code = str(meta.get("code", ""))
        colleague = value_of(values, "for") == mb.COLLEAGUE
        chosen = value_of(values, "region") or meta.get("region")
        now = deps.clock.now()

        def run(session: Session, person: Person) -> str:
            region: str | None = None
            if person.kind == "contact" and person.region_codes:
                if not chosen:
                    raise Inline(
                        "region" if has_region else "for", key="slack_meetings.choose_region"
                    )
                person.require_region("meeting_register", str(chosen))
                region = str(chosen).upper()
            if colleague:
                name = value_of(values, "name") or ""
                email = value_of(values, "email") or ""
            else:
                name, email = person.name, person.email
            mine = not colleague and person.kind == "contact"
            reg = mt.register(
                session,
                code,
                name=name,
                email=email,
                region_code=region,
                contact_id=person.id if mine else None,
                channel=Channel.slack.value,
                by=actor_of(person, user_id),
                now=now,
            )
            meeting = mt.get_meeting(session, code)
            said = {
                "code": meeting.code,
                "title": meeting.title,
                "name": reg.name,
                "email": reg.email,
                "myself": not colleague,
            }
            if reg.status == RegistrationStatus.waitlisted.value:
                place = mt.waitlist_position(session, meeting.code, reg.email)
                return deps.t("slack_meetings.waitlisted", person.language, place=place, **said)
            return deps.t("slack_meetings.registered", person.language, **said)

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=lambda error: _register_block(error, colleague, has_region),
            unknown_block="for",
        )
        if done is None:
            return
        _, answer = done
        await ack()
        deps.wake()
        await client.chat_postMessage(channel=user_id, text=answer)

    @app.action(mb.UNREGISTER)
    async def unregister(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        code = str(body["actions"][0]["value"])

        def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
            # By the reader's own address: nobody cancels somebody else's seat from here.
            mt.cancel_registration(session, (code, person.email), by=by, now=now)
            meeting = mt.get_meeting(session, code)
            return deps.t(
                "slack_meetings.unregistered",
                person.language,
                code=meeting.code,
                title=meeting.title,
            )

        done = await act_as(deps, body, client, respond, work)
        if done is not None:
            await tell(body, client, respond, done[1])

    # ---- the team: create, edit, cancel -------------------------------------------------

    @app.action(mb.EDIT)
    async def edit_clicked(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        code = str(body["actions"][0]["value"])

        def build(session: Session, person: Person) -> View:
            person.require_team("meeting_edit")
            return mb.form_modal(deps, person.language, mt.get_meeting(session, code))

        await open_modal(body, client, respond, build)

    @app.action(mb.CANCEL_MEETING)
    async def cancel_meeting(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        code = str(body["actions"][0]["value"])

        def work(session: Session, person: Person, by: Actor, now: datetime) -> str:
            person.require_team("meeting_cancel")
            meeting = mt.cancel_meeting(session, code, by=by, now=now)
            return deps.t("slack_meetings.cancelled", person.language, code=meeting.code)

        done = await act_as(deps, body, client, respond, work)
        if done is not None:
            await tell(body, client, respond, done[1])

    @app.view(mb.FORM_MODAL)
    async def form_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        code = str(json.loads(view.get("private_metadata") or "{}").get("code") or "")
        values = view["state"]["values"]
        now = deps.clock.now()

        def run(session: Session, person: Person) -> str:
            lang = person.language
            person.require_team("meeting_edit" if code else "meeting_create")
            fields = read_form(values, deps.settings.timezone)
            by = actor_of(person, user_id)
            if code:
                before = mt.get_meeting(session, code).sequence
                meeting = mt.edit_meeting(session, code, by=by, now=now, **fields)
                if meeting.sequence == before:
                    return deps.t("slack_meetings.unchanged", lang, code=meeting.code)
                return deps.t(
                    "slack_meetings.changed", lang, code=meeting.code, sequence=meeting.sequence
                )
            meeting = mt.create_meeting(session, **fields, by=by, now=now)
            return deps.t(
                "slack_meetings.created",
                lang,
                code=meeting.code,
                title=meeting.title,
                starts_at=meeting.starts_at,
                ends_at=meeting.ends_at,
                tz=meeting.timezone,
                show_zone=meeting.timezone != deps.settings.timezone,
            )

        done = await submitted_as(
            deps,
            client,
            ack,
            body,
            view,
            run,
            where=_form_block,
            unknown_block="title",
        )
        if done is None:
            return
        _, answer = done
        await ack()
        deps.wake()
        await client.chat_postMessage(channel=user_id, text=answer)
