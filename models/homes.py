"""Keeping App Homes current: the domain says whose view changed, the outbox carries it.

An App Home shows what the data says when it is built (balances, open
requests, visits, theme meetings). So the domain only says what changed:
`region_changed` (a balance, a request or a visit of that region) or
`team_changed` (what only the team's home shows: theme meetings), in the
transaction of the change. Who sees it follows the rights in `models.people`:
a region's contacts, its critical friend and the team; only people with a
Slack id have an App Home. Each of them gets a row on the "home" channel with
their Slack id as recipient and no content: the channel builds the view from
the database when it delivers the row, so one waiting row per person is enough.

Where the changes are asked for (one hook per kind of data, not per verb):
- `ledger._append`: every balance change (requests, visits reserved, released
  or consumed, `sto quota adjust`, grants, roll-over);
- `requests._announce`: every request transition and assignment, also those
  without a ledger entry (approve, schedule, assign);
- `visits._touch`: a visit's day or status (a proposal shows in no home);
- `meetings`: `team_changed` when a meeting is created, edited or cancelled
  and when registrations change;
- imports (`csvimport.run_import`, with `TableKind.seen_by` per kind):
  `people_changed` for whoever saw a written record before and whoever sees it
  after (a region's old and new critical friend, a contact's old and new Slack id);
- the periodic job `home_refresh` (scheduling/rules.py): `everyone_changed` early
  each working day, since a home also shows "this week" and what is upcoming, which
  change with the calendar and not with the data.
An absence changes homes only through what it moves (`requests.assign`, visits).

Coalescing, so a burst (a roll-over of 77 regions, a run of submissions) is not
hundreds of `views.publish` calls:
- a change joins the person's waiting row and locks it for the rest of its
  transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the
  transaction's write lock already keeps the dispatcher out): the dispatcher
  cannot take that row and show the home before this change is committed;
- when that row is locked by another transaction, or already taken, the change
  adds a new row (so a waiting row is never one that misses the change);
- a row falls due `DELAY` after the change, so changes in quick succession
  (each waking the dispatcher) join it too;
- within one transaction a region, the team and each person are looked at once;
- delivering one row cancels that person's other waiting rows (`covered`): the
  view built afterwards shows what all of them were for.

Without Slack nothing builds a view: `sto run` then cancels these rows as not
applicable (`scheduling.dispatcher.Discard`); they never fall back to mail (the
fallback is for direct messages only), and without `sto run` one row per
person waits (more only while transactions ran side by side).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import outbox, people
from models.tables import Notification
from models.types import NotificationStatus

CHANNEL = outbox.OutboxChannel.home
TEMPLATE = "app_home"
# A refresh waits this long, so that changes in quick succession (a run of Slack
# submissions, each waking the dispatcher) join it instead of each being published.
DELAY = timedelta(seconds=3)
_MEMO = "sto_homes"  # session.info: what this transaction already asked for


def region_changed(session: Session, region_id: int, now: datetime) -> None:
    """A balance, a request or a visit of this region changed: refresh every home that shows it."""
    _refresh(
        session, ("region", region_id), partial(people.slack_ids_seeing, session, region_id), now
    )


def team_changed(session: Session, now: datetime) -> None:
    """Something only the team's home shows changed (theme meetings): refresh the team's homes."""
    _refresh(session, ("team",), partial(people.team_slack_ids, session), now)


def people_changed(session: Session, slack_ids: Iterable[str], now: datetime) -> int:
    """What these people's homes show changed, or who they are (an import: a region's
    critical friend, a contact's regions, a Slack id, a role): refresh their homes.
    Returns how many were asked for."""
    users = sorted({u for u in slack_ids if u})
    return _refresh(session, ("people", tuple(users)), lambda: users, now)


def everyone_changed(session: Session, now: datetime) -> int:
    """The calendar moved on (a new working day: "this week", "upcoming"): refresh every
    App Home. Returns how many people were asked for (each joins a waiting row if any)."""
    return _refresh(session, ("everyone",), partial(people.all_slack_ids, session), now)


def _refresh(
    session: Session, scope: Hashable, audience: Callable[[], list[str]], now: datetime
) -> int:
    if _asked(session, scope):
        return 0
    users = [u for u in audience() if not _asked(session, ("user", u))]
    if users:
        # Locked until this transaction ends: delivered after it, so with this change.
        held = set(
            session.exec(
                select(Notification.recipient)
                .where(
                    Notification.channel == CHANNEL.value,
                    col(Notification.recipient).in_(users),
                    Notification.status == NotificationStatus.pending.value,
                )
                .with_for_update(skip_locked=True)
            ).all()
        )
        for user_id in users:
            if user_id not in held:
                # A key of its own (no earlier row to find): `outbox.enqueue` without its lookup.
                session.add(
                    Notification(
                        dedupe_key=f"home:{user_id}:{secrets.token_hex(8)}",
                        template=TEMPLATE,
                        channel=CHANNEL.value,
                        recipient=user_id,
                        due_at=now + DELAY,
                        created_at=now,
                    )
                )
            _remember(session, ("user", user_id))
        session.flush()
    _remember(session, scope)
    return len(users)


def covered(session: Session, user_id: str, delivering: int, now: datetime) -> int:
    """About to build `user_id`'s home for row `delivering`: that view shows everything
    the person's other committed rows were for, so they are cancelled. A row still
    locked by an open transaction is left alone (its change is not visible yet)."""
    ids = session.exec(
        select(Notification.id)
        .where(
            Notification.channel == CHANNEL.value,
            Notification.recipient == user_id,
            col(Notification.status).in_(
                [NotificationStatus.pending.value, NotificationStatus.sending.value]
            ),
            Notification.id != delivering,
        )
        .with_for_update(skip_locked=True)
    ).all()
    if not ids:
        return 0
    session.execute(
        update(Notification)
        .where(col(Notification.id).in_(ids))
        .values(
            status=NotificationStatus.cancelled.value,
            last_error=f"covered by {delivering} at {now.isoformat()}",
            lease_until=None,
        )
    )
    return len(ids)


# --- once per transaction ---------------------------------------------------------------
# What was asked is remembered with the (nested) transaction it was asked in: it holds
# while that transaction is this one or one that encloses it. A savepoint rolled back
# (a mail whose second command fails) or a commit forgets it.


def _current(session: Session) -> Any:
    return session.get_nested_transaction() or session.get_transaction()


def _asked(session: Session, what: Hashable) -> bool:
    asked_in = session.info.get(_MEMO, {}).get(what)
    if asked_in is None or not asked_in.is_active:
        return False
    here = _current(session)
    while here is not None:
        if here is asked_in:
            return True
        here = here.parent
    return False


def _remember(session: Session, what: Hashable) -> None:
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    memo[what] = _current(session)
