"""The mail channel from outside: `sto run` as a deployment runs it, real servers around it.

A contact's mail goes into a real Dovecot mailbox (or to the built-in SMTP
receiver with smtplib); the running assistant reads it, books, and its answer
appears as an .eml file; `sto requests list --json` shows the booking.
"""

from __future__ import annotations

import email
import json
import smtplib
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.imap_server import DovecotServer, running_dovecot
from tests.test_run import STO, _env, _free_port

CONTACT = "jan.wiersma@groningen-stad.example"  # an example contact of GRONINGEN-STAD


def _request_mail(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Jan Wiersma <{CONTACT}>"
    msg["To"] = "ondersteuning@sto.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@groningen-stad.example>"
    msg.set_content(
        "Beste team,\n\nWij willen graag 1,5 dag procesbegeleiding voor het thema "
        "doorlopende leerlijnen, bij voorkeur in maart.\n\nMet vriendelijke groet,\nJan"
    )
    return msg


def _wait_for_answer(outbox: Path, timeout: float = 60.0) -> EmailMessage:
    """The answer to the contact's mail. Other mail may appear beside it: `sto run` keeps
    the real time, so the day's periodic jobs (the 09:00 team digest) may send theirs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=default)
            assert isinstance(parsed, EmailMessage)
            if CONTACT in str(parsed["To"]) and parsed["In-Reply-To"] is not None:
                return parsed
        time.sleep(0.2)
    raise AssertionError(f"no answer to {CONTACT} appeared in {outbox} within {timeout} s")


@pytest.fixture
def assistant(engine: Engine, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """Environment and var dir for `sto run`; the process itself is started by the test."""
    env = _env(engine.url.render_as_string(hide_password=False), _free_port(), tmp_path / "var")
    env.update(STO_MAIL_TRUST_FROM="true", STO_MAIL_FROM="ondersteuning@sto.example")
    yield env, tmp_path
    engine.dispose()


def _run(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [STO, "run"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    return output


def _booked(env: dict[str, str]) -> list[dict[str, object]]:
    listed = subprocess.run(
        [STO, "requests", "list", "--json"], env=env, capture_output=True, text=True, check=True
    )
    rows: list[dict[str, object]] = json.loads(listed.stdout)
    return rows


def _check_answer(answer: EmailMessage, ref: str) -> None:
    assert f"[{ref}]" in str(answer["Subject"])
    assert answer["To"] == f"Jan Wiersma <{CONTACT}>"
    assert answer["In-Reply-To"] is not None and "groningen-stad.example" in answer["In-Reply-To"]
    assert answer["Auto-Submitted"] == "auto-replied"
    body = answer.get_body(("plain",))
    assert body is not None and "1,5 dag" in body.get_content()


def test_a_booking_through_the_imap_mailbox(
    assistant: tuple[dict[str, str], Path],
) -> None:
    env, cwd = assistant
    with running_dovecot() as dovecot:
        server: DovecotServer = dovecot
        env.update(
            STO_IMAP_HOST=server.host,
            STO_IMAP_PORT=str(server.port),
            STO_IMAP_USERNAME=server.username,
            STO_IMAP_PASSWORD=server.password,
            STO_IMAP_TLS="none",
            STO_INBOUND_SMTP_PORT="0",
        )
        server.deliver(bytes(_request_mail("aanvraag via imap")))
        process = _run(env, cwd)
        try:
            answer = _wait_for_answer(cwd / "var" / "outbox")
        finally:
            output = _stop(process)
    [booked] = _booked(env)
    assert (booked["status"], booked["days"], booked["channel"]) == ("submitted", 1.5, "email")
    _check_answer(answer, str(booked["ref"]))
    assert "IMAP" in output


def test_a_booking_through_the_built_in_receiver(
    assistant: tuple[dict[str, str], Path],
) -> None:
    env, cwd = assistant
    port = _free_port()
    env["STO_INBOUND_SMTP_PORT"] = str(port)
    process = _run(env, cwd)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    client.send_message(_request_mail("aanvraag via smtp"))
                break
            except OSError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        answer = _wait_for_answer(cwd / "var" / "outbox")
    finally:
        _stop(process)
    [booked] = _booked(env)
    _check_answer(answer, str(booked["ref"]))
