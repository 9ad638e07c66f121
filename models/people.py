"""Who is who: a Slack user or a mail sender is a contact, a supporter or a team member.

Rights follow from the data: a contact sees and acts for their own region(s);
supporters see the regions they support; coordinators (the team) see all
regions and are the only ones who approve, reject, assign and adjust.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
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


def _contact_regions(session: Session, contact_id: int) -> tuple[str, ...]:
    rows = session.exec(
        select(Region.code)
        .join(RegionContact, col(RegionContact.region_id) == col(Region.id))
        .where(RegionContact.contact_id == contact_id)
        .order_by(col(Region.code))
    ).all()
    return tuple(rows)


def _all_regions(session: Session) -> tuple[str, ...]:
    return tuple(session.exec(select(Region.code).order_by(col(Region.code))).all())


def _from_supporter(session: Session, s: Supporter) -> Person:
    assert s.id is not None
    team = s.role == SupporterRole.coordinator.value
    if team:
        regions = _all_regions(session)
    else:
        regions = tuple(
            session.exec(
                select(Region.code)
                .where(Region.critical_friend_id == s.id)
                .order_by(col(Region.code))
            ).all()
        )
    return Person("supporter", s.id, s.name, s.email, s.language, team, regions)


def _from_contact(session: Session, c: Contact) -> Person:
    assert c.id is not None
    return Person(
        "contact", c.id, c.name, c.email, c.language, False, _contact_regions(session, c.id)
    )


def by_slack_id(session: Session, slack_user_id: str) -> Person | None:
    supporter = session.exec(
        select(Supporter).where(Supporter.slack_user_id == slack_user_id)
    ).first()
    if supporter is not None:
        return _from_supporter(session, supporter)
    contact = session.exec(select(Contact).where(Contact.slack_user_id == slack_user_id)).first()
    return _from_contact(session, contact) if contact is not None else None


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


def supporter_choices(session: Session, region_code: str) -> list[tuple[str, str, bool]]:
    """Supporters to assign for a region: its critical friend first, then by name.

    (email, name, is the region's critical friend). Ranking by theme and free
    capacity comes with the planner.
    """
    region = session.exec(select(Region).where(Region.code == region_code)).first()
    cf_id = region.critical_friend_id if region else None
    rows = session.exec(
        select(Supporter)
        .where(Supporter.active, Supporter.role != SupporterRole.coordinator.value)
        .order_by(col(Supporter.name))
    ).all()
    ranked = sorted(rows, key=lambda s: (s.id != cf_id, s.name))
    return [(s.email, s.name, s.id == cf_id) for s in ranked]
