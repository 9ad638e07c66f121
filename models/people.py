"""Who is who: a Slack user or a mail sender is a contact, a supporter or a team member.

Rights follow from the data: a contact sees and acts for their own region(s);
supporters see the regions they support; coordinators (the team) see all
regions and are the only ones who approve, reject, assign and adjust.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, literal, null, union, union_all
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from models.errors import NotAllowed
from models.tables import Contact, Region, RegionContact, Supporter
from models.types import SupporterRole


@dataclass(frozen=True)
class Person:
    kind: str  # "contact" | "supporter"
    id: int
    name: str
    email: str
    language: str
    is_team: bool
    region_codes: tuple[str, ...]  # the regions this person acts for (all, for the team)

    def may_act_for(self, region_code: str) -> bool:
        return self.is_team or region_code.upper() in self.region_codes

    def require_region(self, action: str, region_code: str) -> None:
        if not self.may_act_for(region_code):
            raise NotAllowed(action, region_code)

    def require_requester_side(self, action: str, region_code: str) -> None:
        """Cancelling is for the region's own contacts, and for the team."""
        if self.is_team:
            return
        if self.kind != "contact" or region_code.upper() not in self.region_codes:
            raise NotAllowed(action, region_code)

    def require_team(self, action: str) -> None:
        if not self.is_team:
            raise NotAllowed(action)


# Who-is-who runs on every Slack request: fixed Core statements with parameters (their
# cache keys are computed once), read on the session's connection without the ORM.
_supporter = Supporter.__table__  # type: ignore[attr-defined]
_contact = Contact.__table__  # type: ignore[attr-defined]
_region = Region.__table__  # type: ignore[attr-defined]
_region_contact = RegionContact.__table__  # type: ignore[attr-defined]

_CONTACT_REGIONS = (
    core_select(_region.c.code)
    .join(_region_contact, _region_contact.c.region_id == _region.c.id)
    .where(_region_contact.c.contact_id == bindparam("contact_id"))
    .order_by(_region.c.code)
)
_FRIEND_REGIONS = (
    core_select(_region.c.code)
    .where(_region.c.critical_friend_id == bindparam("supporter_id"))
    .order_by(_region.c.code)
)
_ALL_REGIONS = core_select(_region.c.code).order_by(_region.c.code)
# A supporter before a contact with the same Slack id, as the lookups one by one did.
_BY_SLACK_ID = union_all(
    core_select(
        literal(0).label("rank"),
        _supporter.c.id,
        _supporter.c.name,
        _supporter.c.email,
        _supporter.c.language,
        _supporter.c.role,
    ).where(_supporter.c.slack_user_id == bindparam("slack_user_id")),
    core_select(
        literal(1).label("rank"),
        _contact.c.id,
        _contact.c.name,
        _contact.c.email,
        _contact.c.language,
        null().label("role"),
    ).where(_contact.c.slack_user_id == bindparam("slack_user_id")),
).order_by("rank")


def _codes(session: Session, statement: Any, **params: Any) -> tuple[str, ...]:
    return tuple(session.connection().execute(statement, params).scalars().all())


def _contact_regions(session: Session, contact_id: int) -> tuple[str, ...]:
    return _codes(session, _CONTACT_REGIONS, contact_id=contact_id)


def _all_regions(session: Session) -> tuple[str, ...]:
    return _codes(session, _ALL_REGIONS)


def _supporter_person(
    session: Session, id: int, name: str, email: str, language: str, role: str
) -> Person:
    team = role == SupporterRole.coordinator.value
    regions = _all_regions(session) if team else _codes(session, _FRIEND_REGIONS, supporter_id=id)
    return Person("supporter", id, name, email, language, team, regions)


def _from_supporter(session: Session, s: Supporter) -> Person:
    assert s.id is not None
    return _supporter_person(session, s.id, s.name, s.email, s.language, s.role)


def _from_contact(session: Session, c: Contact) -> Person:
    assert c.id is not None
    return Person(
        "contact", c.id, c.name, c.email, c.language, False, _contact_regions(session, c.id)
    )


def by_slack_id(session: Session, slack_user_id: str) -> Person | None:
    row = (
        session.connection()
        .execute(_BY_SLACK_ID, {"slack_user_id": slack_user_id})
        .mappings()
        .first()
    )
    if row is None:
        return None
    if row["rank"] == 0:
        return _supporter_person(
            session, row["id"], row["name"], row["email"], row["language"], row["role"]
        )
    regions = _contact_regions(session, row["id"])
    return Person("contact", row["id"], row["name"], row["email"], row["language"], False, regions)


def by_email(session: Session, email: str) -> Person | None:
    address = email.strip().lower()
    supporter = session.exec(
        select(Supporter).where(func.lower(Supporter.email) == address)
    ).first()
    if supporter is not None:
        return _from_supporter(session, supporter)
    contact = session.exec(select(Contact).where(func.lower(Contact.email) == address)).first()
    return _from_contact(session, contact) if contact is not None else None


def link_slack_user(session: Session, slack_user_id: str, email: str) -> Person | None:
    """Match an unknown Slack user by their profile email and remember the link."""
    address = email.strip().lower()
    supporter = session.exec(
        select(Supporter).where(func.lower(Supporter.email) == address)
    ).first()
    if supporter is not None and supporter.slack_user_id in (None, slack_user_id):
        supporter.slack_user_id = slack_user_id
        session.add(supporter)
        session.flush()
        return _from_supporter(session, supporter)
    contact = session.exec(select(Contact).where(func.lower(Contact.email) == address)).first()
    if contact is not None and contact.slack_user_id in (None, slack_user_id):
        contact.slack_user_id = slack_user_id
        session.add(contact)
        session.flush()
        return _from_contact(session, contact)
    return None


def team_slack_ids(session: Session) -> list[str]:
    rows = session.exec(
        select(Supporter.slack_user_id).where(
            Supporter.role == SupporterRole.coordinator.value,
            col(Supporter.slack_user_id).is_not(None),
        )
    ).all()
    return [r for r in rows if r]


# Everyone with an App Home: a supporter or a contact with a Slack id.
_WITH_SLACK = union(
    core_select(_supporter.c.slack_user_id).where(_supporter.c.slack_user_id.is_not(None)),
    core_select(_contact.c.slack_user_id).where(_contact.c.slack_user_id.is_not(None)),
)


def all_slack_ids(session: Session) -> list[str]:
    """The Slack ids of everyone we know (supporters and contacts), each once, sorted."""
    found = session.connection().execute(_WITH_SLACK).scalars()
    return sorted(u for u in found if u)


# Everyone who sees a region (the rule of `Person.region_codes`), asked at every change of it.
_SEEING = union(
    core_select(_contact.c.slack_user_id)
    .join(_region_contact, _region_contact.c.contact_id == _contact.c.id)
    .where(_region_contact.c.region_id == bindparam("region_id")),
    core_select(_supporter.c.slack_user_id)
    .join(_region, _region.c.critical_friend_id == _supporter.c.id)
    .where(_region.c.id == bindparam("region_id")),
    core_select(_supporter.c.slack_user_id).where(
        _supporter.c.role == SupporterRole.coordinator.value
    ),
)


def slack_ids_seeing(session: Session, region_id: int) -> list[str]:
    """The Slack ids of everyone who sees this region: its contacts, its critical
    friend and the team, each once, sorted."""
    found = session.connection().execute(_SEEING, {"region_id": region_id}).scalars()
    return sorted(u for u in found if u)


# The same for several regions at once (an import that changes who sees what).
_SEEING_ANY = union(
    core_select(_contact.c.slack_user_id)
    .join(_region_contact, _region_contact.c.contact_id == _contact.c.id)
    .where(_region_contact.c.region_id.in_(bindparam("region_ids", expanding=True))),
    core_select(_supporter.c.slack_user_id)
    .join(_region, _region.c.critical_friend_id == _supporter.c.id)
    .where(_region.c.id.in_(bindparam("region_ids", expanding=True))),
    core_select(_supporter.c.slack_user_id).where(
        _supporter.c.role == SupporterRole.coordinator.value
    ),
)


def slack_ids_seeing_any(session: Session, region_ids: Iterable[int]) -> list[str]:
    """The Slack ids of everyone who sees one of these regions (and the team), sorted."""
    ids = sorted(set(region_ids))
    found = session.connection().execute(_SEEING_ANY, {"region_ids": ids}).scalars()
    return sorted(u for u in found if u)
