"""Benchmark of the Slack HTTP endpoint, side by side with a bare Bolt app that only acks.

    .venv/bin/python bench/slack_http.py [--seconds S] [--warmup W] [--clients 1,8,32]
                                         [--workloads saldo,submit] [--regions N]
                                         [--profile FILE]

A default run takes one to two minutes on 2 vCPUs, more on a busy machine.

Issue 3 (Benchmark) sets the target: at 32 concurrent clients on SQLite our app
keeps at least 70% of the bare app's throughput, and its p99 stays under 200 ms.

What runs, each in a process of its own (spawned, so no server shares the load
generator's event loop or GIL):

* the fake Slack Web API (tests.slack_fake.FakeSlackApi); both apps get
  STO_SLACK_API_URL pointing at it, and the response URLs in the slash commands
  point at it too, so our `/sto saldo` answers really travel over HTTP;
* our app, built as `sto run` builds it in HTTP mode: settings from the
  environment, `bot.slack.app.build_app` + `add_http_route` on an aiohttp
  application, on a migrated temporary SQLite file seeded with
  `models.reference.seed` plus one contact with a Slack id in each of N regions;
* a bare `AsyncApp` with the same signing secret, token, Web API client and
  Bolt options (`process_before_response=True` included), whose `/sto` command
  and `request_modal` view handlers only ack, served the same way
  (`add_http_route`).

The load generator (this process, aiohttp client, keep-alive connections) drives
two workloads, one after the other, at each concurrency, our app and the bare
app in turns (ours first at one level, bare first at the next):

* `saldo`: signed `/sto saldo` slash commands from the contacts. Our listener
  reads the balance and answers in the ack when that takes less than a second
  (the load generator counts those answers), else through the response URL
  (the fake Slack counts those); after each of our runs the script waits until
  every answer arrived (`drain ms`: from the last ack until the last answer;
  `answer/s`: measured commands over the time until their last answer), so no
  background work leaks into the next measurement.
* `submit`: signed `view_submission`s of the request modal, all valid: 0,5 day
  for the contact's own region, whose allowance was raised by
  `models.ledger.adjust` so it never runs out. Our listener validates and
  reserves in one transaction before it acks (inline errors need that).

Latency is the time until the HTTP response (the ack) arrived; p50/p99 are
nearest-rank over every measured request. Each run starts with a warm-up at the
same concurrency that is not counted. Throughput is measured requests divided
by the time from the start until the last measured response. `gen` and `srv`
are the CPU used by the load generator and by the server process under test
(100% = one core); a generator near 100% means the bare figure is a floor.
`host` is how busy the whole machine was (all cores,
other work included). `srv cpu` is the server's CPU milliseconds per measured
request (for our saldo until its last answer, so the work after the ack counts),
`all cpu` adds the load generator's and the fake Slack's (which receives our
answers). The lines under the targets turn these into ceilings: on a machine with
C cores, an app whose requests cost T ms of CPU in all, S of them in its one
Python process, cannot pass min(C / T, 1 / S) requests per second, however the
load is driven; the ratio of the two apps' ceilings bounds ours/bare for a
sustained load. (Our saldo acks can outrun that bound for the few seconds of a run,
since its answers queue up behind the acks: `drain ms` shows the backlog.) These
are the figures to read on a busy machine, where throughputs move with other work.
`errors` counts responses that were not a plain ack (a listener that does not
ack within Bolt's 3 s gets no ack at all); they are listed under the table.
The exit status is 0 only when the targets hold and the data checks out.
The saldo workload runs first, so `/sto saldo` reads a ledger of a realistic
size rather than one with thousands of benchmark reservations.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import math
import multiprocessing
import os
import platform
import queue
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue as QueueType
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, col, func, select

from bot.slack import blocks
from bot.slack.app import add_http_route, build_app, web_client
from bot.slack.deps import SlackDeps
from config.settings import Settings, load_settings
from models import ledger
from models.actor import Actor
from models.clock import FixedClock
from models.db import make_engine, transaction
from models.periods import period_on
from models.reference import seed
from models.schema import upgrade
from models.tables import Contact, Region, RegionContact, SupportRequest
from models.types import AllowanceKind

# The tests package lives at the repository root, which is not on the path when the
# script is started as `bench/slack_http.py`.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.slack_fake import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    Call,
    FakeSlackApi,
    interaction_body,
    sign,
    slash_command_body,
    state_date,
    state_select,
    state_text,
    view_submission,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # inside the seeded period 2026
TEAM_CHANNEL = "CTEAM"
RAISE_HALF_DAYS = 10_000_000  # per bench region: the allowance never runs out
WORKLOADS = ("saldo", "submit")
APPS = ("ours", "bare")
TARGET_RATIO = 0.70
TARGET_P99_MS = 200.0
TARGET_CLIENTS = 32
DRAIN_TIMEOUT = 120.0

log = logging.getLogger("bench.slack_http")


@dataclass(frozen=True)
class Seat:
    """A contact with a Slack id and the one region it may request for."""

    user_id: str
    region: str


@dataclass(frozen=True)
class Options:
    seconds: float
    warmup: float
    clients: tuple[int, ...]
    workloads: tuple[str, ...]
    regions: int
    profile: Path | None


@dataclass
class Run:
    workload: str
    clients: int
    app: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    gen_cpu: float = math.nan  # load generator CPU / elapsed (1.0 = one core busy)
    srv_cpu: float = math.nan  # server under test CPU / elapsed
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds: gen, srv, api
    host_busy: float = math.nan  # the whole machine: busy share of all its cores
    drain: float | None = None  # seconds from the last ack until the last saldo answer
    statuses: Counter[str] = field(default_factory=Counter)  # what the failed ones got

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def answered(self) -> float | None:
        """Our saldo answers per second: until the last one reached Slack, not the last ack."""
        if self.drain is None:
            return None
        return self.requests / (self.elapsed + self.drain)

    def cpu_ms(self, *who: str) -> float:
        """CPU milliseconds per measured request spent by these processes; for our
        saldo, until the last answer reached Slack (the work after the ack counts)."""
        if not self.requests or any(w not in self.cpu for w in who):
            return math.nan
        return sum(self.cpu[w] for w in who) / self.requests * 1000

    def percentile(self, p: float) -> float:
        """Nearest rank, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1] * 1000


# --------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------


def build_database(url: str, regions: int) -> list[Seat]:
    """Migrate, seed the reference data, add contacts with Slack ids, raise allowances."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        system = Actor.system()
        with transaction(engine) as session:
            seed(session, system, NOW)
        seats: list[Seat] = []
        with transaction(engine) as session:
            period = period_on(session, NOW.date())
            chosen = session.exec(select(Region).order_by(col(Region.code)).limit(regions)).all()
            for i, region in enumerate(chosen):
                contact = Contact(
                    email=f"bench{i:02d}@bench.example",
                    name=f"Bench Contact {i:02d}",
                    slack_user_id=f"UBENCH{i:02d}",
                )
                session.add(contact)
                session.flush()
                assert region.id is not None and contact.id is not None
                session.add(RegionContact(region_id=region.id, contact_id=contact.id))
                allowance = ledger.find_allowance(
                    session, region, period, AllowanceKind.support_days
                )
                assert allowance.id is not None
                ledger.adjust(
                    session, allowance.id, RAISE_HALF_DAYS, system, NOW, reason="benchmark"
                )
                seats.append(Seat(f"UBENCH{i:02d}", region.code))
        return seats
    finally:
        engine.dispose()


def count_requests(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(SupportRequest)).one())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# The fake Slack Web API (its own process)
# --------------------------------------------------------------------------------------


class CountingSlackApi(FakeSlackApi):
    """FakeSlackApi that counts answers posted to response URLs instead of keeping them,
    so a run of tens of thousands of `/sto saldo` does not fill the memory."""

    def __init__(self, answers: Synchronized[int], balances: Synchronized[int]) -> None:
        super().__init__()
        self._answers = answers
        self._balances = balances

    def _record(self, call: Call) -> None:
        if call.method != "response_url":
            super()._record(call)
            return
        with self._balances.get_lock():  # a balance answer has blocks; an error only text
            self._balances.value += "blocks" in call.args
        with self._answers.get_lock():
            self._answers.value += 1


def fake_api_main(
    ready: QueueType[tuple[str, Any]],
    answers: Synchronized[int],
    balances: Synchronized[int],
    stop: EventType,
) -> None:
    with CountingSlackApi(answers, balances) as api:
        ready.put(("api", api.base))
        stop.wait()


# --------------------------------------------------------------------------------------
# The two apps under test (a process each)
# --------------------------------------------------------------------------------------


def bare_app(settings: Settings, client: AsyncWebClient) -> AsyncApp:
    """The baseline: the same Bolt options as build_app, handlers that only ack."""
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=True,
        ignoring_self_events_enabled=True,
        raise_error_for_unhandled_request=False,
        process_before_response=True,
    )

    @app.command("/sto")
    async def sto(ack: AsyncAck) -> None:
        await ack()

    @app.view(blocks.REQUEST_MODAL)
    async def request_submitted(ack: AsyncAck) -> None:
        await ack()

    return app


async def _serve(which: str, ready: QueueType[tuple[str, Any]], stop: EventType) -> None:
    settings = load_settings()
    engine = make_engine(settings.database_url)
    deps = SlackDeps(settings=settings, engine=engine, clock=FixedClock(NOW))
    bolt = build_app(deps) if which == "ours" else bare_app(settings, web_client(deps))
    web_app = web.Application()
    add_http_route(web_app, bolt)
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.put((which, int(runner.addresses[0][1])))
    # A thread of its own waits for the stop: the default executor is the app's (deps.db).
    with ThreadPoolExecutor(1, thread_name_prefix="bench-stop") as waiter:
        await asyncio.get_running_loop().run_in_executor(waiter, stop.wait)
    await runner.cleanup()
    engine.dispose()


def app_main(
    which: str,
    database_url: str,
    api_base: str,
    ready: QueueType[tuple[str, Any]],
    stop: EventType,
    profile: str | None,
) -> None:
    # Settings come from the environment, as `sto run` reads them.
    os.environ.update(
        {
            "STO_DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "STO_SLACK_MODE": "http",
            "STO_SLACK_API_URL": api_base + "/api/",
            "STO_SLACK_TEAM_CHANNEL": TEAM_CHANNEL,
        }
    )
    logging.basicConfig(level=logging.WARNING, format=f"[{which}] %(levelname)s %(message)s")
    if profile is None:
        asyncio.run(_serve(which, ready, stop))
        return
    profiler = cProfile.Profile()  # the event loop's thread; worker threads are not seen
    profiler.enable()
    try:
        asyncio.run(_serve(which, ready, stop))
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


# --------------------------------------------------------------------------------------
# The load generator
# --------------------------------------------------------------------------------------

BodyMaker = Callable[[int, int], str]


def saldo_maker(seats: list[Seat], api_base: str) -> BodyMaker:
    def make(client: int, n: int) -> str:
        seat = seats[(client + n) % len(seats)]
        return slash_command_body(
            text="saldo",
            user_id=seat.user_id,
            channel_id="D" + seat.user_id,
            response_url=f"{api_base}/response_url/{client}-{n}",
        )

    return make


def submit_maker(seats: list[Seat]) -> BodyMaker:
    form: dict[str, Any] = {
        "kind": {"value": state_select("process")},
        "days": {"value": state_text("0,5")},
        "theme": {"value": state_text("Benchmark")},
        "from": {"value": state_date(None)},
        "to": {"value": state_date(None)},
        "description": {"value": state_text(None)},
    }

    def make(client: int, n: int) -> str:
        seat = seats[(client + n) % len(seats)]
        meta = json.dumps({"region": seat.region})
        return interaction_body(view_submission(seat.user_id, blocks.REQUEST_MODAL, form, meta))

    return make


def _failure(status: int, text: str) -> str | None:
    """None for an ack (200, no inline errors: every submission is valid), else what."""
    if status != 200:
        return f"HTTP {status}"
    return "inline errors" if "response_action" in text else None


Counters = tuple["Synchronized[int]", "Synchronized[int]"]  # answers, balances among them


def _count_inline(counters: Counters | None, text: str) -> None:
    """A balance that rode on the ack is an answer that reached Slack, as one posted to
    the response URL is (counted by the fake Slack)."""
    if counters is None or not text.strip():
        return
    answers, balances = counters
    with balances.get_lock():
        balances.value += '"blocks"' in text
    with answers.get_lock():
        answers.value += 1


async def _drive(
    session: aiohttp.ClientSession,
    url: str,
    clients: int,
    seconds: float,
    make: BodyMaker,
    offset: int,
    run: Run | None,
    counters: Counters | None = None,
) -> int:
    """`clients` loops posting back to back for `seconds`; returns how many were sent.
    With `counters`, answers carried by the acks are counted there."""
    deadline = time.perf_counter() + seconds
    sent = 0
    last = 0.0

    async def client(index: int) -> None:
        nonlocal sent, last
        n = offset
        while time.perf_counter() < deadline:
            body = make(index, n)
            n += 1
            headers = sign(SIGNING_SECRET, body)
            started = time.perf_counter()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                text = await response.text()
                status = response.status
            done = time.perf_counter()
            _count_inline(counters, text)
            sent += 1
            last = max(last, done)
            if run is not None:
                run.latencies.append(done - started)
                if (failure := _failure(status, text)) is not None:
                    run.errors += 1
                    run.statuses[failure] += 1

    start = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(client(i) for i in range(clients)))
    if run is not None:
        run.elapsed = last - start
        run.cpu["gen"] = time.process_time() - cpu
        run.gen_cpu = run.cpu["gen"] / run.elapsed
    return sent


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


async def _wait_answers(answers: Synchronized[int], expected: int) -> float:
    """Wait until the fake Slack received `expected` answers; returns when (perf_counter)."""
    deadline = time.perf_counter() + DRAIN_TIMEOUT
    while answers.value < expected:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {answers.value} of {expected} saldo answers arrived")
        await asyncio.sleep(0.002)
    return time.perf_counter()


def _host_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (Linux /proc/stat), or (0, 0)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Target:
    app: str
    url: str
    pid: int | None
    api_pid: int | None = None  # the fake Slack: it serves our saldo answers too


async def measure(
    opts: Options,
    targets: dict[str, Target],
    seats: list[Seat],
    api_base: str,
    answers: Synchronized[int],
    balances: Synchronized[int],
) -> tuple[list[Run], dict[str, int]]:
    makers = {"saldo": saldo_maker(seats, api_base), "submit": submit_maker(seats)}
    sent_to_ours = {"saldo": 0, "submit": 0}
    runs: list[Run] = []
    offset = 0
    turn = 0
    for workload in opts.workloads:
        make = makers[workload]
        for clients in opts.clients:
            order = APPS if turn % 2 == 0 else APPS[::-1]
            turn += 1
            for app in order:
                target = targets[app]
                run = Run(workload, clients, app)
                connector = aiohttp.TCPConnector(limit=clients)  # keep-alive, one per client
                timeout = aiohttp.ClientTimeout(total=30)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                    ours_saldo = app == "ours" and workload == "saldo"
                    counters = (answers, balances) if ours_saldo else None
                    warm = await _drive(
                        session, target.url, clients, opts.warmup, make, offset, None, counters
                    )
                    offset += 1_000_000
                    if app == "ours":
                        sent_to_ours[workload] += warm
                    if ours_saldo:  # start with nothing left over from the warm-up
                        await _wait_answers(answers, sent_to_ours["saldo"])
                    srv, api = _cpu_seconds(target.pid), _cpu_seconds(target.api_pid)
                    busy, ticks = _host_ticks()
                    sent = await _drive(
                        session, target.url, clients, opts.seconds, make, offset, run, counters
                    )
                    run.srv_cpu = (_cpu_seconds(target.pid) - srv) / run.elapsed
                    offset += 1_000_000
                    if app == "ours":
                        sent_to_ours[workload] += sent
                    if ours_saldo:
                        acked = time.perf_counter()
                        run.drain = await _wait_answers(answers, sent_to_ours["saldo"]) - acked
                    # CPU per request: the server until its last answer, the fake Slack,
                    # and (in _drive) the load generator. The requests sent after the
                    # measured window (at most one per client) make this a slight
                    # overestimate for both apps alike.
                    run.cpu["srv"] = _cpu_seconds(target.pid) - srv
                    run.cpu["api"] = _cpu_seconds(target.api_pid) - api
                    busy_after, ticks_after = _host_ticks()
                    if ticks_after > ticks:
                        run.host_busy = (busy_after - busy) / (ticks_after - ticks)
                runs.append(run)
                print(f"  {_row(run, None)}", file=sys.stderr, flush=True)
    return runs, sent_to_ours


# --------------------------------------------------------------------------------------
# Processes and the report
# --------------------------------------------------------------------------------------


@contextmanager
def processes(
    opts: Options, database_url: str
) -> Iterator[tuple[dict[str, Target], str, Synchronized[int], Synchronized[int]]]:
    ctx = multiprocessing.get_context("spawn")
    ready: QueueType[tuple[str, Any]] = ctx.Queue()
    stop = ctx.Event()
    answers: Synchronized[int] = ctx.Value("q", 0)
    balances: Synchronized[int] = ctx.Value("q", 0)
    started: list[SpawnProcess] = []

    def start(name: str, target: Callable[..., None], *args: Any) -> SpawnProcess:
        process = ctx.Process(target=target, args=args, name=name, daemon=True)
        process.start()
        started.append(process)
        return process

    def wait_ready(count: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while len(found) < count:
            if any(p.exitcode not in (None, 0) for p in started):
                raise RuntimeError("a benchmark process died while starting")
            try:
                key, value = ready.get(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError("benchmark processes did not start") from None
                continue
            found[key] = value
        return found

    try:
        start("bench-fake-slack", fake_api_main, ready, answers, balances, stop)
        api_base = str(wait_ready(1)["api"])
        by_app: dict[str, SpawnProcess] = {}
        for app in APPS:
            profile = str(opts.profile) if opts.profile and app == "ours" else None
            by_app[app] = start(
                f"bench-{app}", app_main, app, database_url, api_base, ready, stop, profile
            )
        ports = wait_ready(len(APPS))
        pids = ", ".join(f"{p.name}={p.pid}" for p in started)
        print(f"[bench] processes: {pids}", file=sys.stderr, flush=True)
        targets = {
            app: Target(
                app,
                f"http://127.0.0.1:{ports[app]}/slack/events",
                by_app[app].pid,
                started[0].pid,
            )
            for app in APPS
        }
        yield targets, api_base, answers, balances
    finally:
        stop.set()
        for process in started:
            process.join(timeout=15)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


HEADER = (
    f"{'workload':<8} {'clients':>7} {'app':<4} {'requests':>8} {'req/s':>8} "
    f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'gen':>5} {'srv':>5} {'host':>5} "
    f"{'srv cpu':>7} {'all cpu':>7} {'drain ms':>8} {'answer/s':>8} {'ours/bare':>9}"
)


def _row(run: Run, ratio: float | None) -> str:
    drain = "-" if run.drain is None else f"{run.drain * 1000:.0f}"
    answered = "-" if run.answered is None else f"{run.answered:.0f}"
    share = "" if ratio is None else f"{ratio:.0%}"
    return (
        f"{run.workload:<8} {run.clients:>7} {run.app:<4} {run.requests:>8} "
        f"{run.throughput:>8.0f} {_fmt(run.percentile(50)):>7} {_fmt(run.percentile(99)):>7} "
        f"{run.errors:>6} {_fmt(run.gen_cpu * 100, 0) + '%':>5} "
        f"{_fmt(run.srv_cpu * 100, 0) + '%':>5} {_fmt(run.host_busy * 100, 0) + '%':>5} "
        f"{_fmt(run.cpu_ms('srv'), 2):>7} {_fmt(run.cpu_ms('srv', 'gen', 'api'), 2):>7} "
        f"{drain:>8} {answered:>8} {share:>9}"
    )


def report(runs: list[Run], opts: Options) -> bool:
    by_key = {(r.workload, r.clients, r.app): r for r in runs}
    print(HEADER)
    print("-" * len(HEADER))
    for workload in opts.workloads:
        for clients in opts.clients:
            ours, bare = by_key[(workload, clients, "ours")], by_key[(workload, clients, "bare")]
            ratio = ours.throughput / bare.throughput if bare.throughput else math.nan
            print(_row(ours, ratio))
            print(_row(bare, None))
    for run in runs:
        if run.statuses:
            what = ", ".join(f"{n} x {s}" for s, n in run.statuses.most_common())
            print(f"errors {run.workload} {run.app} @ {run.clients}: {what}")
    print()
    held = True
    if TARGET_CLIENTS not in opts.clients:
        print(f"targets: not judged ({TARGET_CLIENTS} concurrent clients were not run)")
        return True
    for workload in opts.workloads:
        ours = by_key[(workload, TARGET_CLIENTS, "ours")]
        bare = by_key[(workload, TARGET_CLIENTS, "bare")]
        ratio = ours.throughput / bare.throughput if bare.throughput else math.nan
        p99 = ours.percentile(99)
        ratio_ok, p99_ok = ratio >= TARGET_RATIO, p99 < TARGET_P99_MS
        held = held and ratio_ok and p99_ok and ours.errors == 0
        print(
            f"target {workload:<6} @ {TARGET_CLIENTS}: throughput {ratio:.0%} of bare "
            f"(>= {TARGET_RATIO:.0%}: {'HOLDS' if ratio_ok else 'MISSED'}), "
            f"p99 {p99:.1f} ms (< {TARGET_P99_MS:.0f} ms: {'HOLDS' if p99_ok else 'MISSED'})"
        )
    print()
    for workload in opts.workloads:
        print(
            budget(
                by_key[(workload, TARGET_CLIENTS, "ours")],
                by_key[(workload, TARGET_CLIENTS, "bare")],
            )
        )
    return held


def budget(ours: Run, bare: Run) -> str:
    """What the CPU allows, from the CPU each request cost (all three processes).

    The machine has `cores` cores, and each server is one Python process, so one
    core at most for its own work: an app cannot answer more than
    min(cores / all CPU per request, 1 / server CPU per request) requests per second.
    The ratio of those ceilings is the best ours/bare the machine allows for the
    work each request does now, however the load is spread.
    """
    cores = os.cpu_count() or 1

    def ceiling(run: Run) -> float:
        total, own = run.cpu_ms("srv", "gen", "api"), run.cpu_ms("srv")
        return min(cores * 1000 / total, 1000 / own)

    best = ceiling(ours) / ceiling(bare)
    return (
        f"CPU per request @ {ours.clients} ({ours.workload}): ours {ours.cpu_ms('srv'):.2f} ms "
        f"in the server, {ours.cpu_ms('srv', 'gen', 'api'):.2f} ms in all; bare "
        f"{bare.cpu_ms('srv'):.2f} ms in the server, {bare.cpu_ms('srv', 'gen', 'api'):.2f} ms "
        f"in all (machine {bare.host_busy:.0%} busy). Sustained ceilings on {cores} cores "
        f"(every answer delivered): ours {ceiling(ours):.0f}/s, bare {ceiling(bare):.0f}/s, "
        f"so ours/bare <= {best:.0%}."
    )


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="uncounted seconds per run")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="saldo,submit")
    parser.add_argument("--regions", type=int, default=8, help="regions with a bench contact")
    parser.add_argument(
        "--profile", type=Path, help="cProfile our server's event loop into this pstats file"
    )
    args = parser.parse_args(argv)
    clients = tuple(int(c) for c in str(args.clients).split(",") if c.strip())
    workloads = tuple(w.strip() for w in str(args.workloads).split(",") if w.strip())
    if unknown := set(workloads) - set(WORKLOADS):
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    return Options(args.seconds, args.warmup, clients, workloads, args.regions, args.profile)


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    with tempfile.TemporaryDirectory(prefix="sto-bench-slack-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'sto.sqlite3'}"
        t0 = time.monotonic()
        seats = build_database(database_url, opts.regions)
        print(
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{os.cpu_count()} CPUs, {platform.platform()}"
        )
        print(
            f"{len(seats)} contacts in {len(seats)} regions; {opts.seconds:g} s measured "
            f"after {opts.warmup:g} s warm-up per run; submissions: all valid, 0,5 day each"
        )
        with processes(opts, database_url) as (targets, api_base, answers, balances):
            setup = time.monotonic() - t0
            runs, sent = asyncio.run(measure(opts, targets, seats, api_base, answers, balances))
            answered, with_balance = answers.value, balances.value
        stored = count_requests(database_url)
    print(f"(setup {setup:.1f} s)\n")
    held = report(runs, opts)
    checks_ok = stored == sent["submit"] and answered == with_balance == sent["saldo"]
    print(
        f"check: {sent['submit']} submissions to ours, {stored} requests stored; "
        f"{sent['saldo']} saldo commands to ours, {answered} answers ({with_balance} balances)"
        f" — {'ok' if checks_ok else 'MISMATCH'}"
    )
    return 0 if held and checks_ok else 1


if __name__ == "__main__":
    sys.exit(main())
