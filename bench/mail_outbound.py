"""Benchmark of outbound mail, side by side with a plain aiosmtplib loop on one connection.

    .venv/bin/python bench/mail_outbound.py [--messages N] [--rounds R] [--warmup W]
                                            [--templates approved|all] [--floor]

Issue 4 (Benchmark) sets the target: sending notification mails through the
assistant's outbound path keeps at least 70% of the rate of a plain aiosmtplib
loop on one connection, in the same run.

What runs:

* an aiosmtpd server in a process of its own (spawned, so it shares neither
  the event loop nor the GIL with the senders), on 127.0.0.1 and a free port,
  whose handler only counts what arrives;
* ours: `MailNotifier.deliver(Message)` for outbox rows as the dispatcher hands
  them over, through `SmtpMailer` (one connection, reused): for every mail the
  subject, text and HTML are rendered from the templates (Dutch and English),
  the message is composed (headers, Message-ID, threading, and for the
  scheduled ones an iCalendar invitation), sent, and failures classified;
* plain: the same mails, composed as EmailMessages before the clock starts,
  sent by a bare `aiosmtplib.SMTP.send_message` loop on one connection (the
  target's reference);
* floor (`--floor`): the same mails as ready bytes, sent by a bare
  `aiosmtplib.SMTP.sendmail` loop: the SMTP exchange alone, for comparison.

N mails for each side (10,000 by default; the seven request notifications in
turn) are sent in R rounds that take turns (ours first in even rounds, last in
odd ones), after a warm-up of W mails each that is not counted. A rate is the
mails divided by the time that side was sending; `client cpu` is the sending
process's CPU time per second of sending (100% = one core), `server cpu` the
server process's: a server near 100% would make the figures the server's limit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from smtp_sink import free_port, serve  # noqa: E402

from bot.mail.compose import Composer  # noqa: E402
from bot.mail.notifier import MailNotifier  # noqa: E402
from bot.mail.outbound import SmtpMailer  # noqa: E402
from bot.render import Renderer  # noqa: E402
from config.settings import TlsMode  # noqa: E402
from models.clock import FixedClock  # noqa: E402
from scheduling.dispatcher import Message  # noqa: E402

SENDER = "ondersteuning@sto.example"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
REGIONS = ["Zeeland", "Súdwest-Fryslân", "Rijk van Nijmegen", "Bonaire", "Eindhoven"]
EXTRA: dict[str, dict[str, Any]] = {
    "request_submitted": {"status": "submitted"},
    "request_approved": {"status": "approved", "reason": ""},
    "request_rejected": {"status": "rejected", "reason": "het budget voor dit jaar is op"},
    "request_scheduled": {"status": "scheduled", "reason": "2027-03-02, 2027-03-09"},
    "request_completed": {"status": "completed", "reason": "1.5"},
    "request_cancelled": {"status": "cancelled", "reason": ""},
    "request_assigned": {"status": "approved", "supporter": "Piet de Vrïes"},
}


# --- the senders -------------------------------------------------------------------------


def rows(n: int, templates: list[str]) -> list[Message]:
    """Outbox rows as the dispatcher hands them over: every request notification in turn."""
    out = []
    for i in range(n):
        template = templates[i % len(templates)]
        region = REGIONS[i % len(REGIONS)]
        ref = f"STO-2027-{i % 10000:04d}"
        context = {
            "ref": ref,
            "region": region.upper()[:8],
            "region_name": region,
            "days": ("0.5", "1", "1.5", "2")[i % 4],
            "kind": ("content", "process", "strategic", "theme")[i % 4],
            "theme": "doorlopende leerlijnen" if i % 2 else "",
            "fallback_email": f"contact{i}@school.example",
            **EXTRA[template],
        }
        out.append(
            Message(
                id=i + 1,
                key=f"request:{ref}:{i}:requester",
                template=template,
                channel="email",
                recipient=f"contact{i % 500}@school.example",
                language="nl" if i % 5 else "en",
                context=context,
                subject_type="request",
                subject_id=i + 1,
                attempts=1,
            )
        )
    return out


@dataclass
class Run:
    name: str
    messages: int = 0
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def timed(run: Run, indices: range, send: Callable[[int], Awaitable[None]]) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    for i in indices:
        await send(i)
    run.seconds += time.perf_counter() - start
    run.cpu += time.process_time() - cpu
    run.messages += len(indices)


async def bench(port: int, args: argparse.Namespace) -> list[Run]:
    templates = list(EXTRA) if args.templates == "all" else ["request_approved"]
    composer = Composer(Renderer(), SENDER)
    # max_idle: while the other sides send, ours waits longer than the default minute
    # after which a connection is renewed; in the measured runs it keeps its one.
    smtp = SmtpMailer(
        "127.0.0.1",
        port,
        tls=TlsMode.none,
        timeout=30,
        max_idle=3600,
        local_hostname="bench.sto.example",
    )
    notifier = MailNotifier(smtp, composer, FixedClock(NOW))
    plain = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.sto.example"
    )
    await plain.connect()

    outbox = rows(args.warmup + args.messages, templates)
    # "Pre-built equivalent messages": the same mails, composed before any clock starts.
    prebuilt = [composer.mail(notifier.outgoing(m), now=NOW) for m in outbox]
    messages: list[EmailMessage] = [m.message for m in prebuilt]

    async def send_ours(i: int) -> None:
        await notifier.deliver(outbox[i])

    async def send_plain(i: int) -> None:
        await plain.send_message(messages[i])

    async def send_floor(i: int) -> None:
        mail = prebuilt[i]
        await plain.sendmail(mail.sender, list(mail.recipients), mail.data)

    sides = [(Run("ours"), send_ours), (Run("plain"), send_plain)]
    if args.floor:
        sides.append((Run("floor"), send_floor))
    warm = Run("warm-up")
    for _, send in sides:
        await timed(warm, range(args.warmup), send)
    per_round = args.messages // args.rounds
    for r in range(args.rounds):
        indices = range(args.warmup + r * per_round, args.warmup + (r + 1) * per_round)
        for run, send in sides if r % 2 == 0 else sides[::-1]:
            await timed(run, indices, send)
    await notifier.close()
    await plain.quit()
    assert smtp.connections == 1, "the outbound path must keep one connection"
    return [run for run, _ in sides]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--templates", choices=["approved", "all"], default="all")
    parser.add_argument("--floor", action="store_true", help="also time ready bytes (sendmail)")
    args = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    count = ctx.Value("q", 0)
    server_cpu = ctx.Value("d", 0.0)
    port = free_port()
    server = ctx.Process(target=serve, args=(port, ready, stop, count, server_cpu), daemon=True)
    server.start()
    if not ready.wait(30):
        print("the SMTP server did not start", file=sys.stderr)
        return 1
    wall = time.perf_counter()
    try:
        runs = asyncio.run(bench(port, args))
    finally:
        stop.set()
        server.join(10)
    wall = time.perf_counter() - wall
    ours, bare = runs[0], runs[1]
    expected = len(runs) * (args.warmup + ours.messages)
    received = int(count.value)
    busy = sum(run.seconds for run in runs)
    print(
        f"mails per side: {ours.messages} (+{args.warmup} warm-up), rounds: {args.rounds}, "
        f"templates: {args.templates}, python {sys.version.split()[0]}"
    )
    print(f"{'':8} {'mails/s':>9} {'seconds':>8} {'client cpu':>11}")
    for run in runs:
        print(f"{run.name:8} {run.rate:9.0f} {run.seconds:8.2f} {run.cpu / run.seconds:10.0%}")
    print(f"ratio ours/plain: {ours.rate / bare.rate:.1%} (target >= 70%)")
    if len(runs) > 2:
        print(f"ratio ours/floor: {ours.rate / runs[2].rate:.1%}")
    print(
        f"server received {received} of {expected}; server cpu "
        f"{server_cpu.value / busy:.0%} of the sending time; wall {wall:.1f} s"
    )
    return 0 if received == expected else 1


if __name__ == "__main__":
    sys.exit(main())
