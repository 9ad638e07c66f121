"""A small world for the visit tests: ZEELAND (Amsterdam) and BES (Kralendijk), one critical
friend each, a contact on Slack and one by mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import visits as vs
from models.db import transaction
from models.tables import Contact, Notification, Region, RegionContact, Supporter
from tests.conftest import RegionFactory

CF_SLACK = "UCFV"
CONTACT_SLACK = "UZEEV"


@dataclass
class World:
    zeeland: int
    bes: int
    cf: int  # ZEELAND's critical friend (on Slack)
    cf_bes: int  # BES's critical friend (mail only)
    zee_slack: int  # contact of ZEELAND on Slack
    zee_mail: int  # contact of ZEELAND by mail
    bes_mail: int  # contact of BES by mail


def world(engine: Engine, make_region: RegionFactory) -> World:
    zeeland = make_region("ZEELAND", visits=4)
    bes = make_region("BES", visits=4, tz="America/Kralendijk")
    with transaction(engine) as session:
        cf = Supporter(
            email="carla@sto.example", name="Carla Vriend", role="critical_friend",
            slack_user_id=CF_SLACK, max_visits_per_day=1, max_visits_per_week=3,
        )  # fmt: skip
        cf_bes = Supporter(email="bas@sto.example", name="Bas Bonaire", role="critical_friend")
        session.add_all([cf, cf_bes])
        session.flush()
        z = session.get(Region, zeeland.id)
        b = session.get(Region, bes.id)
        assert z is not None and b is not None
        z.critical_friend_id = cf.id
        b.critical_friend_id = cf_bes.id
        b.holiday_zone = None
        session.add_all([z, b])
        contacts = [
            Contact(email="zee@school.example", name="Zeger Zeeuw", slack_user_id=CONTACT_SLACK),
            Contact(email="zee2@school.example", name="Zoë Zand"),
            Contact(email="bes@school.example", name="Bianca Bonaire", language="en"),
        ]
        session.add_all(contacts)
        session.flush()
        for contact, region in zip(contacts, (z, z, b), strict=True):
            assert contact.id is not None and region.id is not None
            session.add(RegionContact(region_id=region.id, contact_id=contact.id))
        ids = [c.id for c in contacts]
        assert cf.id and cf_bes.id and z.id and b.id and all(ids)
        return World(z.id, b.id, cf.id, cf_bes.id, ids[0] or 0, ids[1] or 0, ids[2] or 0)


def proposed_visit(
    engine: Engine,
    region_id: int,
    supporter_id: int,
    options: tuple[date, ...],
    number: int = 1,
    window: tuple[date, date] | None = None,
) -> tuple[int, int]:
    """A visit with an open proposal of these days: (visit id, proposal id)."""
    from models.periods import get_period
    from tests.conftest import NOW, TEAM

    with transaction(engine) as session:
        period = get_period(session, str(options[0].year))
        lo, hi = window or (min(options), max(options))
        [proposal] = vs.apply_plan(
            session,
            period,
            [vs.NewVisit(region_id, supporter_id, number, lo, hi, options)],
            TEAM,
            NOW,
        )
        assert proposal.id is not None
        return proposal.visit_id, proposal.id


def rows(
    session: Session, template: str | None = None, status: str | None = None
) -> list[Notification]:
    query = select(Notification)
    if template is not None:
        query = query.where(Notification.template == template)
    if status is not None:
        query = query.where(Notification.status == status)
    return list(session.exec(query.order_by(col(Notification.id))).all())
