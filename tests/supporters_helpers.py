"""People and requests for the supporters' tests: a small team around ZEELAND."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from models import requests as rq
from models.actor import Actor
from models.db import transaction
from models.tables import Contact, Region, RegionContact, SchoolHoliday, Supporter
from models.types import Channel
from tests.conftest import NOW, TEAM

CONTACT = Actor("slack:UZEE", Channel.slack)


def add_supporter(engine: Engine, email: str, name: str, **fields: Any) -> int:
    fields.setdefault("role", "specialist")
    with transaction(engine) as session:
        supporter = Supporter(email=email, name=name, **fields)
        session.add(supporter)
        session.flush()
        assert supporter.id is not None
        return supporter.id


def team(engine: Engine) -> dict[str, int]:
    """ZEELAND's critical friend Carla (Slack), specialists Anton and Bea, coordinator Coby."""
    ids = {
        "carla": add_supporter(
            engine,
            "cf@sto.example",
            "Carla Vriend",
            role="critical_friend",
            themes="doorlopende-leerlijnen;regionale-plannen",
            slack_user_id="UCF",
        ),
        "anton": add_supporter(
            engine, "anton@sto.example", "Anton Aalders", themes="techniekpromotie"
        ),
        "bea": add_supporter(
            engine,
            "bea@sto.example",
            "Bea Bakker",
            themes="duurzaamheid;doorlopende-leerlijnen",
            slack_user_id="UBEA",
            language="en",
        ),
        "coby": add_supporter(
            engine, "coord@sto.example", "Coby Ordina", role="coordinator", slack_user_id="UTEAM"
        ),
    }
    with transaction(engine) as session:
        region = session.exec(select(Region).where(Region.code == "ZEELAND")).one()
        region.critical_friend_id = ids["carla"]
        session.add(region)
        contact = Contact(email="zee@school.example", name="Zeger Zeeuw", slack_user_id="UZEE")
        session.add(contact)
        session.flush()
        assert region.id is not None and contact.id is not None
        session.add(RegionContact(region_id=region.id, contact_id=contact.id))
        ids["contact"] = contact.id
    return ids


def christmas(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(
            SchoolHoliday(
                school_year="2026-2027",
                name="kerstvakantie",
                zone="alle",
                starts_on=date(2026, 12, 19),
                ends_on=date(2027, 1, 3),
            )
        )


def request(
    engine: Engine,
    *,
    half_days: int = 2,
    theme: str = "",
    start: date | None = None,
    end: date | None = None,
    contact_id: int | None = None,
    status: str = "submitted",
    supporter: str | None = None,
    days: list[date] | None = None,
) -> str:
    """Submit (and approve, assign, schedule as asked) a ZEELAND request; returns its ref."""
    with transaction(engine) as session:
        new = rq.NewRequest(
            region="ZEELAND",
            kind="process",
            half_days=half_days,
            theme=theme,
            preferred_from=start,
            preferred_to=end,
            requester_contact_id=contact_id,
        )
        ref = rq.submit(session, new, CONTACT, NOW).ref
        if supporter:
            rq.assign(session, ref, TEAM, NOW, supporter_email=supporter)
        if status in ("approved", "scheduled"):
            rq.approve(session, ref, TEAM, NOW)
        if status == "scheduled":
            rq.schedule(session, ref, TEAM, NOW, days=days or [])
    return ref


def assignee(engine: Engine, ref: str) -> str | None:
    with Session(engine) as session:
        found = rq.get_request(session, ref)
        if found.assigned_supporter_id is None:
            return None
        supporter = session.get(Supporter, found.assigned_supporter_id)
        assert supporter is not None
        return supporter.email
