"""The quota ledger on SQLite and PostgreSQL: exact arithmetic, refusals, roll-over."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from models import ledger
from models.actor import Actor
from models.db import transaction
from models.errors import (
    AdjustBelowCommitted,
    ExceedsReservation,
    InsufficientBalance,
    NoAllowance,
)
from models.ledger import Balance
from models.periods import get_period
from models.regions import get_region
from models.tables import Allowance, LedgerEntry, Period, SupportRequest
from models.types import AllowanceKind, Channel, LedgerOp, RequestStatus
from tests.conftest import NOW, TEAM, RegionFactory

DAYS = AllowanceKind.support_days
VISITS = AllowanceKind.cf_visits


# --- helpers -------------------------------------------------------------------------------


def allowance_id(engine: Engine, region: str, period: str, kind: AllowanceKind = DAYS) -> int:
    with transaction(engine) as session:
        found = ledger.find_allowance(
            session, get_region(session, region), get_period(session, period), kind
        )
        assert found.id is not None
        return found.id


def request_row(engine: Engine, region: str, period: str = "2026", number: int = 1) -> int:
    """A bare request row for ledger entries to point at (no reservation made)."""
    with transaction(engine) as session:
        reg = get_region(session, region)
        per = get_period(session, period)
        assert reg.id is not None and per.id is not None
        row = SupportRequest(
            ref=f"T-{region}-{period}-{number}",
            region_id=reg.id,
            period_id=per.id,
            requested_by="test",
            kind="process",
            half_days=1,
            channel=Channel.cli.value,
            status=RequestStatus.submitted.value,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def balance(engine: Engine, allowance: int) -> Balance:
    with Session(engine) as session:
        row = session.get(Allowance, allowance)
        assert row is not None
        return ledger.balance_of(session, row)


def units(b: Balance) -> tuple[int, int, int, int]:
    return b.granted, b.reserved, b.used, b.available


def entry_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(LedgerEntry)).one())


def entries(engine: Engine, allowance: int) -> list[LedgerEntry]:
    with Session(engine) as session:
        return ledger.history(session, allowance)


# --- arithmetic ----------------------------------------------------------------------------


def test_granted_by_make_region(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5", visits=4)
    days = allowance_id(engine, "ZEELAND", "2026")
    visits = allowance_id(engine, "ZEELAND", "2026", VISITS)
    assert units(balance(engine, days)) == (10, 0, 0, 10)
    assert balance(engine, days).amount("available") == Decimal("5")
    assert units(balance(engine, visits)) == (4, 0, 0, 4)
    assert balance(engine, visits).amount("granted") == Decimal(4)


def test_full_arithmetic(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r1 = request_row(engine, "ZEELAND", number=1)
    r2 = request_row(engine, "ZEELAND", number=2)

    with transaction(engine) as s:
        ledger.reserve(s, a, 3, r1, TEAM, NOW)
    assert units(balance(engine, a)) == (10, 3, 0, 7)

    with transaction(engine) as s:
        ledger.reserve(s, a, 2, r2, TEAM, NOW)
    assert units(balance(engine, a)) == (10, 5, 0, 5)

    with transaction(engine) as s:
        consumed = ledger.consume(s, a, r1, 2, TEAM, NOW, ref="T1")
    assert consumed is not None and consumed.units == 2
    assert units(balance(engine, a)) == (10, 3, 2, 5)

    with transaction(engine) as s:
        released = ledger.release(s, a, r1, TEAM, NOW, reason="rest")
    assert released is not None
    assert released.units == 1  # only what r1 still held
    assert units(balance(engine, a)) == (10, 2, 2, 6)

    with transaction(engine) as s:
        assert ledger.release(s, a, r1, TEAM, NOW) is None  # nothing left to give back
        assert ledger.consume(s, a, r2, 0, TEAM, NOW) is None  # zero: no entry
    assert units(balance(engine, a)) == (10, 2, 2, 6)

    with transaction(engine) as s:
        ledger.adjust(s, a, 4, TEAM, NOW, reason="extra")
    assert units(balance(engine, a)) == (14, 2, 2, 10)

    with transaction(engine) as s:
        ledger.adjust(s, a, -3, TEAM, NOW, reason="correction")
    assert units(balance(engine, a)) == (11, 2, 2, 7)

    with transaction(engine) as s:
        assert ledger.expire(s, a, TEAM, NOW, reason="year end") == (7, 0)
    assert units(balance(engine, a)) == (4, 2, 2, 0)

    # After expiry an open reservation still holds its days and can be used.
    with transaction(engine) as s:
        ledger.consume(s, a, r2, 2, TEAM, NOW)
    assert units(balance(engine, a)) == (4, 0, 4, 0)

    ops = [(e.op, e.units) for e in entries(engine, a)]
    assert ops == [
        ("grant", 10),
        ("reserve", 3),
        ("reserve", 2),
        ("consume", 2),
        ("release", 1),
        ("adjust", 4),
        ("adjust", -3),
        ("expire", 7),
        ("consume", 2),
    ]


def test_entries_record_actor_channel_reason_and_time(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r = request_row(engine, "ZEELAND")
    slack = Actor("slack:U1", Channel.slack)
    with transaction(engine) as s:
        ledger.reserve(s, a, 1, r, slack, NOW)
        ledger.adjust(s, a, 2, TEAM, NOW, reason="bonus")
    first, reserve, adjust = entries(engine, a)
    assert first.op == LedgerOp.grant and first.actor == TEAM.name and first.reason == "test"
    assert reserve.actor == "slack:U1" and reserve.channel == "slack"
    assert reserve.request_id == r
    assert adjust.actor == TEAM.name and adjust.channel == "cli" and adjust.reason == "bonus"
    assert adjust.request_id is None
    assert reserve.created_at == NOW and reserve.created_at.tzinfo is not None
    assert reserve.created_at.utcoffset() == UTC.utcoffset(None)


def test_half_days_are_never_rounded(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, a, 1, r, TEAM, NOW)
    b = balance(engine, a)
    assert units(b) == (10, 1, 0, 9)
    assert b.amount("available") == Decimal("4.5")
    assert str(b.amount("available")) == "4.5"
    assert b.amount("reserved") == Decimal("0.5")
    with transaction(engine) as s:
        ledger.consume(s, a, r, 1, TEAM, NOW)
        ledger.adjust(s, a, 1, TEAM, NOW, reason="half a day more")
    b = balance(engine, a)
    assert units(b) == (11, 0, 1, 10)
    assert str(b.amount("granted")) == "5.5"
    assert str(b.amount("used")) == "0.5"
    assert str(b.amount("available")) == "5"


# --- refusals ------------------------------------------------------------------------------


def test_reserve_that_does_not_fit(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r1 = request_row(engine, "ZEELAND", number=1)
    r2 = request_row(engine, "ZEELAND", number=2)
    with transaction(engine) as s:
        ledger.reserve(s, a, 3, r1, TEAM, NOW)
    before = entry_count(engine)

    with pytest.raises(InsufficientBalance) as caught, transaction(engine) as s:
        ledger.reserve(s, a, 8, r2, TEAM, NOW)
    params = caught.value.params
    assert caught.value.code == "insufficient_balance"
    assert params["requested"] == Decimal("4")
    assert params["available"] == Decimal("3.5")
    assert isinstance(params["requested"], Decimal)
    assert isinstance(params["available"], Decimal)
    assert str(params["available"]) == "3.5"
    assert params["region"] == "ZEELAND"
    assert params["period"] == "2026"
    assert params["kind"] == "support_days"
    assert entry_count(engine) == before
    assert units(balance(engine, a)) == (10, 3, 0, 7)

    # Exactly what is left fits; then nothing more does, and it says 0 is left.
    with transaction(engine) as s:
        ledger.reserve(s, a, 7, r2, TEAM, NOW)
    assert units(balance(engine, a)) == (10, 10, 0, 0)
    with pytest.raises(InsufficientBalance) as caught, transaction(engine) as s:
        ledger.reserve(s, a, 1, r2, TEAM, NOW)
    assert caught.value.params["requested"] == Decimal("0.5")
    assert caught.value.params["available"] == Decimal("0")
    assert str(caught.value.params["available"]) == "0"


def test_visits_refusal_speaks_in_visits(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", visits=2)
    a = allowance_id(engine, "ZEELAND", "2026", VISITS)
    r = request_row(engine, "ZEELAND")
    with pytest.raises(InsufficientBalance) as caught, transaction(engine) as s:
        ledger.reserve(s, a, 3, r, TEAM, NOW)
    assert caught.value.params["requested"] == Decimal(3)
    assert caught.value.params["available"] == Decimal(2)
    assert caught.value.params["kind"] == "cf_visits"


def test_consume_more_than_reserved(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, a, 3, r, TEAM, NOW)
    with pytest.raises(ExceedsReservation) as caught, transaction(engine) as s:
        ledger.consume(s, a, r, 4, TEAM, NOW, ref="STO-2026-0001")
    assert caught.value.params == {
        "ref": "STO-2026-0001",
        "requested": Decimal(2),
        "reserved": Decimal("1.5"),
    }
    assert units(balance(engine, a)) == (10, 3, 0, 7)


def test_adjust_down_never_below_committed(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, a, 4, r, TEAM, NOW)
        ledger.consume(s, a, r, 2, TEAM, NOW)
    assert units(balance(engine, a)) == (10, 2, 2, 6)
    before = entry_count(engine)

    with pytest.raises(AdjustBelowCommitted) as caught, transaction(engine) as s:
        ledger.adjust(s, a, -7, TEAM, NOW, reason="too much")
    assert caught.value.params == {
        "region": "ZEELAND",
        "kind": "support_days",
        "requested": Decimal("3.5"),
        "available": Decimal("3"),
        "committed": Decimal("2"),
    }
    assert entry_count(engine) == before

    # Down to exactly what is reserved and used is fine; one half day more is not.
    with transaction(engine) as s:
        ledger.adjust(s, a, -6, TEAM, NOW, reason="exact")
    assert units(balance(engine, a)) == (4, 2, 2, 0)
    with pytest.raises(AdjustBelowCommitted), transaction(engine) as s:
        ledger.adjust(s, a, -1, TEAM, NOW, reason="one more")
    assert units(balance(engine, a)) == (4, 2, 2, 0)


@pytest.mark.parametrize("bad", [0, -1])
def test_non_positive_grant_and_reserve_are_programming_errors(
    engine: Engine, make_region: RegionFactory, bad: int
) -> None:
    make_region("ZEELAND")
    a = allowance_id(engine, "ZEELAND", "2026")
    r = request_row(engine, "ZEELAND")
    with pytest.raises(ValueError), transaction(engine) as s:
        ledger.grant(s, a, bad, TEAM, NOW)
    with pytest.raises(ValueError), transaction(engine) as s:
        ledger.reserve(s, a, bad, r, TEAM, NOW)
    with pytest.raises(ValueError), transaction(engine) as s:
        ledger.adjust(s, a, 0, TEAM, NOW, reason="nothing")
    with pytest.raises(ValueError), transaction(engine) as s:
        ledger.consume(s, a, r, -1, TEAM, NOW)
    assert units(balance(engine, a)) == (10, 0, 0, 10)


def test_find_allowance_missing(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND")
    with transaction(engine) as s:
        s.add(Period(code="2028", starts_on=date(2028, 1, 1), ends_on=date(2028, 12, 31)))
    with pytest.raises(NoAllowance) as caught, transaction(engine) as s:
        ledger.find_allowance(s, get_region(s, "ZEELAND"), get_period(s, "2028"), DAYS)
    assert caught.value.params == {"region": "ZEELAND", "period": "2028", "kind": DAYS}
    with transaction(engine) as s:
        created = ledger.ensure_allowance(s, get_region(s, "ZEELAND"), get_period(s, "2028"), DAYS)
        again = ledger.ensure_allowance(s, get_region(s, "ZEELAND"), get_period(s, "2028"), DAYS)
        assert created.id == again.id
    assert units(balance(engine, allowance_id(engine, "ZEELAND", "2028"))) == (0, 0, 0, 0)


# --- grants with a dedupe key --------------------------------------------------------------


def test_grant_with_same_dedupe_key_grants_once(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    with transaction(engine) as s:
        first = ledger.grant(s, a, 4, TEAM, NOW, reason="bonus", dedupe_key="bonus:2026")
    assert first is not None
    with transaction(engine) as s:
        second = ledger.grant(s, a, 4, TEAM, NOW, reason="bonus", dedupe_key="bonus:2026")
    assert second is None
    assert units(balance(engine, a)) == (14, 0, 0, 14)
    # Within one transaction too.
    with transaction(engine) as s:
        assert ledger.grant(s, a, 2, TEAM, NOW, dedupe_key="k") is not None
        assert ledger.grant(s, a, 2, TEAM, NOW, dedupe_key="k") is None
    assert units(balance(engine, a)) == (16, 0, 0, 16)
    # Without a key every grant counts.
    with transaction(engine) as s:
        ledger.grant(s, a, 1, TEAM, NOW)
        ledger.grant(s, a, 1, TEAM, NOW)
    assert units(balance(engine, a)) == (18, 0, 0, 18)


def test_dedupe_key_is_global_across_allowances(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    a = allowance_id(engine, "ZEELAND", "2026")
    b = allowance_id(engine, "ZEELAND", "2027")
    with transaction(engine) as s:
        assert ledger.grant(s, a, 2, TEAM, NOW, dedupe_key="once") is not None
    with transaction(engine) as s:
        assert ledger.grant(s, b, 2, TEAM, NOW, dedupe_key="once") is None
    assert balance(engine, b).granted == 10


# --- expiry and roll-over ------------------------------------------------------------------


def test_expire_without_rollover(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, old, 3, r, TEAM, NOW)
    with transaction(engine) as s:
        assert ledger.expire(s, old, TEAM, NOW, reason="year end") == (7, 0)
    assert units(balance(engine, old)) == (3, 3, 0, 0)
    assert units(balance(engine, new)) == (10, 0, 0, 10)
    with transaction(engine) as s:
        # A cap without a target, or a target with cap 0, carries nothing.
        assert ledger.expire(s, old, TEAM, NOW, rollover_cap=4) == (0, 0)
    with transaction(engine) as s:
        ledger.release(s, old, r, TEAM, NOW)
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=0) == (3, 0)
    assert units(balance(engine, new)) == (10, 0, 0, 10)
    assert units(balance(engine, old)) == (0, 0, 0, 0)


def test_expire_with_nothing_available_writes_nothing(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="1")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, old, 2, r, TEAM, NOW)
    before = entry_count(engine)
    with transaction(engine) as s:
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (0, 0)
    assert entry_count(engine) == before


def test_rollover_is_capped(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, old, 3, r, TEAM, NOW)
    with transaction(engine) as s:
        expired, carried = ledger.expire(
            s, old, TEAM, NOW, rollover_to=new, rollover_cap=4, reason="rollover 2026"
        )
    assert (expired, carried) == (7, 4)
    assert units(balance(engine, old)) == (3, 3, 0, 0)
    assert units(balance(engine, new)) == (14, 0, 0, 14)
    rolled = [e for e in entries(engine, new) if e.dedupe_key is not None]
    assert len(rolled) == 1
    assert rolled[0].op == "grant" and rolled[0].units == 4
    assert rolled[0].reason == "rollover 2026"

    # The same roll-over again grants nothing more.
    with transaction(engine) as s:
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (0, 0)
    assert units(balance(engine, new)) == (14, 0, 0, 14)
    assert units(balance(engine, old)) == (3, 3, 0, 0)
    assert len([e for e in entries(engine, new) if e.op == "grant"]) == 2


def test_rollover_cap_above_available(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    with transaction(engine) as s:
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=40) == (10, 10)
    assert units(balance(engine, old)) == (0, 0, 0, 0)
    assert units(balance(engine, new)) == (20, 0, 0, 20)
    rolled = [e for e in entries(engine, new) if e.dedupe_key]
    assert [e.reason for e in rolled] == ["rollover"]


def test_rollover_of_visits_is_its_own(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5", visits=4)
    old_days = allowance_id(engine, "ZEELAND", "2026")
    new_days = allowance_id(engine, "ZEELAND", "2027")
    old_visits = allowance_id(engine, "ZEELAND", "2026", VISITS)
    new_visits = allowance_id(engine, "ZEELAND", "2027", VISITS)
    with transaction(engine) as s:
        days = ledger.expire(s, old_days, TEAM, NOW, rollover_to=new_days, rollover_cap=2)
        visits = ledger.expire(s, old_visits, TEAM, NOW, rollover_to=new_visits, rollover_cap=1)
    assert days == (10, 2)
    assert visits == (4, 1)
    assert units(balance(engine, new_days)) == (12, 0, 0, 12)
    assert units(balance(engine, new_visits)) == (5, 0, 0, 5)


def test_rollovers_of_two_regions_do_not_collide(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="5")
    make_region("BONAIRE", days="3", tz="America/Kralendijk")
    with transaction(engine) as s:
        for code in ("ZEELAND", "BONAIRE"):
            reg = get_region(s, code)
            old = ledger.find_allowance(s, reg, get_period(s, "2026"), DAYS)
            new = ledger.find_allowance(s, reg, get_period(s, "2027"), DAYS)
            assert old.id is not None and new.id is not None
            ledger.expire(s, old.id, TEAM, NOW, rollover_to=new.id, rollover_cap=2)
    assert balance(engine, allowance_id(engine, "ZEELAND", "2027")).granted == 12
    assert balance(engine, allowance_id(engine, "BONAIRE", "2027")).granted == 8


def test_second_rollover_after_a_release(engine: Engine, make_region: RegionFactory) -> None:
    """Regression: the second roll-over reused the dedupe key and failed with IntegrityError."""
    make_region("ZEELAND", days="5")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    r = request_row(engine, "ZEELAND")
    with transaction(engine) as s:
        ledger.reserve(s, old, 3, r, TEAM, NOW)
    with transaction(engine) as s:
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (7, 4)
    with transaction(engine) as s:
        ledger.release(s, old, r, TEAM, NOW, reason="cancelled late")
    assert units(balance(engine, old)) == (3, 0, 0, 3)
    with transaction(engine) as s:
        expired, carried = ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4)
    assert expired == 3
    assert carried == 0
    assert units(balance(engine, old)) == (0, 0, 0, 0)
    assert units(balance(engine, new)) == (14, 0, 0, 14)


def test_rollovers_together_never_pass_the_cap(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    old = allowance_id(engine, "ZEELAND", "2026")
    new = allowance_id(engine, "ZEELAND", "2027")
    r1 = request_row(engine, "ZEELAND", number=1)
    r2 = request_row(engine, "ZEELAND", number=2)
    with transaction(engine) as s:
        ledger.reserve(s, old, 5, r1, TEAM, NOW)
        ledger.reserve(s, old, 3, r2, TEAM, NOW)
    with transaction(engine) as s:  # 2 free, cap 4: both carried
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (2, 2)
    with transaction(engine) as s:  # 5 freed: only 2 more may follow
        ledger.release(s, old, r1, TEAM, NOW)
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (5, 2)
    with transaction(engine) as s:  # 3 freed: the cap is used up
        ledger.release(s, old, r2, TEAM, NOW)
        assert ledger.expire(s, old, TEAM, NOW, rollover_to=new, rollover_cap=4) == (3, 0)
    assert units(balance(engine, old)) == (0, 0, 0, 0)
    assert units(balance(engine, new)) == (14, 0, 0, 14)
    keys = [e.dedupe_key for e in entries(engine, new) if e.dedupe_key]
    assert len(keys) == len(set(keys)) == 2
