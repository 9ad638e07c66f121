"""Allowance periods (calendar years such as "2027")."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from models.errors import NoCurrentPeriod, UnknownPeriod
from models.tables import Period


def known_codes(session: Session) -> list[str]:
    return list(session.exec(select(Period.code).order_by(col(Period.starts_on))).all())


def get_period(session: Session, code: str) -> Period:
    period = session.exec(select(Period).where(Period.code == code.strip())).first()
    if period is None:
        raise UnknownPeriod(code, known_codes(session))
    return period


def period_on(session: Session, day: date) -> Period:
    period = session.exec(
        select(Period).where(Period.starts_on <= day, Period.ends_on >= day)
    ).first()
    if period is None:
        raise NoCurrentPeriod(day.isoformat())
    return period


def resolve_period(session: Session, code: str | None, today: date) -> Period:
    return get_period(session, code) if code else period_on(session, today)


def next_period(session: Session, period: Period) -> Period | None:
    return session.exec(
        select(Period).where(Period.starts_on > period.ends_on).order_by(col(Period.starts_on))
    ).first()
