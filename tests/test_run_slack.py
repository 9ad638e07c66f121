"""`sto run` as the real process in Slack's HTTP mode, from outside.

The process is started with the settings a team sets (README, *Slack*), its Web
API at a local server that plays Slack, and fed requests signed as Slack signs
them: a contact linked by the documented contacts import asks the balance and
submits a request; the team's channel gets the card from the process's own
dispatcher.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.slack_fake import (
    SIGNING_SECRET,
    FakeSlackApi,
    interaction_body,
    post_signed,
    slash_command_body,
    view_submission,
)
from tests.slack_harness import request_form

STO = str(Path(sys.executable).parent / "sto")
CONTACT = "UJANWIERSMA"
TEAM_CHANNEL = "CSTOTEAM"


@dataclass
class Running:
    events: str  # POST /slack/events
    api: FakeSlackApi
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def running(engine: Engine, tmp_path: Path) -> Iterator[Running]:
    port = _free_port()
    with FakeSlackApi() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STO_", "SLACK_"))}
        env.update(
            STO_DATABASE_URL=engine.url.render_as_string(hide_password=False),
            STO_HTTP_PORT=str(port),
            STO_INBOUND_SMTP_PORT="0",
            STO_VAR_DIR=str(tmp_path / "var"),
            SLACK_BOT_TOKEN=api.token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            STO_SLACK_MODE="http",
            STO_SLACK_API_URL=api.url,
            STO_SLACK_TEAM_CHANNEL=TEAM_CHANNEL,
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),  # this checkout's code
        )
        process = subprocess.Popen(
            [STO, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "sto run did not answer in 60 s"
                    time.sleep(0.2)
            yield Running(base + "/slack/events", api, env)
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0].decode()
            assert process.returncode == 0, output
            engine.dispose()


def _link_slack_id(running: Running, tmp_path: Path) -> None:
    """The documented contacts import gives an example contact (seeded) a Slack id."""
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "email,name,regions,slack_user_id,language\n"
        f"jan.wiersma@groningen-stad.example,Jan Wiersma,GRONINGEN-STAD,{CONTACT},nl\n"
    )
    subprocess.run(
        [STO, "import", "contacts", str(csv)],
        env=running.env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_sto_run_answers_slack_and_tells_the_team(running: Running, tmp_path: Path) -> None:
    _link_slack_id(running, tmp_path)

    started = time.monotonic()
    status, _, text = post_signed(
        running.events,
        slash_command_body(text="saldo", user_id=CONTACT, response_url=running.api.response_url()),
    )
    assert status == 200 and time.monotonic() - started < 3
    answer = json.loads(text)  # quick: the balance rides on the ack
    assert "Groningen" in json.dumps(answer["blocks"]) and "beschikbaar" in json.dumps(answer)

    meta = json.dumps({"region": "GRONINGEN-STAD"})
    form = request_form("0,5", theme="rekenen")
    status, _, text = post_signed(
        running.events,
        interaction_body(view_submission(CONTACT, "request_modal", form, meta)),
    )
    assert status == 200 and text in ("", "{}")

    # The process's dispatcher posts the card to the team and tells the requester.
    posts = running.api.wait_for("chat.postMessage", count=2, timeout=20)
    channels = {c.args["channel"]: c.args for c in posts}
    assert "STO-2026-0001" in channels[TEAM_CHANNEL]["text"]
    assert "request_approve" in json.dumps(channels[TEAM_CHANNEL]["blocks"])
    (dm,) = [a for ch, a in channels.items() if ch != TEAM_CHANNEL]
    assert "STO-2026-0001" in dm["text"]

    forged = post_signed(
        running.events, slash_command_body(text="saldo", user_id=CONTACT), "not-the-secret"
    )
    assert forged[0] == 401
