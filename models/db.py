"""Engines and transactions for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite runs in WAL mode with foreign keys and a busy timeout, and every
transaction starts with `BEGIN IMMEDIATE`: it takes the write lock up front,
so two writers queue instead of both reading a balance and then failing (or
worse, both deciding it fits). Read-only work (`reading`) starts a plain
BEGIN and takes no write lock. On PostgreSQL the domain locks the scarce row
with `SELECT … FOR UPDATE` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, create_engine

M = TypeVar("M", bound=SQLModel)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connections kept open to a SQLite file: more than the worker threads that use them
# (asyncio's default executor has up to 32; on 2 cores, 6). Beyond the pool an
# overflow connection is opened and closed per use, and every new SQLite connection
# sets its pragmas and reads the schema again: with the default pool of 5 that churn
# cost the Slack endpoint about a quarter of its throughput under load.
SQLITE_POOL_SIZE = 20
READ_ONLY = "sto_read_only"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here: it is the driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers need no write lock: in WAL mode they see a consistent snapshot.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# One lock per SQLite engine: writers of this process queue on it in turn,
# instead of SQLite's busy handler, which sleeps in growing steps and lets a
# writer wait seconds under load. Other processes still meet the busy timeout.
_writer_locks: dict[int, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if not is_sqlite(engine):
        return None
    with _writer_locks_guard:
        return _writer_locks.setdefault(id(engine.pool), threading.Lock())


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls everything back on error.

    Domain functions only flush; the caller (a channel, a job) owns this block,
    so several domain calls can share one transaction.
    """
    lock = _writer_lock(engine)
    with (
        lock if lock is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
    ):
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only unit of work: no write lock on SQLite, never commits anything.

    Closing the session ends its transaction; the loaded objects stay readable.
    """
    with Session(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False) as session:
        yield session


def insert_new(session: Session, row: M, unique: Sequence[str]) -> M | None:
    """Insert `row` unless one with the same `unique` columns exists: `row`, now in the
    session as stored, or None. One statement (INSERT … ON CONFLICT DO NOTHING
    RETURNING id) instead of a look-up, a savepoint and an insert; on PostgreSQL a
    transaction inserting the same key meanwhile is waited for, and wins if it commits.
    """
    table = type(row).__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    values = {
        column.name: getattr(row, column.key) for column in table.columns if column is not key
    }
    session.flush()  # what the row may refer to goes first, as the ORM's autoflush would
    stmt = _insert_new_statement(session.get_bind().dialect.name, table, tuple(unique))
    new_id = session.connection().execute(stmt, values).scalar()
    if new_id is None:
        return None
    setattr(row, key.key, new_id)
    make_transient_to_detached(row)  # it is stored: the session adopts it without an INSERT
    session.add(row)
    return row


@cache
def _insert_new_statement(dialect: str, table: Table, unique: tuple[str, ...]) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(*table.primary_key.columns)
    )
