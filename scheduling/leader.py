"""A leader lease: one replica at a time runs the periodic jobs.

The lease is a row with a holder and an expiry, taken under a row lock
(`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises
writers). The holder renews it at every tick; when it stops ticking (crash,
shutdown) another replica takes over once the lease has run out.

The lease only saves work: that a job runs once per occurrence is kept by
the unique `JobRun` row written with the job's output, so two replicas that
both believe they lead (a paused process waking after its lease ran out)
still cannot write one occurrence twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.tables import LeaderLease

LEASE = timedelta(minutes=3)


def acquire(
    session: Session, name: str, holder: str, now: datetime, ttl: timedelta = LEASE
) -> bool:
    """Take or renew the lease `name` for `holder`; False while another holds it."""
    try:
        with session.begin_nested():
            session.add(LeaderLease(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        pass  # the row exists: see whose it is, under its lock
    lease = session.exec(
        select(LeaderLease).where(LeaderLease.name == name).with_for_update()
    ).one()
    if lease.holder != holder and lease.expires_at > now:
        return False
    lease.holder = holder
    lease.expires_at = now + ttl
    session.add(lease)
    session.flush()
    return True


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease up at shutdown, so another replica need not wait for it to run out."""
    lease = session.exec(
        select(LeaderLease).where(LeaderLease.name == name).with_for_update()
    ).first()
    if lease is not None and lease.holder == holder:
        session.delete(lease)
        session.flush()


def holder_of(session: Session, name: str, now: datetime) -> str | None:
    lease = session.get(LeaderLease, name)
    return lease.holder if lease is not None and lease.expires_at > now else None
