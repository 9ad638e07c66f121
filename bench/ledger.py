"""Benchmark of the quota ledger on SQLite and PostgreSQL, each figure beside its baseline.

    .venv/bin/python bench/ledger.py [--postgres URL] [--requests N]
                                     [--repetitions R] [--throughput M] [--no-postgres]

Speed targets live here, never in timed unit tests. Every figure is measured
in the same run, on the same machine, next to a baseline, after a warm-up
pass that is not counted:

1. `models.quota.overview` for the current period (77 regions, two allowance
   kinds each) after N requests went through the lifecycle, against a loop
   that calls `models.ledger.balance_of` for every allowance. Median and p95
   (nearest rank) over the repetitions, taken in turns (A, B, A, B, ...) so
   that drift hits both alike, and the ratio of the medians.
2. Reservation throughput: `models.requests.submit`, one request per
   transaction, sequentially, against plain INSERTs of as many rows into a
   scratch table, one row per transaction. Both go through
   `models.db.transaction` on the same engine (BEGIN IMMEDIATE on SQLite, a
   pooled connection with pre-ping on PostgreSQL), so the difference is the
   cost of the row lock, the derived balance check and the domain writes.
3. Peak memory (tracemalloc) of one overview call, and of one baseline loop.

Each database runs in its own process: the two data sets are built side by
side (that part is not measured), then the databases are measured one after
the other, so no measurement shares the machine with the other database's
work. SQLite runs on a temporary file. PostgreSQL runs in its own schema
`sto_bench` (dropped and recreated at the start, dropped at the end), so the
`public` schema of the test suite is never touched.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import platform
import queue
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.queues import Queue as QueueType
from multiprocessing.synchronize import Barrier as BarrierType
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import sqlalchemy
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    text,
)
from sqlmodel import Session, col, select

from models import ledger, quota, requests, schema
from models.actor import Actor
from models.db import is_sqlite, make_engine, transaction
from models.periods import period_on
from models.reference import seed
from models.tables import Allowance, Period, Region, SupportRequest
from models.types import AllowanceKind, Channel, SupportKind

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "sto_bench"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SYSTEM = Actor.system()
TEAM = Actor("cli:bench", Channel.cli)
KINDS = list(SupportKind)
# December 2026: the dates a scheduled request in period 2026 can still take.
DECEMBER = [date(2026, 12, 1) + timedelta(days=d) for d in range(31)]
SETUP_BATCH = 250  # requests per transaction while building the data set (not measured)
ROUNDS = 5  # the throughput runs alternate submit and INSERT in this many rounds

scratch_metadata = MetaData()
scratch = Table(
    "bench_scratch",
    scratch_metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(20), nullable=False),
    Column("half_days", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Options:
    requests: int
    repetitions: int
    throughput: int
    warmup: int


@dataclass(frozen=True)
class Summary:
    median_ms: float
    p95_ms: float


@dataclass
class Figures:
    label: str
    version: str = ""
    setup_s: float = 0.0
    requests_in_db: int = 0
    overview_lines: int = 0
    overview: Summary | None = None
    loop: Summary | None = None
    submit_per_s: float = 0.0
    insert_per_s: float = 0.0
    overview_peak_kib: float = 0.0
    loop_peak_kib: float = 0.0
    load_before: float = 0.0  # 1-minute load average when its measurements began
    load_after: float = 0.0


# --- what is measured ------------------------------------------------------


Row = tuple[str, str, int, int, int]


def _rows(lines: list[quota.QuotaLine]) -> list[Row]:
    return [
        (
            line.region.code,
            line.balance.kind.value,
            line.balance.granted,
            line.balance.reserved,
            line.balance.used,
        )
        for line in lines
    ]


def overview_query(engine: Engine, period: Period) -> list[quota.QuotaLine]:
    with Session(engine) as session:
        return quota.overview(session, period)


def balance_loop(engine: Engine, period: Period) -> list[quota.QuotaLine]:
    """The baseline: the same table, one `balance_of` query per allowance."""
    with Session(engine) as session:
        pairs = session.exec(
            select(Allowance, Region)
            .join(Region, col(Region.id) == col(Allowance.region_id))
            .where(Allowance.period_id == period.id)
        ).all()
        lines = [
            quota.QuotaLine(region, period, ledger.balance_of(session, allowance))
            for allowance, region in pairs
        ]
    order = {AllowanceKind.support_days: 0, AllowanceKind.cf_visits: 1}
    lines.sort(key=lambda line: (line.region.code, order[line.balance.kind]))
    return lines


def _timed_ms(call: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6


def _summary(samples: list[float]) -> Summary:
    ordered = sorted(samples)
    rank = math.ceil(0.95 * len(ordered))  # nearest rank
    return Summary(statistics.median(ordered), ordered[max(rank, 1) - 1])


def _peak_kib(call: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1024


def _new_request(region: str, i: int) -> requests.NewRequest:
    return requests.NewRequest(
        region=region,
        kind=KINDS[i % len(KINDS)].value,
        half_days=1 + i % 4,
        theme=f"bench theme {i % 7}",
        description=f"benchmark request {i}",
    )


def _submit_one(engine: Engine, region: str, i: int) -> None:
    with transaction(engine) as session:
        requests.submit(session, _new_request(region, i), TEAM, NOW)


def _insert_one(engine: Engine, i: int) -> None:
    with transaction(engine) as session:
        session.execute(
            insert(scratch).values(ref=f"BENCH-{i:06d}", half_days=1 + i % 4, created_at=NOW)
        )


def measure_throughput(
    engine: Engine, regions: list[str], opts: Options, offset: int
) -> tuple[float, float]:
    """Requests/s of `submit` and rows/s of bare INSERTs, one per transaction, in turns."""
    n = 0

    def submits(count: int) -> float:
        nonlocal n
        gc.collect()
        start = time.perf_counter()
        for _ in range(count):
            i = offset + n
            _submit_one(engine, regions[i % len(regions)], i)
            n += 1
        return time.perf_counter() - start

    m = 0

    def inserts(count: int) -> float:
        nonlocal m
        gc.collect()
        start = time.perf_counter()
        for _ in range(count):
            _insert_one(engine, m)
            m += 1
        return time.perf_counter() - start

    submits(opts.warmup)
    inserts(opts.warmup)
    rounds = ROUNDS
    chunk = opts.throughput // rounds
    submit_s = insert_s = 0.0
    for _ in range(rounds):
        submit_s += submits(chunk)
        insert_s += inserts(chunk)
    return chunk * rounds / submit_s, chunk * rounds / insert_s


# --- the data set ----------------------------------------------------------


def _plan(i: int) -> str:
    """Where request i ends up: 30% submitted, 15% approved, 15% scheduled,
    25% completed (some partly used), 10% cancelled, 5% rejected."""
    slot = i % 20
    if slot < 6:
        return "submitted"
    if slot < 9:
        return "approved"
    if slot < 12:
        return "scheduled"
    if slot < 17:
        return "completed"
    if slot < 19:
        return "cancelled"
    return "rejected"


def build(engine: Engine, opts: Options) -> tuple[Period, list[str]]:
    """Migrate, seed, raise every allowance, then run N requests through the lifecycle."""
    schema.upgrade(engine)
    with transaction(engine) as session:
        seed(session, SYSTEM, NOW)
    with transaction(engine) as session:
        period = period_on(session, NOW.date())
        regions = session.exec(select(Region).order_by(col(Region.code))).all()
        codes = [r.code for r in regions]
        total = opts.requests + opts.throughput + 2 * opts.warmup
        # Enough room for every request the run will submit, at up to 4 half days each.
        raise_by = 4 * math.ceil(total / len(regions)) + 10
        for region in regions:
            allowance = ledger.find_allowance(session, region, period, AllowanceKind.support_days)
            assert allowance.id is not None
            ledger.adjust(session, allowance.id, raise_by, TEAM, NOW, reason="benchmark room")
    refs: list[str] = []
    for start in range(0, opts.requests, SETUP_BATCH):
        with transaction(engine) as session:
            for i in range(start, min(start + SETUP_BATCH, opts.requests)):
                new = _new_request(codes[i % len(codes)], i)
                request = requests.submit(session, new, TEAM, NOW)
                refs.append(request.ref)
    for start in range(0, len(refs), SETUP_BATCH):
        with transaction(engine) as session:
            for i in range(start, min(start + SETUP_BATCH, len(refs))):
                _move(session, refs[i], i)
    return period, codes


def _move(session: Session, ref: str, i: int) -> None:
    target = _plan(i)
    half_days = 1 + i % 4
    if target == "submitted":
        return
    if target == "rejected":
        requests.reject(session, ref, TEAM, NOW, reason="benchmark")
        return
    requests.approve(session, ref, TEAM, NOW)
    if target == "cancelled" and i % 2:
        requests.cancel(session, ref, TEAM, NOW, reason="benchmark")
        return
    if target == "approved":
        return
    days = [DECEMBER[(i + d) % len(DECEMBER)] for d in range(math.ceil(half_days / 2))]
    requests.schedule(session, ref, TEAM, NOW, days=days)
    if target == "cancelled":
        requests.cancel(session, ref, TEAM, NOW, reason="benchmark")
    elif target == "completed":
        used = half_days - 1 if i % 3 == 0 and half_days > 1 else None
        requests.complete(session, ref, TEAM, NOW, used_half_days=used)


# --- one database ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    postgres_url: str | None  # None: a temporary SQLite file


@dataclass(frozen=True)
class Sync:
    """Setups run side by side; measurements run one database at a time, in order."""

    setup_done: BarrierType
    my_turn: EventType | None
    turn_over: EventType


def measure(
    engine: Engine, period: Period, codes: list[str], figures: Figures, opts: Options
) -> None:
    # Both must say the same thing, or the comparison means nothing.
    fast, slow = overview_query(engine, period), balance_loop(engine, period)
    if _rows(fast) != _rows(slow):
        raise RuntimeError(f"{figures.label}: overview and balance_of loop disagree")
    figures.overview_lines = len(fast)

    for _ in range(3):  # warm-up: connection pool, statement caches, page cache
        overview_query(engine, period)
        balance_loop(engine, period)
    fast_ms: list[float] = []
    slow_ms: list[float] = []
    for _ in range(opts.repetitions):
        fast_ms.append(_timed_ms(lambda: overview_query(engine, period)))
        slow_ms.append(_timed_ms(lambda: balance_loop(engine, period)))
    figures.overview, figures.loop = _summary(fast_ms), _summary(slow_ms)

    figures.overview_peak_kib = _peak_kib(lambda: overview_query(engine, period))
    figures.loop_peak_kib = _peak_kib(lambda: balance_loop(engine, period))

    figures.submit_per_s, figures.insert_per_s = measure_throughput(
        engine, codes, opts, offset=opts.requests
    )
    with Session(engine) as session:
        figures.requests_in_db = session.exec(select(func.count(col(SupportRequest.id)))).one()
    if not all(line.balance.available >= 0 for line in overview_query(engine, period)):
        raise RuntimeError(f"{figures.label}: a negative balance")


def worker(target: Target, opts: Options, sync: Sync, results: QueueType[Figures]) -> None:
    """One database, in its own process: build the data set, wait for the others, measure."""
    figures = Figures(target.label)
    try:
        with _engine(target) as engine:
            figures.version = _version(engine)
            started = time.perf_counter()
            period, codes = build(engine, opts)
            scratch_metadata.create_all(engine)
            if not is_sqlite(engine):
                # Autovacuum would do this soon after such a load; do it now, not mid-run.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            figures.setup_s = time.perf_counter() - started
            sync.setup_done.wait()
            if sync.my_turn is not None:
                sync.my_turn.wait()
            figures.load_before = os.getloadavg()[0]
            measure(engine, period, codes, figures, opts)
            figures.load_after = os.getloadavg()[0]
        results.put(figures)
    except BaseException:
        sync.setup_done.abort()  # nobody waits for a setup that will never finish
        raise
    finally:
        sync.turn_over.set()


@contextmanager
def _engine(target: Target) -> Iterator[Engine]:
    if target.postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="sto-bench-") as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    base = make_engine(target.postgres_url)
    try:
        with base.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine = make_engine(
            target.postgres_url, connect_args={"options": f"-csearch_path={PG_SCHEMA}"}
        )
        try:
            yield engine
        finally:
            engine.dispose()
            with base.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    finally:
        base.dispose()


def _version(engine: Engine) -> str:
    if is_sqlite(engine):
        return sqlite3.sqlite_version
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]


def run_all(targets: list[Target], opts: Options) -> list[Figures]:
    ctx = multiprocessing.get_context("spawn")
    setup_done = ctx.Barrier(len(targets))
    turns = [ctx.Event() for _ in targets]
    results: QueueType[Figures] = ctx.Queue()
    processes = [
        ctx.Process(
            target=worker,
            args=(target, opts, Sync(setup_done, turns[i - 1] if i else None, turns[i]), results),
            name=f"bench-{target.label}",
        )
        for i, target in enumerate(targets)
    ]
    for process in processes:
        process.start()
    collected: dict[str, Figures] = {}
    try:
        while len(collected) < len(targets):
            if any(p.exitcode not in (None, 0) for p in processes) and results.empty():
                break
            try:
                figures = results.get(timeout=0.5)
            except queue.Empty:
                continue
            collected[figures.label] = figures
    finally:
        for process in processes:
            process.join(timeout=None if len(collected) == len(targets) else 10)
            if process.is_alive():  # e.g. waiting at the barrier for a worker that died
                process.terminate()
                process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise SystemExit(f"benchmark failed in {', '.join(failed)} (traceback above)")
    return [collected[t.label] for t in targets]


# --- the table -------------------------------------------------------------


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def render(results: list[Figures], opts: Options) -> str:
    header = ["", *(f"{r.label} {r.version}".strip() for r in results)]

    def row(name: str, get: Callable[[Figures], str]) -> list[str]:
        return [name, *(get(r) for r in results)]

    def ov(r: Figures) -> Summary:
        assert r.overview is not None
        return r.overview

    def lp(r: Figures) -> Summary:
        assert r.loop is not None
        return r.loop

    lines = [
        header,
        row("quota overview, median ms", lambda r: _fmt(ov(r).median_ms, 2)),
        row("quota overview, p95 ms", lambda r: _fmt(ov(r).p95_ms, 2)),
        row("baseline balance_of loop, median ms", lambda r: _fmt(lp(r).median_ms, 2)),
        row("baseline balance_of loop, p95 ms", lambda r: _fmt(lp(r).p95_ms, 2)),
        row(
            "overview speed-up (median ratio)",
            lambda r: f"{lp(r).median_ms / ov(r).median_ms:.1f}x",
        ),
        row("submit, requests/s (1 per tx)", lambda r: _fmt(r.submit_per_s, 0)),
        row("baseline INSERT, rows/s (1 per tx)", lambda r: _fmt(r.insert_per_s, 0)),
        row(
            "submit time / INSERT time",
            lambda r: f"{r.insert_per_s / r.submit_per_s:.1f}x",
        ),
        row("overview peak memory, KiB", lambda r: _fmt(r.overview_peak_kib, 0)),
        row("baseline loop peak memory, KiB", lambda r: _fmt(r.loop_peak_kib, 0)),
        row("overview lines (allowances)", lambda r: str(r.overview_lines)),
        row("requests in database at the end", lambda r: f"{r.requests_in_db:,}"),
        row("setup (not measured), s", lambda r: _fmt(r.setup_s, 1)),
        row(
            "load average, start/end of measuring",
            lambda r: f"{r.load_before:.1f}/{r.load_after:.1f}",
        ),
    ]
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    out = [
        f"STO ledger benchmark: {opts.requests:,} requests through the lifecycle, "
        f"period 2026, now {NOW:%Y-%m-%d %H:%M} UTC",
        f"overview: {opts.repetitions} runs of each, in turns; throughput: "
        f"{opts.throughput // ROUNDS * ROUNDS:,} of each in {ROUNDS} alternating rounds; "
        "warm-up not counted",
        "data sets built side by side, then measured one database at a time",
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs",
        "",
    ]
    for i, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(widths[c + 1]) for c, cell in enumerate(line[1:])
        ]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _check_reachable(url: str) -> None:
    """Fail in a second, not after the SQLite data set has been built."""
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL not reachable at {url} (--no-postgres skips it): {exc}"
        ) from None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--requests", type=int, default=5_000, metavar="N")
    parser.add_argument("--repetitions", type=int, default=20, metavar="R")
    parser.add_argument(
        "--throughput", type=int, default=500, metavar="M", help="submits (and INSERTs) timed"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repetitions < 1 or args.throughput < ROUNDS:
        parser.error(f"--requests and --repetitions are positive, --throughput >= {ROUNDS}")
    opts = Options(args.requests, args.repetitions, args.throughput, warmup=50)
    targets = [Target("SQLite", None)]
    if not args.no_postgres:
        _check_reachable(args.postgres)
        targets.append(Target("PostgreSQL", args.postgres))
    print(render(run_all(targets, opts), opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
