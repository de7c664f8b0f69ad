"""Real backing services for the tests: throwaway servers on free loopback ports.

Each server lives in its own temporary directory, is started by this process and stopped by the
pid it started, and prints its log tail when it fails to come up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, which must run every test; elsewhere skip with `reason`."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide every test dependency: {reason}")
    pytest.skip(reason)


def require(executable: str, *, hint: str) -> str:
    """Return the path of `executable`; in CI a missing one fails, elsewhere it skips, saying so."""
    found = shutil.which(executable)
    if found:
        return found
    unavailable(f"{executable} is not installed ({hint})")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str, log: Path | None) -> None:
    """Poll `ready` until it holds; fail with the service's log tail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log else ""
    pytest.fail(f"{what} did not come up within {timeout:.0f}s\n--- log tail\n{tail}")


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def _postgres_bindir() -> Path:
    """Return the directory of the PostgreSQL server binaries (`initdb`, `pg_ctl`)."""
    if shutil.which("initdb"):
        return Path(require("initdb", hint="install PostgreSQL")).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if candidates:
        return candidates[-1].parent
    return Path(require("initdb", hint="apt-get install postgresql")).parent


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster owned by the test session."""

    directory: Path
    port: int
    user: str
    password: str
    database: str
    bindir: Path

    @property
    def url(self) -> str:
        """The libpq URL of the database (the service normalises it to asyncpg)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.directory / "server.log"

    def create_database(self, name: str) -> str:
        """Create a new, empty database on this server and return its URL."""
        safe = "".join(c if c.isalnum() else "_" for c in name.lower())[:60]
        subprocess.run(
            [
                self.bindir / "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                safe,
            ],
            check=True,
            capture_output=True,
            env=os.environ | {"PGPASSWORD": self.password},
        )
        return self.url.rsplit("/", 1)[0] + f"/{safe}"

    def sql(self, database: str, statements: str) -> str:
        """Run `statements` with psql on `database`; return what the last one printed, unaligned."""
        result = subprocess.run(
            [
                self.bindir / "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAq",
                "-c",
                statements,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ | {"PGPASSWORD": self.password},
        )
        return result.stdout.strip()

    def as_owner(self, *command: str | Path) -> list[str]:
        """`command`, run as the cluster's owner when this process is root."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return [*prefix, *map(str, command)]

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [
                *self.as_owner(
                    self.bindir / "pg_ctl", "-D", self.directory / "data", "-l", self.log
                ),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        wait_until(lambda: port_open(self.port), timeout=30, what="PostgreSQL", log=self.log)

    def stop(self) -> None:
        """Stop the server (fast shutdown), by the postmaster pid it was started with."""
        if (self.directory / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self.as_owner(self.bindir / "pg_ctl", "-D", self.directory / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
            )


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer]:
    """Yield a fresh PostgreSQL cluster in its own temporary directory, removed afterwards.

    The directory sits directly in the system's temporary folder: when this process is root, the
    cluster runs as the `postgres` user, who must be able to reach it.
    """
    directory = Path(tempfile.mkdtemp(prefix="taskapi-pg-"))
    try:
        with _cluster(directory) as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _cluster(directory: Path) -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    server = PostgresServer(
        directory=directory,
        port=free_port(),
        user="taskapi",
        password=secrets.token_hex(12),
        database="taskapi",
        bindir=bindir,
    )
    password_file = directory / "password"
    password_file.write_text(server.password)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        shutil.chown(password_file, "postgres")
    subprocess.run(
        [
            *server.as_owner(bindir / "initdb", "-D", directory / "data", "-U", server.user),
            "--pwfile",
            str(password_file),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    server.start()
    try:
        server.create_database(server.database)
        yield server
    finally:
        server.stop()


@dataclass
class RedisServer:
    """A throwaway redis-server on a free loopback port, without persistence."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.directory / "redis.log"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        command = [require("redis-server", hint="apt-get install redis-server")]
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no", "--logfile", str(self.log)]
        self.process = subprocess.Popen(command)
        wait_until(lambda: port_open(self.port), timeout=15, what="redis-server", log=self.log)

    def scan_keys(self) -> list[str]:
        """Every key in the server's database 0 (through redis-cli)."""
        cli = require("redis-cli", hint="apt-get install redis-tools")
        shown = subprocess.run(
            [cli, "-p", str(self.port), "--scan"], capture_output=True, text=True, check=True
        )
        return shown.stdout.split()

    def stop(self) -> None:
        """Stop the server by the pid this object started."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


@contextlib.contextmanager
def redis() -> Iterator[RedisServer]:
    """Yield a fresh redis-server in its own temporary directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="taskapi-redis-"))
    server = RedisServer(directory=directory, port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
