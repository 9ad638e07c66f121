"""Theme meetings: capacity, waitlist, promotion, deadlines (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.render import Renderer
from models import meetings as mt
from models.db import transaction
from models.errors import (
    AlreadyRegistered,
    CapacityBelowRegistered,
    DomainError,
    InvalidMeeting,
    MeetingClosed,
    UnknownMeeting,
    UnknownRegion,
    UnknownRegistration,
)
from models.tables import Notification, Registration, ThemeMeeting
from models.types import Channel, RegistrationStatus
from tests.conftest import NOW, TEAM, RegionFactory
from tests.test_concurrency import run_together

R = RegistrationStatus
START = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam
DEADLINE = START - timedelta(days=7)


def new_meeting(engine: Engine, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "title": "Techniek in de regio",
        "theme": "samenwerking",
        "description": "Kennisdeling",
        "starts_at": START,
        "ends_at": START + timedelta(hours=3),
        "timezone": "Europe/Amsterdam",
        "location": "Utrecht",
        "online_url": "",
        "capacity": 3,
        "registration_deadline": DEADLINE,
        "max_per_region": None,
    }
    fields.update(overrides)
    with transaction(engine) as session:
        return mt.create_meeting(session, **fields, by=TEAM, now=NOW).code


def reg(
    engine: Engine,
    code: str,
    n: int | str,
    *,
    region: str | None = None,
    now: datetime = NOW,
) -> Registration:
    with transaction(engine) as session:
        return mt.register(
            session,
            code,
            name=f"Persoon {n}",
            email=f"p{n}@school.example",
            region_code=region,
            contact_id=None,
            channel=Channel.cli.value,
            by=TEAM,
            now=now,
        )


def statuses(engine: Engine, code: str) -> dict[str, str]:
    with Session(engine) as session:
        meeting = mt.get_meeting(session, code)
        rows = session.exec(
            select(Registration)
            .where(Registration.meeting_id == meeting.id)
            .order_by(col(Registration.id))
        ).all()
        return {r.email.split("@")[0]: r.status for r in rows}


def mails(engine: Engine, template: str) -> list[Notification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.template == template, Notification.status == "pending")
                .order_by(col(Notification.id))
            ).all()
        )


def cancel(engine: Engine, code: str, n: int, now: datetime = NOW) -> None:
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, f"p{n}@school.example"), by=TEAM, now=now)


# --- creating ---


def test_codes_are_short_and_count_per_year(engine: Engine) -> None:
    assert new_meeting(engine) == "TB-2027-01"
    assert new_meeting(engine) == "TB-2027-02"
    with Session(engine) as session:
        assert mt.get_meeting(session, "tb-2027-02").title == "Techniek in de regio"


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"ends_at": START}, "ends_at", "not_after_start"),
        ({"registration_deadline": START + timedelta(hours=1)}, "registration_deadline", ""),
        ({"capacity": 0}, "capacity", "not_positive"),
        ({"starts_at": datetime(2027, 3, 2, 9, 0)}, "starts_at", "naive"),  # noqa: DTZ001
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown"),
        ({"location": "", "online_url": ""}, "location", "missing"),
        ({"max_per_region": 0}, "max_per_region", "not_positive"),
    ],
)
def test_create_validates(
    engine: Engine, overrides: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidMeeting) as caught:
        new_meeting(engine, **overrides)
    assert caught.value.params["field"] == field
    if problem:
        assert caught.value.params["problem"] == problem


# --- registering, waitlist, promotion ---


def test_capacity_then_waitlist_with_place(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2)
    assert reg(engine, code, 1).status == R.registered
    assert reg(engine, code, 2).status == R.registered
    assert reg(engine, code, 3).status == R.waitlisted
    assert reg(engine, code, 4).status == R.waitlisted
    with Session(engine) as session:
        assert mt.waitlist_position(session, code, "P4@school.example") == 2
        assert mt.waitlist_position(session, code, "p1@school.example") is None
        assert [r.email for r in mt.attendees(session, code)] == [
            "p1@school.example",
            "p2@school.example",
        ]
    assert [n.recipient for n in mails(engine, "meeting_registered")] == [
        "p1@school.example",
        "p2@school.example",
    ]
    waitlisted = mails(engine, "meeting_waitlisted")
    assert [(n.recipient, n.context["place"]) for n in waitlisted] == [
        ("p3@school.example", 1),
        ("p4@school.example", 2),
    ]
    context = waitlisted[0].context
    assert context["code"] == code and context["starts_at"] == START.isoformat()
    assert waitlisted[0].channel == "email"


def test_same_address_twice_is_refused_with_its_status(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    reg(engine, code, 1)
    reg(engine, code, 2)
    with pytest.raises(AlreadyRegistered) as caught:
        reg(engine, code, 2)
    assert caught.value.params["status"] == "waitlisted"
    assert caught.value.params["place"] == 1
    cancel(engine, code, 2)
    assert reg(engine, code, 2).status == R.waitlisted  # after cancelling, again welcome


def test_cancellation_promotes_first_in_line_and_tells_them(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    for n in (1, 2, 3):
        reg(engine, code, n)
    cancel(engine, code, 1)
    assert statuses(engine, code) == {"p1": "cancelled", "p2": "registered", "p3": "waitlisted"}
    promoted = mails(engine, "meeting_promoted")
    assert [n.recipient for n in promoted] == ["p2@school.example"]
    assert promoted[0].due_at == NOW
    # p1's confirmation, not sent yet, is now moot
    assert [n.recipient for n in mails(engine, "meeting_registered")] == []
    with Session(engine) as session:
        assert mt.waitlist_position(session, code, "p3@school.example") == 1


def test_cancelling_a_waitlisted_person_promotes_nobody(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    for n in (1, 2, 3):
        reg(engine, code, n)
    cancel(engine, code, 2)
    assert statuses(engine, code) == {"p1": "registered", "p2": "cancelled", "p3": "waitlisted"}
    with Session(engine) as session:
        assert mt.waitlist_position(session, code, "p3@school.example") == 1


def test_per_region_maximum(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    make_region("TWENTE")
    code = new_meeting(engine, capacity=3, max_per_region=1)
    assert reg(engine, code, 1, region="ZEELAND").status == R.registered
    assert reg(engine, code, 2, region="ZEELAND").status == R.waitlisted  # region full
    assert reg(engine, code, 3, region="TWENTE").status == R.registered
    assert reg(engine, code, 4).status == R.registered  # no region: only capacity
    assert reg(engine, code, 5, region="TWENTE").status == R.waitlisted  # meeting full
    # TWENTE frees a seat: p2 (ZEELAND, still full) is skipped, p5 (TWENTE) fits
    cancel(engine, code, 3)
    assert statuses(engine, code)["p5"] == "registered"
    assert statuses(engine, code)["p2"] == "waitlisted"
    # ZEELAND frees its seat: p2 is next
    cancel(engine, code, 1)
    assert statuses(engine, code)["p2"] == "registered"


def test_unknown_region_and_meeting(engine: Engine) -> None:
    code = new_meeting(engine)
    with pytest.raises(UnknownMeeting):
        reg(engine, "TB-1999-01", 1)
    with pytest.raises(UnknownRegion):
        reg(engine, code, 1, region="ATLANTIS")


def test_deadline_and_start(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    reg(engine, code, 1)
    reg(engine, code, 2)
    after_deadline = DEADLINE + timedelta(minutes=1)
    with pytest.raises(MeetingClosed) as caught:
        reg(engine, code, 3, now=after_deadline)
    assert caught.value.params["reason"] == "deadline_passed"
    with pytest.raises(MeetingClosed) as caught:
        reg(engine, code, 3, now=START)
    assert caught.value.params["reason"] == "started"
    # A cancellation after the deadline frees the seat but promotes nobody ...
    cancel(engine, code, 1, now=after_deadline)
    assert statuses(engine, code)["p2"] == "waitlisted"
    # ... until the team does; and never after the start.
    with transaction(engine) as session, pytest.raises(MeetingClosed):
        mt.promote_next(session, code, by=TEAM, now=START)
    with transaction(engine) as session:
        assert len(mt.promote_next(session, code, by=TEAM, now=after_deadline)) == 1
    assert statuses(engine, code)["p2"] == "registered"


def test_no_promotion_after_start(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1, registration_deadline=START)
    reg(engine, code, 1)
    reg(engine, code, 2)
    cancel(engine, code, 1, now=START + timedelta(minutes=5))
    assert statuses(engine, code)["p2"] == "waitlisted"


# --- editing and cancelling meetings ---


def test_edit_raises_sequence_and_tells_the_registered(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2)
    for n in (1, 2, 3):
        reg(engine, code, n)
    with transaction(engine) as session:
        meeting = mt.edit_meeting(session, code, location="Zwolle", by=TEAM, now=NOW)
        assert meeting.sequence == 1
        # nothing changed: no new sequence, nobody told twice
        assert mt.edit_meeting(session, code, location="Zwolle", by=TEAM, now=NOW).sequence == 1
    changed = mails(engine, "meeting_changed")
    assert [n.recipient for n in changed] == ["p1@school.example", "p2@school.example"]
    assert changed[0].context["location"] == "Zwolle" and changed[0].context["sequence"] == 1


def test_capacity_never_below_registered_and_growth_promotes(engine: Engine) -> None:
    code = new_meeting(engine, capacity=2)
    for n in (1, 2, 3, 4):
        reg(engine, code, n)
    with transaction(engine) as session, pytest.raises(CapacityBelowRegistered):
        mt.edit_meeting(session, code, capacity=1, by=TEAM, now=NOW)
    with transaction(engine) as session:
        mt.edit_meeting(session, code, capacity=3, by=TEAM, now=NOW)
    assert statuses(engine, code) == {
        "p1": "registered",
        "p2": "registered",
        "p3": "registered",
        "p4": "waitlisted",
    }
    assert [n.recipient for n in mails(engine, "meeting_promoted")] == ["p3@school.example"]


def test_edit_validates(engine: Engine) -> None:
    code = new_meeting(engine)
    with transaction(engine) as session, pytest.raises(InvalidMeeting):
        mt.edit_meeting(session, code, ends_at=START - timedelta(hours=1), by=TEAM, now=NOW)
    with transaction(engine) as session, pytest.raises(InvalidMeeting):
        mt.edit_meeting(session, code, colour="red", by=TEAM, now=NOW)


def test_cancel_meeting_tells_everyone(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    for n in (1, 2):
        reg(engine, code, n)
    with transaction(engine) as session:
        meeting = mt.cancel_meeting(session, code, by=TEAM, now=NOW)
        assert meeting.sequence == 1
    cancelled = mails(engine, "meeting_cancelled")
    assert [n.recipient for n in cancelled] == ["p1@school.example", "p2@school.example"]
    assert mails(engine, "meeting_registered") == []  # moot now
    with pytest.raises(MeetingClosed):
        reg(engine, code, 3)
    with transaction(engine) as session, pytest.raises(MeetingClosed):
        mt.edit_meeting(session, code, location="Zwolle", by=TEAM, now=NOW)
    with Session(engine) as session:
        assert mt.list_meetings(session, now=NOW) == []
        assert len(mt.list_meetings(session, include_cancelled=True)) == 1


def test_mark_attended(engine: Engine) -> None:
    code = new_meeting(engine, capacity=1)
    reg(engine, code, 1)
    reg(engine, code, 2)
    with transaction(engine) as session:
        assert mt.mark_attended(session, code, "p1@school.example", by=TEAM, now=START).attended
        with pytest.raises(UnknownRegistration):
            mt.mark_attended(session, code, "p2@school.example", by=TEAM, now=START)


# --- concurrency ---


def test_many_register_for_the_last_seats_at_once(engine: Engine) -> None:
    code = new_meeting(engine, capacity=5)
    reg(engine, code, "early")
    workers = 30

    def work(i: int) -> tuple[int, str]:
        r = reg(engine, code, i)
        assert r.id is not None
        return r.id, r.status

    outcomes = run_together(workers, work)
    results = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(results) == workers, [o for o in outcomes if isinstance(o, Exception)]
    registered = sorted(i for i, s in results if s == R.registered)
    waitlisted = sorted(i for i, s in results if s == R.waitlisted)
    assert len(registered) == 4 and len(waitlisted) == workers - 4
    # first come, first served: every seat went to someone earlier than anyone waiting
    assert max(registered) < min(waitlisted)
    with Session(engine) as session:
        places = {
            r.id: mt.waitlist_position(session, code, r.email) for r in mt.waitlist(session, code)
        }
        assert [places[i] for i in waitlisted] == list(range(1, len(waitlisted) + 1))
        assert len(mt.attendees(session, code)) == 5


def test_cancellation_racing_registrations(engine: Engine) -> None:
    code = new_meeting(engine, capacity=3)
    for n in (1, 2, 3):
        reg(engine, code, n)

    def work(i: int) -> str:
        if i == 0:
            cancel(engine, code, 1)
            return "cancelled"
        return reg(engine, code, 100 + i).status

    outcomes = run_together(12, work)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with Session(engine) as session:
        attending = mt.attendees(session, code)
        line = mt.waitlist(session, code)
    assert len(attending) == 3
    # whoever got the freed seat, by registering after the cancellation or by
    # promotion, was the earliest of those who came after p1's seat was taken
    newcomers = [
        r.id
        for r in attending
        if r.id is not None and r.email not in ("p2@school.example", "p3@school.example")
    ]
    assert len(newcomers) == 1
    assert all(r.id is not None and newcomers[0] < r.id for r in line)
    assert len(line) == 10


def test_meeting_code_race(engine: Engine) -> None:
    outcomes = run_together(8, lambda _i: new_meeting(engine))
    assert sorted(str(o) for o in outcomes) == [f"TB-2027-{n:02d}" for n in range(1, 9)]
    with Session(engine) as session:
        assert len(session.exec(select(ThemeMeeting)).all()) == 8


def test_a_meeting_in_the_past_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidMeeting) as caught:
        new_meeting(
            engine,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW,
            registration_deadline=NOW - timedelta(days=1),
        )
    assert caught.value.params["problem"] == "in_past"


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize(
    "error",
    [
        UnknownMeeting("TB-2027-09"),
        InvalidMeeting("capacity", "not_positive", "0"),
        MeetingClosed("TB-2027-01", "deadline_passed"),
        AlreadyRegistered("TB-2027-01", "a@b.example", "waitlisted", 2),
        UnknownRegistration("TB-2027-01", "a@b.example"),
        CapacityBelowRegistered("TB-2027-01", 1, 2),
    ],
)
def test_every_meeting_error_has_a_sentence(lang: str, error: DomainError) -> None:
    text = Renderer().render(f"errors.{error.code}", lang, **error.params)
    assert text.endswith(".") and "{" not in text
