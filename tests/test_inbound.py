"""Inbound idempotency: a Slack delivery or a mail acts once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import inbound, ledger
from models import requests as rq
from models.actor import Actor
from models.db import transaction
from models.errors import AlreadyProcessed, InsufficientBalance
from models.periods import get_period
from models.regions import get_region
from models.tables import InboundMessage, SupportRequest
from models.types import AllowanceKind, Channel
from tests.conftest import NOW, RegionFactory

MAIL_ID = "<CAF1234@mail.school.example>"
SLACK_ID = "Ev0123ABCD"


class Crash(Exception):
    """Something that goes wrong after the claim, before the commit."""


def rows(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        found = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
        return [(m.source, m.external_id, m.sender) for m in found]


def claim(engine: Engine, source: str, external_id: str, sender: str = "") -> InboundMessage:
    with transaction(engine) as session:
        return inbound.claim(session, source, external_id, NOW, sender=sender)


def test_claim_records_the_message(engine: Engine) -> None:
    with transaction(engine) as session:
        message = inbound.claim(
            session, "email", MAIL_ID, NOW, sender="jan@school.example", summary="Aanvraag"
        )
        assert message.id is not None
    with Session(engine) as session:
        stored = session.exec(select(InboundMessage)).one()
    assert (stored.source, stored.external_id) == ("email", MAIL_ID)
    assert stored.sender == "jan@school.example"
    assert stored.summary == "Aanvraag"
    assert stored.received_at == NOW
    assert stored.received_at.tzinfo is not None


def test_second_claim_is_already_processed(engine: Engine) -> None:
    claim(engine, "slack", SLACK_ID)
    with pytest.raises(AlreadyProcessed) as caught:
        claim(engine, "slack", SLACK_ID)
    assert caught.value.code == "already_processed"
    assert caught.value.params == {"source": "slack", "external_id": SLACK_ID}
    assert rows(engine) == [("slack", SLACK_ID, "")]


def test_second_claim_in_the_same_transaction(engine: Engine) -> None:
    with transaction(engine) as session:
        inbound.claim(session, "email", MAIL_ID, NOW)
        with pytest.raises(AlreadyProcessed):
            inbound.claim(session, "email", MAIL_ID, NOW)
        # The transaction is still usable after the refusal.
        inbound.claim(session, "email", "<other@example>", NOW)
    assert rows(engine) == [("email", MAIL_ID, ""), ("email", "<other@example>", "")]


def test_same_id_from_different_sources_is_fine(engine: Engine) -> None:
    claim(engine, "slack", "X1")
    claim(engine, "email", "X1")
    claim(engine, "slack", "X2")
    assert sorted(rows(engine)) == [("email", "X1", ""), ("slack", "X1", ""), ("slack", "X2", "")]
    for source, external_id in (("slack", "X1"), ("email", "X1"), ("slack", "X2")):
        with pytest.raises(AlreadyProcessed):
            claim(engine, source, external_id)


def test_rolled_back_claim_leaves_no_row_so_the_retry_acts(engine: Engine) -> None:
    with pytest.raises(Crash), transaction(engine) as session:
        inbound.claim(session, "email", MAIL_ID, NOW, sender="first try")
        raise Crash
    assert rows(engine) == []
    claim(engine, "email", MAIL_ID, sender="retry")
    assert rows(engine) == [("email", MAIL_ID, "retry")]
    with pytest.raises(AlreadyProcessed):
        claim(engine, "email", MAIL_ID, sender="third")


def test_claim_and_the_work_it_guards_commit_together(
    engine: Engine, make_region: RegionFactory
) -> None:
    """A booking mail that is refused leaves no claim: once more days exist, the retry books."""
    make_region("ZEELAND", days="1")
    by = Actor("mail:jan@school.example", Channel.email)

    def handle_mail() -> str:
        with transaction(engine) as session:
            inbound.claim(session, "email", MAIL_ID, NOW)
            new = rq.NewRequest(region="ZEELAND", kind="content", half_days=4)
            return rq.submit(session, new, by, NOW).ref

    with pytest.raises(InsufficientBalance):
        handle_mail()
    assert rows(engine) == []

    with pytest.raises(InsufficientBalance):  # a retry that still does not fit
        handle_mail()
    assert rows(engine) == []

    with transaction(engine) as session:
        allowance = ledger.find_allowance(
            session,
            get_region(session, "ZEELAND"),
            get_period(session, "2026"),
            AllowanceKind.support_days,
        )
        assert allowance.id is not None
        ledger.adjust(session, allowance.id, 2, by, NOW, reason="extra")

    assert handle_mail() == "STO-2026-0001"
    with pytest.raises(AlreadyProcessed):
        handle_mail()
    assert rows(engine) == [("email", MAIL_ID, "")]
    with Session(engine) as session:
        assert len(session.exec(select(SupportRequest)).all()) == 1


# --- at the same time ----------------------------------------------------------------------


@pytest.mark.parametrize("hold", [0.0, 0.05])
def test_many_claims_at_once_one_wins(engine: Engine, hold: float) -> None:
    count = 20
    barrier = threading.Barrier(count)

    def work(index: int) -> str:
        barrier.wait(timeout=60)
        with transaction(engine) as session:
            inbound.claim(session, "slack", SLACK_ID, NOW, sender=f"worker-{index}")
            time.sleep(hold)  # the winner is still "acting" while the others arrive
        return f"worker-{index}"

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i) for i in range(count)]
        errors = [f.exception(timeout=120) for f in futures]

    winners = [f.result() for f, e in zip(futures, errors, strict=True) if e is None]
    losers = [e for e in errors if e is not None]
    assert len(winners) == 1
    assert len(losers) == count - 1
    assert all(isinstance(e, AlreadyProcessed) for e in losers), losers
    assert rows(engine) == [("slack", SLACK_ID, winners[0])]


def test_loser_that_raced_past_the_check_keeps_its_transaction(engine: Engine) -> None:
    """B claims while A's claim is not yet committed.

    On PostgreSQL B's read does not see A's row, so B's insert waits on the
    unique index and fails when A commits; on SQLite B waits at BEGIN. Either
    way B gets AlreadyProcessed and can still commit its other work.
    """
    a_claimed = threading.Event()
    a_may_commit = threading.Event()

    def first() -> None:
        with transaction(engine) as session:
            inbound.claim(session, "email", MAIL_ID, NOW, sender="A")
            a_claimed.set()
            assert a_may_commit.wait(timeout=60)

    def second() -> str:
        assert a_claimed.wait(timeout=60)
        with transaction(engine) as session:
            try:
                inbound.claim(session, "email", MAIL_ID, NOW, sender="B")
            except AlreadyProcessed:
                outcome = "already processed"
            else:
                outcome = "claimed"
            inbound.claim(session, "email", "<B-own@example>", NOW, sender="B")
        return outcome

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(first)
        b = pool.submit(second)
        assert a_claimed.wait(timeout=60)
        time.sleep(0.3)  # let B reach the claim and block behind A
        assert not b.done()
        a_may_commit.set()
        a.result(timeout=60)
        assert b.result(timeout=60) == "already processed"
    assert sorted(rows(engine)) == [("email", "<B-own@example>", "B"), ("email", MAIL_ID, "A")]


def test_waiting_claim_acts_when_the_first_rolls_back(engine: Engine) -> None:
    a_claimed = threading.Event()
    a_may_fail = threading.Event()

    def first() -> None:
        with transaction(engine) as session:
            inbound.claim(session, "email", MAIL_ID, NOW, sender="A")
            a_claimed.set()
            assert a_may_fail.wait(timeout=60)
            raise Crash

    def second() -> None:
        assert a_claimed.wait(timeout=60)
        with transaction(engine) as session:
            inbound.claim(session, "email", MAIL_ID, NOW + timedelta(seconds=5), sender="B")

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(first)
        b = pool.submit(second)
        assert a_claimed.wait(timeout=60)
        time.sleep(0.3)
        assert not b.done()
        a_may_fail.set()
        with pytest.raises(Crash):
            a.result(timeout=60)
        b.result(timeout=60)
    assert rows(engine) == [("email", MAIL_ID, "B")]
