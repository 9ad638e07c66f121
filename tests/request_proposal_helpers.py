"""A small world for the request-proposal tests: ZEELAND, a requester by mail, a colleague on
Slack, the assigned supporter Anton (mail) and another supporter Bea (Slack)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import requests as rq
from models.db import transaction
from models.tables import Contact, Notification, Region, RegionContact, Supporter
from tests.conftest import NOW, TEAM, RegionFactory

# 2027-01-11 is a Monday; a request of 3 half days needs two days.
OPTIONS = [
    [date(2027, 1, 12), date(2027, 1, 13)],
    [date(2027, 1, 19), date(2027, 1, 20)],
    [date(2027, 1, 26), date(2027, 1, 27)],
]
WINDOW = (date(2027, 1, 11), date(2027, 2, 12))


@dataclass
class World:
    region: int
    requester: int  # contact by mail, who submitted
    colleague: int  # another contact of the region, on Slack
    anton: int  # the assigned supporter (mail)
    bea: int  # another supporter (Slack)


def world(engine: Engine, make_region: RegionFactory, *, requester_on_slack: str = "") -> World:
    region = make_region("ZEELAND", days="10")
    with transaction(engine) as session:
        anton = Supporter(email="anton@sto.example", name="Anton Aalders", role="specialist")
        bea = Supporter(
            email="bea@sto.example", name="Bea Bakker", role="specialist", slack_user_id="UBEA"
        )
        requester = Contact(
            email="jan@school.example", name="Jan Jansen", slack_user_id=requester_on_slack or None
        )
        colleague = Contact(email="els@school.example", name="Els Eerland", slack_user_id="UELS")
        session.add_all([anton, bea, requester, colleague])
        session.flush()
        for contact in (requester, colleague):
            assert contact.id is not None and region.id is not None
            session.add(RegionContact(region_id=region.id, contact_id=contact.id))
        assert region.id and anton.id and bea.id and requester.id and colleague.id
        return World(region.id, requester.id, colleague.id, anton.id, bea.id)


def approved_request(
    engine: Engine, w: World, half_days: int = 3, *, assign: bool = True, contact: bool = True
) -> str:
    """An approved request of ZEELAND in the window, assigned to Anton."""
    new = rq.NewRequest(
        region="ZEELAND",
        kind="process",
        half_days=half_days,
        preferred_period="januari 2027",
        preferred_from=WINDOW[0],
        preferred_to=WINDOW[1],
        requester_contact_id=w.requester if contact else None,
    )
    with transaction(engine) as session:
        ref = rq.submit(session, new, TEAM, NOW).ref
        rq.approve(session, ref, TEAM, NOW)
        if assign:
            rq.assign(session, ref, TEAM, NOW, supporter_email="anton@sto.example")
        return ref


def rows(session: Session, template: str | None = None) -> list[Notification]:
    query = select(Notification)
    if template is not None:
        query = query.where(Notification.template == template)
    return list(session.exec(query.order_by(col(Notification.id))).all())


def region_of(session: Session, w: World) -> Region:
    region = session.get(Region, w.region)
    assert region is not None
    return region
