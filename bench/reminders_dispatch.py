"""Benchmark: due reminders dispatched by mail, side by side with a plain aiosmtplib loop.

    .venv/bin/python bench/reminders_dispatch.py [--reminders N] [--batch B]
                                                 [--database sqlite|URL]

Issue 6 (Benchmark): 10,000 due reminders dispatched by email to a local
aiosmtpd, timed side by side with a plain aiosmtplib loop.

What runs:

* an aiosmtpd server in a process of its own (the one of bench/mail_outbound.py),
  whose handler only counts what arrives;
* ours: N due reminder rows in the outbox of a migrated database (SQLite file
  by default, or a PostgreSQL URL), drained by the real `Dispatcher` with the
  real `MailNotifier` over one SMTP connection: claim a batch with a lease,
  re-check each row before sending, render and compose the mail (text, HTML,
  headers), send, mark the row sent; every row is one committed transaction
  after its send, so a crash repeats at most the mail in flight;
* plain: the same mails, composed before the clock starts, sent by a bare
  `aiosmtplib.SMTP.send_message` loop on one connection: no database at all.

It fails (exit 1) unless the server received every mail once and every row is
marked sent.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from smtp_sink import free_port, serve  # noqa: E402
from sqlalchemy import func, insert, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from bot.mail.compose import Composer  # noqa: E402
from bot.mail.notifier import MailNotifier  # noqa: E402
from bot.mail.outbound import SmtpMailer  # noqa: E402
from bot.render import Renderer  # noqa: E402
from config.settings import TlsMode  # noqa: E402
from models.clock import FixedClock  # noqa: E402
from models.db import make_engine, transaction  # noqa: E402
from models.schema import upgrade  # noqa: E402
from models.tables import Notification  # noqa: E402
from scheduling.dispatcher import Dispatcher, Message  # noqa: E402

SENDER = "ondersteuning@sto.example"
NOW = datetime(2027, 10, 1, 7, 0, tzinfo=UTC)
REGIONS = ["Zeeland", "Súdwest-Fryslân", "Rijk van Nijmegen", "Bonaire", "Eindhoven"]


def reminder(i: int) -> dict[str, Any]:
    """One due reminder: every other one the unused-days mail, else a nudge to the team."""
    region = REGIONS[i % len(REGIONS)]
    if i % 2:
        template = "unused_days"
        context: dict[str, Any] = {
            "name": "Jan de Vries",
            "region": region.upper()[:8],
            "region_name": region,
            "period": "2027",
            "available": (1, 2.5, 4)[i % 3],
            "ends_on": "2027-12-31",
        }
    else:
        template = "request_nudge"
        context = {
            "name": "Cor Coördinator",
            "ref": f"STO-2027-{i % 10000:04d}",
            "region_name": region,
            "days": ("0.5", "1", "1.5")[i % 3],
            "kind": ("content", "process", "strategic")[i % 3],
            "waited": 3,
            "step": 3,
        }
    return {
        "dedupe_key": f"bench:{i}",
        "template": template,
        "channel": "email",
        "recipient": f"contact{i % 500}@school.example",
        "language": "nl" if i % 5 else "en",
        "context": context,
        "subject_type": "",
        "subject_id": None,
        "due_at": NOW - timedelta(seconds=i),
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "created_at": NOW,
    }


def prepare(url: str, n: int) -> Any:
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("TRUNCATE notification"))
        session.execute(insert(Notification), [reminder(i) for i in range(n)])
    return engine


async def ours(engine: Any, port: int, batch: int) -> tuple[float, float]:
    mailer = SmtpMailer("127.0.0.1", port, tls=TlsMode.none, max_idle=3600)
    notifier = MailNotifier(mailer, Composer(Renderer(), SENDER), FixedClock(NOW))
    dispatcher = Dispatcher(engine, {"email": notifier}, FixedClock(NOW), batch=batch)
    start, cpu = time.perf_counter(), time.process_time()
    while await dispatcher.run_once():
        pass
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    await notifier.close()
    return seconds, cpu


async def plain(port: int, n: int) -> tuple[float, float]:
    composer = Composer(Renderer(), SENDER)
    notifier = MailNotifier(SmtpMailer("127.0.0.1", port), composer, FixedClock(NOW))
    mails: list[EmailMessage] = []
    for i in range(n):
        row = reminder(i)
        message = Message(
            id=i + 1,
            key=row["dedupe_key"],
            template=row["template"],
            channel="email",
            recipient=row["recipient"],
            language=row["language"],
            context=row["context"],
            subject_type="",
            subject_id=None,
            attempts=1,
        )
        mails.append(composer.mail(notifier.outgoing(message), now=NOW).message)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    start, cpu = time.perf_counter(), time.process_time()
    for mail in mails:
        await client.send_message(mail)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.quit()
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
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
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3" if args.database == "sqlite" else args.database
        engine = prepare(url, args.reminders)
        try:
            plain_s, plain_cpu = asyncio.run(plain(port, args.reminders))
            ours_s, ours_cpu = asyncio.run(ours(engine, port, args.batch))
        finally:
            stop.set()
            server.join(10)
        with transaction(engine) as session:
            sent = session.exec(
                select(func.count()).select_from(Notification).where(Notification.status == "sent")
            ).one()
        engine.dispose()
    n = args.reminders
    print(
        f"reminders: {n}, database: {engine.dialect.name}, batch: {args.batch}, "
        f"python {sys.version.split()[0]}"
    )
    print(f"{'':28} {'mails/s':>9} {'seconds':>8} {'client cpu':>11}")
    for name, seconds, cpu in (
        ("ours (dispatcher + outbox)", ours_s, ours_cpu),
        ("plain aiosmtplib loop", plain_s, plain_cpu),
    ):
        print(f"{name:28} {n / seconds:9.0f} {seconds:8.2f} {cpu / seconds:10.0%}")
    print(f"ratio ours/plain: {plain_s / ours_s:.1%}")
    received = int(count.value)
    print(f"server received {received} of {2 * n}; rows marked sent: {sent} of {n}")
    return 0 if received == 2 * n and sent == n else 1


if __name__ == "__main__":
    sys.exit(main())
