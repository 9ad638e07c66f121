"""Kill `sto run` in the middle of sending reminders, start it again: nothing is lost,
and nothing that was confirmed sent goes out twice.

The real process sends due reminder rows to a real SMTP server (aiosmtpd) and is
killed with SIGKILL (no clean shutdown) after some mails arrived. Rows it had
claimed but not marked keep their lease; the test lets that lease run out (the
time a restart would otherwise wait) and starts the process again. Afterwards
every row is sent; a mail arrives twice only if it was in flight at the kill
(sent, not yet marked), and then under the same Message-ID, so a mail client
sees one message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.mail.headers import message_id
from models.db import transaction
from models.tables import Notification
from tests.test_mail_out import Server, server  # noqa: F401 (the aiosmtpd fixture)
from tests.test_run import STO, _env, _free_port

ROWS = 150


def add_reminders(engine: Engine) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as session:
        session.add_all(
            Notification(
                dedupe_key=f"restart:{i:03d}",
                template="unused_days",
                channel="email",
                recipient=f"contact{i:03d}@school.example",
                context={
                    "name": "Jan de Vries",
                    "region": "ZEELAND",
                    "region_name": "Zeeland",
                    "period": "2026",
                    "available": 2,
                    "ends_on": "2026-12-31",
                },
                due_at=now - timedelta(minutes=5) + timedelta(milliseconds=i),
                created_at=now,
            )
            for i in range(ROWS)
        )


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.dedupe_key: r.status for r in session.exec(select(Notification)).all()}


def wait_for(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


@pytest.fixture
def start(
    engine: Engine,
    tmp_path: Path,
    server: Server,  # noqa: F811
) -> Iterator[object]:
    processes: list[subprocess.Popen[bytes]] = []

    def launch() -> subprocess.Popen[bytes]:
        env = _env(engine.url.render_as_string(hide_password=False), _free_port(), tmp_path)
        env.update(
            STO_SMTP_HOST="127.0.0.1",
            STO_SMTP_PORT=str(server.port),
            STO_SMTP_TLS="none",
            STO_INBOUND_SMTP_PORT="0",
            STO_MAIL_FROM="ondersteuning@sto.example",
        )
        process = subprocess.Popen(
            [STO, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        processes.append(process)
        return process

    yield launch
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_a_killed_dispatcher_loses_nothing_and_repeats_nothing_confirmed(
    engine: Engine,
    server: Server,  # noqa: F811
    start: object,
) -> None:
    add_reminders(engine)
    # Only these rows count: `sto run` keeps the real time, so the day's periodic jobs
    # (the 09:00 team digest) may add and send rows of their own meanwhile.
    made = set(statuses(engine))
    assert len(made) == ROWS
    store = server.store
    first = start()  # type: ignore[operator]
    wait_for(lambda: len(store.messages) >= 37, 120, "the first mails")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    at_kill = {k: s for k, s in statuses(engine).items() if k in made}
    confirmed = {k for k, s in at_kill.items() if s == "sent"}
    in_flight = {k for k, s in at_kill.items() if s == "sending"}
    assert confirmed, "the kill came before anything was marked sent"
    assert len(confirmed) < ROWS, "the kill came after everything was sent"
    # Five minutes later, as far as the rows are concerned: the dead process's lease ran out.
    with transaction(engine) as session:
        session.execute(
            update(Notification)
            .where(Notification.status == "sending")  # type: ignore[arg-type]
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    second = start()  # type: ignore[operator]
    wait_for(
        lambda: {s for k, s in statuses(engine).items() if k in made} == {"sent"},
        180,
        "every row sent",
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0

    by_key = {key: message_id(key, "sto.example") for key in made}
    ours = set(by_key.values())
    received = Counter(
        mid
        for mid in (str(store.parsed(i)["Message-ID"]) for i in range(len(store.messages)))
        if mid in ours
    )
    # Nothing lost: every row arrived.
    ids = {str(mid) for mid in received}
    assert len(ids) == ROWS
    # Nothing confirmed sent came again; a repeat is only what was in flight at the kill.
    repeated = {key for key, mid in by_key.items() if received[mid] > 1}
    assert not repeated & confirmed
    assert repeated <= in_flight
    assert all(n <= 2 for n in received.values())
