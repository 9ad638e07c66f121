"""Looking up regions, contacts and supporters by what people type."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.errors import UnknownRegion, UnknownSupporter
from models.tables import Region, Supporter


def get_region(session: Session, code: str) -> Region:
    """A region by its code, case-insensitively ("zeeland" finds ZEELAND)."""
    region = session.exec(
        select(Region).where(func.upper(Region.code) == code.strip().upper())
    ).first()
    if region is None:
        raise UnknownRegion(code)
    return region


def all_regions(session: Session) -> list[Region]:
    return list(session.exec(select(Region).order_by(col(Region.code))).all())


def get_supporter(session: Session, email: str) -> Supporter:
    supporter = session.exec(
        select(Supporter).where(func.lower(Supporter.email) == email.strip().lower())
    ).first()
    if supporter is None:
        raise UnknownSupporter(email)
    return supporter
