"""CSV imports of the reference data: regions, contacts and supporters.

`sto import regions|contacts|supporters FILE.csv [--dry-run]` calls
`import_regions`, `import_contacts` and `import_supporters`. An import first
validates the whole file and collects every problem with its line number;
only a file without problems is written, all of it in the caller's
transaction. Rows are upserted by their key (region code, email; both
case-insensitive), so importing the same file twice changes nothing.

This module holds the three kinds and the parsers for their cells (emails,
region codes, Slack ids, working days, themes, ...); the machinery that
reads, validates and writes a file is `models.csvimport`. `LineProblem` is
re-exported here for callers that import it from this module.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from sqlmodel import Session, col, select

from config.settings import Language
from models import ledger, people
from models.actor import Actor
from models.csvimport import (
    Bad,
    Column,
    ImportReport,
    Problem,
    Row,
    TableKind,
    choice,
    items,
    run_import,
)
from models.csvimport import LineProblem as LineProblem  # re-exported for bot/cli/app.py
from models.errors import InvalidQuantity
from models.quantity import to_units
from models.tables import Contact, LedgerEntry, Period, Region, RegionContact, Supporter
from models.types import THEMES, AllowanceKind, HolidayZone, SupporterRole

WEEKDAYS = ("ma", "di", "wo", "do", "vr")
MAX_COUNT = 1000  # capacities and visits per year: anything larger is a typo
PROGRAMME_TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_REGION_CODE = re.compile(r"^[A-Z0-9-]+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_QUANTITY_PROBLEMS = {
    "not_a_number": Problem.invalid_number,
    "not_half_day": Problem.not_half_day,
    "not_whole": Problem.not_whole,
    "not_positive": Problem.not_positive,
    "too_large": Problem.too_large,
}


# --- cells ---------------------------------------------------------------


def email(value: str) -> str:
    value = value.lower()
    if not value.isascii() or not _EMAIL.match(value):
        raise Bad(Problem.invalid_email)
    return value


def region_code(value: str) -> str:
    value = value.upper()
    if not _REGION_CODE.match(value):
        raise Bad(Problem.invalid_code)
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone(value: str) -> str:
    if value not in _zones():
        raise Bad(Problem.invalid_timezone)
    return value


def half_days(value: str) -> int:
    try:
        return to_units(value, AllowanceKind.support_days)
    except InvalidQuantity as exc:
        raise Bad(_QUANTITY_PROBLEMS[exc.params["problem"]]) from None
    except ArithmeticError:  # "1e1000000" overflows the decimal context
        raise Bad(Problem.too_large) from None


def count(value: str) -> int:
    """A whole number of 0 or more ("3", "3.0")."""
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise Bad(Problem.invalid_number) from None
    if not amount.is_finite():
        raise Bad(Problem.invalid_number)
    if amount != amount.to_integral_value():
        raise Bad(Problem.not_whole)
    if amount < 0:
        raise Bad(Problem.negative)
    if amount > MAX_COUNT:
        raise Bad(Problem.too_large)
    return int(amount)


def slack_id(value: str) -> str:
    value = value.upper()
    if not _SLACK_ID.match(value):
        raise Bad(Problem.invalid_slack_id)
    return value


def weekdays(value: str) -> str:
    days = [d.lower() for d in items(value)]
    for day in days:
        if day not in WEEKDAYS:
            raise Bad(Problem.invalid_weekday, day)
    if not days:
        raise Bad(Problem.required)
    return ";".join(d for d in WEEKDAYS if d in days)


def themes(value: str) -> str:
    slugs = [t.lower() for t in items(value)]
    for slug in slugs:
        if slug not in THEMES:
            raise Bad(Problem.invalid_theme, slug)
    return ";".join(slugs)


language = choice((lang.value for lang in Language), Problem.invalid_language)


def _slack_column() -> Column:
    return Column(
        "slack_user_id", slack_id, required=False, default=None, max_length=32, unique=True
    )


# --- kinds ----------------------------------------------------------------


class _Supporters(TableKind):
    name = "supporters"
    model = Supporter
    key_columns = ("email",)
    unique_in_db = ("slack_user_id",)
    friends_in_use: set[str]  # emails of supporters who are a region's critical friend

    def prepare(self, session: Session) -> Sequence[Column]:
        self.friends_in_use = {
            e.lower()
            for e in session.exec(
                select(Supporter.email).join(
                    Region, col(Region.critical_friend_id) == col(Supporter.id)
                )
            ).all()
        }
        return (
            Column("email", email, max_length=254),
            Column("name", max_length=200),
            Column("role", choice(SupporterRole, Problem.invalid_role)),
            Column("themes", themes, required=False, max_length=1000),
            Column("working_days", weekdays, max_length=40),
            Column("max_visits_per_day", count),
            Column("max_visits_per_week", count),
            Column("max_days_per_month", count),
            _slack_column(),
            Column("language", language),
        )

    def check(self, values: dict[str, Any]) -> list[tuple[str, Problem, str]]:
        role = values["role"]
        if values["email"] in self.friends_in_use and role != SupporterRole.critical_friend:
            return [("role", Problem.still_critical_friend, role)]
        return []

    def seen_by(self, session: Session, obj: Any) -> set[str]:
        """Their own home (their role decides what it shows), the team's (its week names
        them) and the homes of the regions they are critical friend of."""
        regions = session.exec(select(Region.id).where(Region.critical_friend_id == obj.id)).all()
        own = {obj.slack_user_id} if obj.slack_user_id else set()
        return own | set(people.slack_ids_seeing_any(session, [r for r in regions if r]))


class _Regions(TableKind):
    name = "regions"
    model = Region
    key_columns = ("code",)

    def prepare(self, session: Session) -> Sequence[Column]:
        supporters = {s.email.lower(): s for s in session.exec(select(Supporter)).all()}

        def critical_friend(value: str) -> int | None:
            supporter = supporters.get(email(value))
            if supporter is None:
                raise Bad(Problem.unknown_supporter)
            if supporter.role != SupporterRole.critical_friend:
                raise Bad(Problem.not_critical_friend)
            return supporter.id

        return (
            Column("code", region_code, max_length=16),
            Column("name", max_length=200, unique=True),
            Column("province", required=False, max_length=200),
            Column("timezone", timezone, max_length=64),
            Column(
                "holiday_zone",
                choice(HolidayZone, Problem.invalid_zone),
                required=False,
                default=None,
            ),
            Column("support_days", half_days, attr="yearly_support_half_days"),
            Column("cf_visits", count, attr="yearly_cf_visits"),
            Column(
                "critical_friend",
                critical_friend,
                attr="critical_friend_id",
                required=False,
                default=None,
            ),
            Column("source_url", required=False, max_length=1000),
        )

    def after_write(
        self, session: Session, obj: Any, row: Row, *, created: bool, by: Actor, now: datetime
    ) -> None:
        if created:
            grant_yearly_allowances(session, [obj], by, now)

    def seen_by(self, session: Session, obj: Any) -> set[str]:
        """Everyone who sees the region: its contacts, its critical friend, the team."""
        return set(people.slack_ids_seeing(session, obj.id))


class _Contacts(TableKind):
    name = "contacts"
    model = Contact
    key_columns = ("email",)
    unique_in_db = ("slack_user_id",)

    def prepare(self, session: Session) -> Sequence[Column]:
        known = {r.code.upper(): r.id for r in session.exec(select(Region)).all()}

        def regions(value: str) -> frozenset[int]:
            ids = set()
            for code in items(value):
                region_id = known.get(code.upper())
                if region_id is None:
                    raise Bad(Problem.unknown_region, code)
                ids.add(region_id)
            if not ids:
                raise Bad(Problem.required)
            return frozenset(ids)

        return (
            Column("email", email, max_length=254),
            Column("name", max_length=200),
            Column("regions", regions, stored=False),
            _slack_column(),
            Column("language", language),
        )

    def _links(self, session: Session, contact_id: int) -> list[RegionContact]:
        query = select(RegionContact).where(RegionContact.contact_id == contact_id)
        return list(session.exec(query).all())

    def links_changed(self, session: Session, obj: Any, row: Row) -> bool:
        current = {link.region_id for link in self._links(session, obj.id)}
        return bool(current != row.values["regions"])

    def after_write(
        self, session: Session, obj: Any, row: Row, *, created: bool, by: Actor, now: datetime
    ) -> None:
        wanted: frozenset[int] = row.values["regions"]
        links = self._links(session, obj.id)
        for link in links:
            if link.region_id not in wanted:
                session.delete(link)
        for region_id in wanted - {link.region_id for link in links}:
            session.add(RegionContact(region_id=region_id, contact_id=obj.id))
        session.flush()

    def seen_by(self, session: Session, obj: Any) -> set[str]:
        """Only their own home shows a contact (their regions, in their language)."""
        return {obj.slack_user_id} if obj.slack_user_id else set()


# --- the three imports ----------------------------------------------------


def import_regions(
    session: Session, text: str, by: Actor, now: datetime, *, dry_run: bool = False
) -> ImportReport:
    """Regions by code; a new region gets its yearly allowances, a known one keeps its ledger."""
    return run_import(session, _Regions(), text, by, now, dry_run=dry_run)


def import_contacts(
    session: Session, text: str, by: Actor, now: datetime, *, dry_run: bool = False
) -> ImportReport:
    """Contacts by email; each belongs to exactly the regions listed."""
    return run_import(session, _Contacts(), text, by, now, dry_run=dry_run)


def import_supporters(
    session: Session, text: str, by: Actor, now: datetime, *, dry_run: bool = False
) -> ImportReport:
    """Supporters by email; supporters missing from the file are left as they are."""
    return run_import(session, _Supporters(), text, by, now, dry_run=dry_run)


def grant_yearly_allowances(
    session: Session, regions: Iterable[Region], by: Actor, now: datetime
) -> int:
    """Grant each region its yearly allowances for every period that has not ended yet.

    One ledger grant per region, period and kind, under a dedupe key, so
    calling this again grants nothing twice. Returns the number of grants.
    """
    today = now.astimezone(PROGRAMME_TZ).date()
    periods = session.exec(
        select(Period).where(Period.ends_on >= today).order_by(col(Period.starts_on))
    ).all()
    done = set(
        session.exec(
            select(LedgerEntry.dedupe_key).where(col(LedgerEntry.dedupe_key).startswith("yearly:"))
        ).all()
    )
    granted = 0
    for region in regions:
        for period in periods:
            for kind, units in (
                (AllowanceKind.support_days, region.yearly_support_half_days),
                (AllowanceKind.cf_visits, region.yearly_cf_visits),
            ):
                key = f"yearly:{region.code}:{period.code}:{kind.value}"
                if key in done:
                    continue
                allowance = ledger.ensure_allowance(session, region, period, kind)
                if units > 0 and allowance.id is not None:
                    ledger.grant(
                        session, allowance.id, units, by, now, reason="yearly", dedupe_key=key
                    )
                    granted += 1
    return granted
