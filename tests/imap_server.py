"""A real Dovecot IMAP server for the tests, with a temporary configuration of its own.

`running_dovecot()` starts the installed `dovecot` binary in the foreground
(`dovecot -F -c <our config>`) on 127.0.0.1 and free ports, with everything it
writes (configuration, passwd-file, maildir, log, base_dir with its sockets,
state_dir) in one temporary directory, and removes it all at the end. It never
reads or touches /etc/dovecot, never binds 143/993, and does not mind a system
Dovecot that runs next to it.

When the tests run as root (CI, containers), Dovecot runs as root with its
unprivileged processes as Debian's `dovecot` and `dovenull` users and the mail
stored as `nobody` (Dovecot refuses mail access as root). Run as anybody else,
every process runs as that user, without chroots. The temporary directory is
made under /tmp rather than pytest's tmp_path: the unprivileged processes have
to reach it, and the unix sockets in base_dir need a short path.

Dovecot 2.3 (Debian 12) and 2.4 (Debian 13) want different configuration
files; `dovecot --version` decides which one is written. STO_TEST_DOVECOT
names another binary to test with (say, a 2.4 build next to Debian's 2.3). A missing Dovecot is a
test failure with the fix in it (run scripts/ensure-dovecot), never a skip.

The server has one user, `sto`, with a plain password. `deliver()` puts a
message straight into the maildir (works while the server is stopped);
`append()`, `messages()` and friends talk IMAP with Python's imaplib, on
connections of their own, and block: from async code call them through
asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import IO

import pytest

HOST = "127.0.0.1"
USERNAME = "sto"
PASSWORD = "geheim-wachtwoord"
STARTUP_TIMEOUT = 15.0
MISSING = (
    "Dovecot is not installed, and the IMAP tests need a real one: "
    "run scripts/ensure-dovecot (it installs Debian's dovecot-imapd), then run the tests again"
)


def find_dovecot() -> str | None:
    """STO_TEST_DOVECOT (a binary of your choice, e.g. a 2.4 build), else `dovecot` on PATH/sbin."""
    chosen = os.environ.get("STO_TEST_DOVECOT")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
    return shutil.which("dovecot", path=path)


def dovecot_version(binary: str) -> tuple[int, int]:
    """(major, minor) from `dovecot --version`, e.g. "2.3.19.1 (9b53102964)" -> (2, 3)."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    found = re.match(r"\s*(\d+)\.(\d+)", out)
    if not found:
        raise RuntimeError(f"cannot read the Dovecot version from {out!r}")
    return int(found.group(1)), int(found.group(2))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Stored:
    """A message as the server has it."""

    uid: int
    flags: frozenset[str]
    message_id: str | None
    subject: str | None

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags


@dataclass
class _Users:
    """Who runs what: root with Debian's users, or everything as the current user."""

    root: bool
    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int

    @classmethod
    def detect(cls) -> _Users:
        if os.geteuid() == 0:
            for needed in ("dovecot", "dovenull"):
                try:
                    pwd.getpwnam(needed)
                except KeyError:
                    pytest.fail(f"Dovecot's system user {needed!r} is missing. {MISSING}")
            nobody = pwd.getpwnam("nobody")
            return cls(True, "dovecot", "dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid)
        me = pwd.getpwuid(os.geteuid())
        group = _group_name(me.pw_gid)
        return cls(False, me.pw_name, group, me.pw_name, me.pw_uid, me.pw_gid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


@dataclass
class DovecotServer:
    root: Path
    binary: str
    version: tuple[int, int]
    tls: bool = False
    host: str = HOST
    username: str = USERNAME
    password: str = PASSWORD
    port: int = 0  # plain IMAP (offers STARTTLS when tls)
    tls_port: int = 0  # implicit TLS (only when tls)
    cafile: Path | None = None  # the self-signed certificate to trust (when tls)
    users: _Users = field(default_factory=_Users.detect)
    _process: subprocess.Popen[bytes] | None = None
    _output: IO[bytes] | None = None
    _delivered: int = 0

    # -- files --------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.root / "home" / self.username

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def log(self) -> str:
        parts = []
        for path in (self.root / "dovecot.out", self.log_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def wait_for_log(self, text: str, timeout: float = 5.0) -> bool:
        """Whether `text` shows up in the log within `timeout` s (Dovecot logs asynchronously)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)  # another process writes it: nothing to await
        return True

    def prepare(self) -> None:
        self.root.chmod(0o755)  # the unprivileged processes must be able to reach their files
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._own(self.root / "home")
        (self.root / "passwd").write_text(f"{self.username}:{{PLAIN}}{self.password}::::::\n")
        if self.tls:
            self._make_certificate()
        self.choose_ports()

    def choose_ports(self) -> None:
        self.port = free_port()
        self.tls_port = free_port() if self.tls else 0
        config = _config_24 if self.version >= (2, 4) else _config_23
        (self.root / "dovecot.conf").write_text(config(self))

    def _own(self, top: Path) -> None:
        if not self.users.root:
            return
        for path in [top, *top.rglob("*")]:
            os.chown(path, self.users.mail_uid, self.users.mail_gid)

    def _make_certificate(self) -> None:
        cert, key = self.root / "cert.pem", self.root / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        self.cafile = cert

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate."""
        assert self.cafile is not None, "start the server with tls=True"
        return ssl.create_default_context(cafile=str(self.cafile))

    # -- process ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start and wait until the server greets; a port taken meanwhile means new ports."""
        for attempt in range(5):
            try:
                self._start_once()
                return
            except _PortTaken:
                if attempt == 4:
                    raise
                self.choose_ports()

    def _start_once(self) -> None:
        assert not self.running, "already running"
        self._output = open(self.root / "dovecot.out", "ab")  # noqa: SIM115  (closed in stop)
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can end all of it
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._process.poll() is not None:
                log = self.log()
                self._reap()
                if "Address already in use" in log:
                    raise _PortTaken(log)
                pytest.fail(f"Dovecot {self.version} did not start:\n{log}")
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"Dovecot did not answer within {STARTUP_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.02)  # waiting for another process: there is no event to await

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                return conn.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the server; its clients are disconnected (Dovecot's shutdown_clients).

        The server's processes run in a process group of their own. Graceful
        sends SIGTERM to all of them, as a system shutdown would: each IMAP
        process says `* BYE Server shutting down.` to its client and exits (the
        master alone would leave logged-in clients connected to their orphaned
        IMAP processes); it takes the master about a second. Otherwise they are
        all killed at once and the clients see their connections closed.
        """
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=15)
        self._reap()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait(timeout=15)
            self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- mail ---------------------------------------------------------------

    def deliver(self, raw: bytes, *, seen: bool = False) -> Path:
        """Put a message into the INBOX maildir, as a local delivery agent would."""
        self._delivered += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._delivered}.sto-test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw.replace(b"\r\n", b"\n"))  # maildir files have Unix line ends
        if self.users.root:
            os.chown(tmp, self.users.mail_uid, self.users.mail_gid)
        target = self.maildir / ("cur" if seen else "new") / (name + (":2,S" if seen else ""))
        tmp.rename(target)
        return target

    @contextlib.contextmanager
    def imap(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection of the test's own (plain, on `port`)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            try:
                client.logout()  # closes the socket too
            except (imaplib.IMAP4.error, OSError):
                with contextlib.suppress(OSError):
                    client.shutdown()

    def append(self, raw: bytes, *, flags: str = "") -> None:
        with self.imap() as client:
            typ, data = client.append("INBOX", flags or None, None, raw)
            assert typ == "OK", data

    def messages(self) -> list[Stored]:
        """Every message in INBOX, read-only (EXAMINE: nothing is marked)."""
        with self.imap() as client:
            typ, data = client.select("INBOX", readonly=True)
            assert typ == "OK", data
            typ, data = client.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER])")
            assert typ == "OK", data
        found: list[Stored] = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, header = item
            uid = re.search(rb"UID (\d+)", meta)
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
            assert uid is not None and flags is not None, meta
            parsed = message_from_bytes(header, policy=default_policy)
            found.append(
                Stored(
                    uid=int(uid.group(1)),
                    flags=frozenset(flags.group(1).decode().split()),
                    message_id=parsed["Message-ID"],
                    subject=parsed["Subject"],
                )
            )
        return sorted(found, key=lambda stored: stored.uid)

    def seen(self) -> set[str | None]:
        return {m.message_id for m in self.messages() if m.seen}

    def unseen(self) -> set[str | None]:
        return {m.message_id for m in self.messages() if not m.seen}


class _PortTaken(Exception):
    """The port chosen was taken before Dovecot could bind it."""


def _services(server: DovecotServer) -> str:
    chroot = "" if server.users.root else "  chroot =\n"
    plain_only = "" if server.users.root else "service anvil {\n  chroot =\n}\n"
    imaps = f"    port = {server.tls_port}\n    ssl = yes\n" if server.tls else "    port = 0\n"
    return (
        "service imap-login {\n"
        f"{chroot}"
        "  inet_listener imap {\n"
        f"    port = {server.port}\n"
        "  }\n"
        "  inet_listener imaps {\n"
        f"{imaps}"
        "  }\n"
        "}\n"
        f"{plain_only}"
    )


def _common(server: DovecotServer) -> str:
    root, users = server.root, server.users
    return (
        f"base_dir = {root}/run\n"
        f"state_dir = {root}/state\n"
        f"instance_name = sto-test-{root.name}\n"
        f"listen = {server.host}\n"
        "protocols = imap\n"
        f"log_path = {root}/dovecot.log\n"
        f"info_log_path = {root}/dovecot.log\n"
        f"default_internal_user = {users.internal_user}\n"
        f"default_internal_group = {users.internal_group}\n"
        f"default_login_user = {users.login_user}\n"
        "auth_mechanisms = plain login\n"
    )


def _config_23(server: DovecotServer) -> str:
    """Dovecot 2.3 (Debian 12: 2.3.19)."""
    root, users = server.root, server.users
    ssl_lines = (
        f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"
        if server.tls
        else "ssl = no\n"
    )
    return (
        "# Written by tests/imap_server.py for Dovecot 2.3\n"
        + _common(server)
        + "disable_plaintext_auth = no\n"
        + ssl_lines
        + "passdb {\n"
        "  driver = passwd-file\n"
        f"  args = {root}/passwd\n"
        "}\n"
        "userdb {\n"
        "  driver = static\n"
        f"  args = uid={users.mail_uid} gid={users.mail_gid} home={root}/home/%u\n"
        "}\n"
        "mail_location = maildir:~/Maildir\n"
        "namespace inbox {\n"
        "  inbox = yes\n"
        "  separator = /\n"
        "}\n" + _services(server)
    )


def _config_24(server: DovecotServer) -> str:
    """Dovecot 2.4 (Debian 13): versioned, named filters, %{variables}, renamed settings."""
    root, users = server.root, server.users
    ssl_lines = (
        f"ssl = yes\nssl_server_cert_file = {root}/cert.pem\nssl_server_key_file = {root}/key.pem\n"
        if server.tls
        else "ssl = no\n"
    )
    return (
        # dovecot_config_version must be the first setting of the file.
        "dovecot_config_version = 2.4.0\n"
        "dovecot_storage_version = 2.4.0\n"
        "# Written by tests/imap_server.py for Dovecot 2.4\n"
        + _common(server)
        + "auth_allow_cleartext = yes\n"
        + ssl_lines
        + "passdb passwd-file {\n"
        f"  passwd_file_path = {root}/passwd\n"
        "}\n"
        "userdb static {\n"
        "  fields {\n"
        f"    uid = {users.mail_uid}\n"
        f"    gid = {users.mail_gid}\n"
        f"    home = {root}/home/%{{user}}\n"
        "  }\n"
        "}\n"
        "mail_driver = maildir\n"
        "mail_path = ~/Maildir\n"
        "namespace inbox {\n"
        "  inbox = yes\n"
        "  separator = /\n"
        "}\n" + _services(server)
    )


@contextlib.contextmanager
def running_dovecot(*, tls: bool = False) -> Iterator[DovecotServer]:
    """A started Dovecot with an empty INBOX; stopped and removed afterwards."""
    binary = find_dovecot()
    if binary is None:
        chosen = os.environ.get("STO_TEST_DOVECOT")
        if chosen:
            pytest.fail(f"STO_TEST_DOVECOT={chosen} is not an executable Dovecot", pytrace=False)
        pytest.fail(MISSING, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="sto-dovecot-"))
    server = DovecotServer(root=root, binary=binary, version=dovecot_version(binary), tls=tls)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop(graceful=False)  # the test is over: no need to wait for a polite exit
        shutil.rmtree(root, ignore_errors=True)
