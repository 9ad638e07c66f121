"""Running `sto` in-process, as a person would type it, with a clock the test controls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.cli import main
from models.clock import FixedClock


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Sto:
    def __init__(
        self,
        engine: Engine,
        capsys: pytest.CaptureFixture[str],
        mp: pytest.MonkeyPatch,
        now: datetime,
    ) -> None:
        self.capsys = capsys
        self.clock = FixedClock(now)
        mp.setenv("STO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        mp.setenv("COLUMNS", "200")  # rich wraps tables to the terminal width

    def __call__(self, *argv: str) -> Result:
        self.capsys.readouterr()
        try:
            main(list(argv), clock=self.clock)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def run_until(engine: Engine, tmp_path: Path, done: Callable[[], bool]) -> str:
    """`sto run` without Slack settings, until `done`; its log. (Only the rows a test made
    are waited for: the periodic jobs of the real day, such as the early App Home refresh
    or the 09:00 digest, may add their own while it runs.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STO_", "SLACK_"))}
    env.update(
        STO_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        STO_HTTP_PORT=str(port),
        STO_INBOUND_SMTP_PORT="0",
        STO_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),  # this checkout's code
    )
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "sto"), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not done():
            assert process.poll() is None
            if time.monotonic() > deadline:
                process.send_signal(signal.SIGTERM)
                raise AssertionError(process.communicate(timeout=30)[0].decode())
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    return output
