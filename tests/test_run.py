"""`sto run` from outside, as a newcomer starts it: migrate, seed, answer /healthz.

These start the real process and talk to it over HTTP, on SQLite and on
PostgreSQL; then they read the quota through the CLI as a script would.
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
from pathlib import Path

import pytest
from sqlalchemy import Engine

STO = str(Path(sys.executable).parent / "sto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(url: str, port: int, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STO_", "SLACK_"))}
    env.update(STO_DATABASE_URL=url, STO_HTTP_PORT=str(port), STO_VAR_DIR=str(var))
    return env


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def running(engine: Engine, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = _env(engine.url.render_as_string(hide_password=False), port, tmp_path / "var")
    process = subprocess.Popen(
        [STO, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                _get(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "sto run did not answer /healthz in 60 s"
                time.sleep(0.2)
        yield base, env
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
        assert process.returncode == 0, output
        engine.dispose()


def test_run_seeds_and_answers_healthz(running: tuple[str, dict[str, str]]) -> None:
    base, env = running
    status, body = _get(base + "/healthz")
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "regions": 77}

    result = subprocess.run(
        [STO, "quota", "--json"], env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(result.stdout)
    assert len({r["region"] for r in rows}) == 77
    assert {r["kind"] for r in rows} == {"support_days", "cf_visits"}
    assert len(rows) == 77 * 2
    for row in rows:
        assert set(row) == {
            "region", "name", "period", "kind", "granted", "reserved", "used", "available"
        }  # fmt: skip
        assert row["available"] == row["granted"] - row["reserved"] - row["used"] >= 0


def test_a_wrong_setting_stops_the_start(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.sqlite3'}", 1, tmp_path)
    env["STO_HTTP_PORT"] = "zeventig"
    result = subprocess.run([STO, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "STO_HTTP_PORT" in result.stderr and "zeventig" in result.stderr
    assert not (tmp_path / "x.sqlite3").exists()
