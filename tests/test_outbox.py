"""The notifications outbox on SQLite and PostgreSQL: enqueue, cancel, claim, settle.

Rows are written in the transaction of the change that needs them (so a
rolled-back change says nothing) and claimed later by the dispatcher, which
leases them; a lease that ran out makes a row due again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from models import outbox
from models import requests as rq
from models.actor import Actor
from models.db import transaction
from models.errors import IllegalTransition, InsufficientBalance, InvalidRequest
from models.outbox import OutboxChannel
from models.tables import Contact, Notification
from models.types import Channel, NotificationStatus
from tests.conftest import NOW, TEAM, RegionFactory

N = NotificationStatus
LEASE = timedelta(minutes=5)
ALL_CHANNELS = {"slack", "email", "team"}
REQUESTER = Actor("slack:U0REQ", Channel.slack)
DEC1 = date(2026, 12, 1)
DEC2 = date(2026, 12, 2)


# --- helpers -------------------------------------------------------------------------------


def add(
    engine: Engine,
    key: str,
    *,
    channel: OutboxChannel = OutboxChannel.slack,
    template: str = "reminder",
    recipient: str = "U01",
    due_at: datetime | None = None,
    subject: tuple[str, int] | None = None,
    context: dict[str, Any] | None = None,
) -> int:
    with transaction(engine) as session:
        row = outbox.enqueue(
            session,
            key=key,
            template=template,
            channel=channel,
            recipient=recipient,
            now=NOW,
            due_at=due_at,
            context=context,
            subject=subject,
        )
        assert row.id is not None
        return row.id


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def row(engine: Engine, notification_id: int) -> Notification:
    with Session(engine) as session:
        found = session.get(Notification, notification_id)
        assert found is not None
        return found


def statuses(engine: Engine) -> dict[str, str]:
    return {r.dedupe_key: r.status for r in rows(engine)}


def claim(
    engine: Engine,
    now: datetime = NOW,
    channels: set[str] | None = None,
    *,
    limit: int = 50,
    lease: timedelta = LEASE,
) -> list[str]:
    """Claim in a transaction of its own and return the claimed rows' keys, in claim order."""
    with transaction(engine) as session:
        claimed = outbox.claim_due(
            session, now, ALL_CHANNELS if channels is None else channels, limit=limit, lease=lease
        )
        return [r.dedupe_key for r in claimed]


def set_status(engine: Engine, notification_id: int, status: NotificationStatus) -> None:
    with transaction(engine) as session:
        session.execute(
            update(Notification)
            .where(col(Notification.id) == notification_id)
            .values(status=status.value)
        )


def make_contact(engine: Engine, email: str, slack_user_id: str | None = None) -> Contact:
    with transaction(engine) as session:
        contact = Contact(email=email, name="Jan", slack_user_id=slack_user_id, language="en")
        session.add(contact)
        session.flush()
        return contact


# --- enqueue -------------------------------------------------------------------------------


def test_enqueue_fills_in_the_defaults(engine: Engine) -> None:
    notification_id = add(engine, "k1", subject=("visit", 7), context={"a": 1})
    r = row(engine, notification_id)
    assert (r.dedupe_key, r.template, r.channel, r.recipient) == ("k1", "reminder", "slack", "U01")
    assert (r.status, r.attempts, r.lease_until, r.sent_at, r.last_error) == (
        "pending",
        0,
        None,
        None,
        "",
    )
    assert (r.due_at, r.created_at) == (NOW, NOW)
    assert (r.subject_type, r.subject_id, r.language, r.context) == ("visit", 7, "nl", {"a": 1})


def test_enqueue_without_subject_or_context(engine: Engine) -> None:
    later = NOW + timedelta(days=1)
    r = row(engine, add(engine, "k1", due_at=later))
    assert (r.subject_type, r.subject_id, r.context, r.due_at) == ("", None, {}, later)


def test_enqueue_is_idempotent_per_dedupe_key(engine: Engine) -> None:
    first = add(engine, "same", template="first", recipient="U01")
    again = add(engine, "same", template="second", recipient="U02", channel=OutboxChannel.email)
    assert again == first
    with transaction(engine) as session:  # twice in one transaction too
        a = outbox.enqueue(
            session,
            key="other",
            template="t",
            channel=OutboxChannel.team,
            recipient="",
            now=NOW,
        )
        b = outbox.enqueue(
            session,
            key="other",
            template="u",
            channel=OutboxChannel.team,
            recipient="",
            now=NOW,
        )
        assert a.id == b.id
    assert [(r.dedupe_key, r.template, r.recipient) for r in rows(engine)] == [
        ("same", "first", "U01"),
        ("other", "t", ""),
    ]


def test_enqueue_again_after_sending_does_not_send_again(engine: Engine) -> None:
    notification_id = add(engine, "once")
    assert claim(engine) == ["once"]
    with transaction(engine) as session:
        outbox.mark_sent(session, notification_id, 1, NOW)
    assert add(engine, "once") == notification_id
    assert statuses(engine) == {"once": "sent"}
    assert claim(engine, NOW + timedelta(days=1)) == []


def test_a_rolled_back_transaction_leaves_no_row(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"), transaction(engine) as session:
        outbox.enqueue(
            session,
            key="gone",
            template="t",
            channel=OutboxChannel.slack,
            recipient="U01",
            now=NOW,
        )
        raise RuntimeError("changed my mind")
    assert rows(engine) == []
    add(engine, "gone")  # the key is free again
    assert list(statuses(engine)) == ["gone"]


# --- to_contact ----------------------------------------------------------------------------


def test_to_contact_prefers_slack(engine: Engine) -> None:
    contact = make_contact(engine, "jan@school.example", "U0JAN")
    with transaction(engine) as session:
        outbox.to_contact(
            session,
            contact,
            key="k",
            template="hello",
            now=NOW,
            context={"ref": "STO-2026-0001"},
            subject=("request", 3),
        )
    [r] = rows(engine)
    assert (r.channel, r.recipient, r.language) == ("slack", "U0JAN", "en")
    assert r.context == {
        "name": "Jan",  # the mail version greets by name
        "ref": "STO-2026-0001",
        "fallback_email": "jan@school.example",
    }
    assert (r.subject_type, r.subject_id, r.due_at, r.template) == ("request", 3, NOW, "hello")


@pytest.mark.parametrize("slack_user_id", [None, ""])
def test_to_contact_falls_back_to_email(engine: Engine, slack_user_id: str | None) -> None:
    contact = make_contact(engine, "piet@school.example", slack_user_id)
    later = NOW + timedelta(hours=2)
    context = {"ref": "STO-2026-0001"}
    with transaction(engine) as session:
        outbox.to_contact(
            session, contact, key="k", template="hello", now=NOW, context=context, due_at=later
        )
    [r] = rows(engine)
    assert (r.channel, r.recipient, r.language, r.due_at) == (
        "email",
        "piet@school.example",
        "en",
        later,
    )
    assert r.context == {
        "name": "Jan",
        "ref": "STO-2026-0001",
        "fallback_email": "piet@school.example",
    }
    assert context == {"ref": "STO-2026-0001"}  # the caller's dict is left alone


# --- cancel_pending ------------------------------------------------------------------------


def _cancel_fixture(engine: Engine) -> dict[str, int]:
    visit = ("visit", 1)
    ids = {
        "a": add(engine, "a", template="reminder_1", subject=visit),
        "b": add(engine, "b", template="reminder_2", subject=visit, due_at=NOW + timedelta(days=1)),
        "sent": add(engine, "sent", template="reminder_1", subject=visit),
        "failed": add(engine, "failed", template="reminder_1", subject=visit),
        "other_id": add(engine, "other_id", template="reminder_1", subject=("visit", 2)),
        "other_type": add(engine, "other_type", template="reminder_1", subject=("request", 1)),
        "none": add(engine, "none", template="reminder_1"),
    }
    set_status(engine, ids["sent"], N.sent)
    set_status(engine, ids["failed"], N.failed)
    return ids


def test_cancel_pending_cancels_only_pending_rows_of_the_subject(engine: Engine) -> None:
    _cancel_fixture(engine)
    with transaction(engine) as session:
        assert outbox.cancel_pending(session, ("visit", 1), NOW) == 2
    assert statuses(engine) == {
        "a": "cancelled",
        "b": "cancelled",
        "sent": "sent",
        "failed": "failed",
        "other_id": "pending",
        "other_type": "pending",
        "none": "pending",
    }
    cancelled = [r for r in rows(engine) if r.status == "cancelled"]
    assert all(r.last_error == f"cancelled {NOW.isoformat()}" for r in cancelled)
    assert all(r.sent_at is None for r in rows(engine) if r.dedupe_key != "sent")
    with transaction(engine) as session:  # twice is harmless
        assert outbox.cancel_pending(session, ("visit", 1), NOW) == 0
    assert claim(engine, NOW + timedelta(days=2)) == ["other_id", "other_type", "none"]


def test_cancel_pending_only_the_given_templates(engine: Engine) -> None:
    _cancel_fixture(engine)
    with transaction(engine) as session:
        assert outbox.cancel_pending(session, ("visit", 1), NOW, {"reminder_2", "nope"}) == 1
    assert statuses(engine)["a"] == "pending"
    assert statuses(engine)["b"] == "cancelled"
    with transaction(engine) as session:
        assert outbox.cancel_pending(session, ("visit", 1), NOW, {"reminder_1"}) == 1
    assert statuses(engine)["a"] == "cancelled"
    assert statuses(engine)["sent"] == "sent"


def test_cancel_pending_rolled_back_cancels_nothing(engine: Engine) -> None:
    _cancel_fixture(engine)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        outbox.cancel_pending(session, ("visit", 1), NOW)
        raise RuntimeError("rollback")
    assert statuses(engine)["a"] == "pending"


def test_cancel_pending_with_no_templates_cancels_nothing(engine: Engine) -> None:
    _cancel_fixture(engine)
    with transaction(engine) as session:
        assert outbox.cancel_pending(session, ("visit", 1), NOW, set()) == 0
    assert statuses(engine)["a"] == "pending"


def test_cancel_pending_cancels_a_claimed_row(engine: Engine) -> None:
    notification_id = add(engine, "a", subject=("visit", 1))
    assert claim(engine) == ["a"]
    with transaction(engine) as session:
        assert outbox.cancel_pending(session, ("visit", 1), NOW) == 1
    with transaction(engine) as session:
        outbox.mark_sent(session, notification_id, 1, NOW)
    assert statuses(engine) == {"a": "cancelled"}


# --- request transitions write outbox rows -------------------------------------------------


def submit(engine: Engine, contact: Contact | None = None, half_days: int = 2) -> str:
    new = rq.NewRequest(
        region="ZEELAND",
        kind="process",
        half_days=half_days,
        requester_contact_id=contact.id if contact else None,
    )
    with transaction(engine) as session:
        return rq.submit(session, new, REQUESTER, NOW).ref


def request_id(engine: Engine, ref: str) -> int:
    with Session(engine) as session:
        found = rq.get_request(session, ref).id
        assert found is not None
        return found


def summary(engine: Engine) -> list[tuple[str, str, str, str]]:
    return [(r.template, r.channel, r.recipient, r.context["status"]) for r in rows(engine)]


def test_submit_tells_the_requester_in_slack_and_the_team(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region()
    contact = make_contact(engine, "jan@school.example", "U0JAN")
    ref = submit(engine, contact)
    requester, team = rows(engine)
    subject = ("request", request_id(engine, ref))
    assert (requester.template, requester.channel, requester.recipient) == (
        "request_submitted",
        "slack",
        "U0JAN",
    )
    assert requester.dedupe_key.startswith(f"request:{ref}:")
    assert requester.dedupe_key.endswith(":requester")
    assert requester.language == "en"
    assert requester.context["fallback_email"] == "jan@school.example"
    assert (team.template, team.channel, team.recipient) == ("team_request", "team", "")
    assert team.dedupe_key.endswith(":team")
    assert "fallback_email" not in team.context
    for r in (requester, team):
        assert (r.subject_type, r.subject_id) == subject
        assert (r.status, r.due_at, r.created_at) == ("pending", NOW, NOW)
        assert r.context["ref"] == ref
        assert r.context["region"] == "ZEELAND"
        assert r.context["status"] == "submitted"
        assert r.context["days"] == "1"


def test_submit_by_mail_contact_uses_email(engine: Engine, make_region: RegionFactory) -> None:
    make_region()
    submit(engine, make_contact(engine, "piet@school.example"))
    assert summary(engine) == [
        ("request_submitted", "email", "piet@school.example", "submitted"),
        ("team_request", "team", "", "submitted"),
    ]


def test_submit_without_requester_contact_only_tells_the_team(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region()
    submit(engine)
    assert summary(engine) == [("team_request", "team", "", "submitted")]


def test_every_transition_adds_rows(engine: Engine, make_region: RegionFactory) -> None:
    make_region()
    ref = submit(engine, make_contact(engine, "jan@school.example", "U0JAN"))
    with transaction(engine) as session:
        rq.approve(session, ref, TEAM, NOW)
    with transaction(engine) as session:
        rq.schedule(session, ref, TEAM, NOW, days=[DEC1])
    with transaction(engine) as session:
        rq.schedule(session, ref, TEAM, NOW, days=[DEC2])  # moved: said again
    with transaction(engine) as session:
        rq.complete(session, ref, TEAM, NOW + timedelta(days=3))
    expected: list[tuple[str, str, str, str]] = []
    for status in ("submitted", "approved", "scheduled", "scheduled", "completed"):
        expected += [
            (f"request_{status}", "slack", "U0JAN", status),
            ("team_request", "team", "", status),
        ]
    assert summary(engine) == expected
    assert len({r.dedupe_key for r in rows(engine)}) == len(expected)
    assert rows(engine)[2].context["reason"] == ""
    assert rows(engine)[-1].created_at == NOW + timedelta(days=3)


@pytest.mark.parametrize("how", ["reject", "cancel"])
def test_reject_and_cancel_add_rows_with_the_reason(
    engine: Engine, make_region: RegionFactory, how: str
) -> None:
    make_region()
    ref = submit(engine, make_contact(engine, "piet@school.example"))
    with transaction(engine) as session:
        if how == "reject":
            rq.reject(session, ref, TEAM, NOW, reason="geen budget")
        else:
            rq.cancel(session, ref, TEAM, NOW, reason="geen budget")
    status = "rejected" if how == "reject" else "cancelled"
    assert summary(engine)[2:] == [
        (f"request_{status}", "email", "piet@school.example", status),
        ("team_request", "team", "", status),
    ]
    assert [r.context["reason"] for r in rows(engine)[2:]] == ["geen budget"] * 2


def test_a_failed_transition_writes_no_rows(engine: Engine, make_region: RegionFactory) -> None:
    make_region()  # 5 days: 10 half days
    ref = submit(engine, make_contact(engine, "jan@school.example", "U0JAN"))
    before = summary(engine)
    assert len(before) == 2
    with pytest.raises(IllegalTransition), transaction(engine) as session:
        rq.complete(session, ref, TEAM, NOW)  # submitted -> completed is not allowed
    with pytest.raises(InvalidRequest), transaction(engine) as session:
        rq.reject(session, ref, TEAM, NOW, reason="  ")
    with pytest.raises(InsufficientBalance):
        submit(engine, half_days=100)
    with transaction(engine) as session:
        rq.approve(session, ref, TEAM, NOW)
    with pytest.raises(IllegalTransition), transaction(engine) as session:
        rq.approve(session, ref, TEAM, NOW)  # twice
    with pytest.raises(InvalidRequest), transaction(engine) as session:
        rq.schedule(session, ref, TEAM, NOW, days=[DEC1, DEC2])  # one day needed
    assert summary(engine) == [
        *before,
        ("request_approved", "slack", "U0JAN", "approved"),
        ("team_request", "team", "", "approved"),
    ]


def test_a_transition_rolled_back_afterwards_writes_no_rows(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region()
    ref = submit(engine)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        rq.approve(session, ref, TEAM, NOW)
        raise RuntimeError("the caller failed after the transition")
    assert summary(engine) == [("team_request", "team", "", "submitted")]


# --- claim_due -----------------------------------------------------------------------------


def test_claim_takes_due_rows_of_the_channels_in_due_order_up_to_limit(engine: Engine) -> None:
    minute = timedelta(minutes=1)
    add(engine, "late", due_at=NOW - 1 * minute)
    add(engine, "early", due_at=NOW - 3 * minute, channel=OutboxChannel.email)
    add(engine, "team", due_at=NOW - 5 * minute, channel=OutboxChannel.team)
    add(engine, "future", due_at=NOW + minute)
    add(engine, "middle", due_at=NOW - 2 * minute)
    add(engine, "now", due_at=NOW)
    add(engine, "tie", due_at=NOW - 1 * minute)  # same due_at as "late": by id
    with transaction(engine) as session:
        claimed = outbox.claim_due(session, NOW, {"slack", "email"}, limit=4, lease=LEASE)
        assert [r.dedupe_key for r in claimed] == ["early", "middle", "late", "tie"]
        assert all(r.status == "sending" for r in claimed)
    by_key = {r.dedupe_key: r for r in rows(engine)}
    for key in ("early", "middle", "late", "tie"):
        assert by_key[key].status == "sending"
        assert by_key[key].lease_until == NOW + LEASE
        assert by_key[key].attempts == 1
    for key in ("team", "future", "now"):
        assert (by_key[key].status, by_key[key].attempts, by_key[key].lease_until) == (
            "pending",
            0,
            None,
        )
    assert claim(engine, channels={"slack", "email"}) == ["now"]  # the rest, not the leased
    assert claim(engine, channels={"slack", "email"}) == []
    assert claim(engine, channels={"team"}) == ["team"]
    assert claim(engine, channels=set()) == []


def test_a_row_not_yet_due_is_not_claimed(engine: Engine) -> None:
    add(engine, "soon", due_at=NOW + timedelta(hours=1))
    assert claim(engine) == []
    assert claim(engine, NOW + timedelta(minutes=59, seconds=59)) == []
    assert claim(engine, NOW + timedelta(hours=1)) == ["soon"]  # due_at <= now


def test_a_row_whose_lease_expired_is_claimable_again(engine: Engine) -> None:
    add(engine, "a")
    assert claim(engine) == ["a"]
    assert claim(engine, NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(engine, NOW + LEASE) == []  # the lease holds up to and including its end
    later = NOW + LEASE + timedelta(seconds=1)
    assert claim(engine, later, lease=timedelta(minutes=1)) == ["a"]
    [r] = rows(engine)
    assert (r.status, r.attempts, r.lease_until) == ("sending", 2, later + timedelta(minutes=1))


@pytest.mark.parametrize("status", [N.sent, N.cancelled, N.failed])
def test_settled_rows_are_never_claimed(engine: Engine, status: NotificationStatus) -> None:
    set_status(engine, add(engine, "a"), status)
    assert claim(engine, NOW + timedelta(days=30)) == []


# --- mark_sent / mark_failed ---------------------------------------------------------------


def test_mark_sent_settles_a_claimed_row(engine: Engine) -> None:
    notification_id = add(engine, "a")
    claim(engine)
    with transaction(engine) as session:
        outbox.mark_sent(session, notification_id, 1, NOW + timedelta(seconds=3))
    r = row(engine, notification_id)
    assert (r.status, r.sent_at, r.lease_until, r.attempts) == (
        "sent",
        NOW + timedelta(seconds=3),
        None,
        1,
    )
    with transaction(engine) as session:  # again, and for an id that does not exist
        outbox.mark_sent(session, notification_id, 1, NOW + timedelta(hours=1))
        outbox.mark_sent(session, notification_id + 1000, 1, NOW)
    assert row(engine, notification_id).sent_at == NOW + timedelta(seconds=3)


@pytest.mark.parametrize("status", [N.pending, N.cancelled, N.failed])
def test_mark_sent_and_failed_leave_unclaimed_rows_alone(
    engine: Engine, status: NotificationStatus
) -> None:
    notification_id = add(engine, "a")
    set_status(engine, notification_id, status)
    with transaction(engine) as session:
        outbox.mark_sent(session, notification_id, 1, NOW)
        outbox.mark_failed(session, notification_id, 1, NOW, "x", retry_at=NOW)
        outbox.mark_failed(session, notification_id, 1, NOW, "x", retry_at=None)
    r = row(engine, notification_id)
    assert (r.status, r.sent_at, r.last_error) == (status.value, None, "")


def test_mark_failed_with_retry_puts_the_row_back_in_line(engine: Engine) -> None:
    notification_id = add(engine, "a")
    claim(engine)
    retry_at = NOW + timedelta(minutes=2)
    with transaction(engine) as session:
        outbox.mark_failed(session, notification_id, 1, NOW, "x" * 3000, retry_at=retry_at)
    r = row(engine, notification_id)
    assert (r.status, r.due_at, r.lease_until, r.attempts) == ("pending", retry_at, None, 1)
    assert r.last_error == "x" * 2000
    assert claim(engine, retry_at - timedelta(seconds=1)) == []
    assert claim(engine, retry_at) == ["a"]


def test_mark_failed_without_retry_fails_for_good(engine: Engine) -> None:
    notification_id = add(engine, "a")
    claim(engine)
    with transaction(engine) as session:
        outbox.mark_failed(session, notification_id, 1, NOW, "unknown user", retry_at=None)
    r = row(engine, notification_id)
    assert (r.status, r.last_error, r.lease_until, r.due_at) == (
        "failed",
        "unknown user",
        None,
        NOW,
    )
    assert claim(engine, NOW + timedelta(days=30)) == []
