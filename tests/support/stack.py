"""A rendered project started for real: its database, Redis, migrations, gunicorn and nginx."""

from __future__ import annotations

import contextlib
import secrets
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.compose import app_environment, nginx_address
from tests.support.deploy import (
    nginx_test_config,
    require_tool,
    running_nginx,
    self_signed_certificate,
)
from tests.support.services import (
    PostgresServer,
    RedisServer,
    free_port,
    port_open,
    postgres,
    redis,
    wait_until,
)
from tests.support.tools import clean_env, run

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Stack:
    """A running service and the processes behind it."""

    project: Path
    base_url: str
    app_url: str
    env: dict[str, str]
    log: Path
    gunicorn: subprocess.Popen[bytes]
    database: PostgresServer | None
    cache: RedisServer | None
    #: nginx's HTTPS address (tls.conf) and the certificate that verifies it, with `tls=True`.
    secure_url: str | None = None
    certificate: Path | None = None

    def log_lines(self) -> list[str]:
        """Every line the service has printed so far."""
        return self.log.read_text(errors="replace").splitlines()


#: Where nginx connects from here, in place of its fixed address on the compose network.
NGINX_HERE = "127.0.0.1"
#: compose settings that name compose's own hosts: the stack points them at its own servers.
COMPOSE_HOSTS = frozenset({"DATABASE_URL", "REDIS_URL"})


def service_env(project: Path, answers: dict[str, Any], workdir: Path) -> dict[str, str]:
    """Return the environment the service runs with: compose's app settings, a key and JSON logs.

    compose's `environment` of the app applies as it is (ENVIRONMENT=production, the proxies
    gunicorn trusts...), except the URLs of compose's hosts, and nginx's compose address: nginx
    connects from 127.0.0.1 here, so a setting naming nginx names 127.0.0.1 instead.
    """
    nginx = nginx_address(project) if answers["use_nginx"] else None
    compose = {
        name: NGINX_HERE if nginx is not None and value == nginx else value
        for name, value in app_environment(project).items()
        if name not in COMPOSE_HOSTS
    }
    assert not [value for value in compose.values() if "$" in value], compose
    return clean_env(
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        GUNICORN_WORKERS="2",
        GUNICORN_CONTROL_SOCKET=str(workdir / "gunicorn.ctl"),
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'service.db'}",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
        # One test client makes most requests: the default limit is not what is under test.
        RATE_LIMIT_DEFAULT="100000/minute",
        **compose,
    )


@contextlib.contextmanager
def running_stack(
    project: Path,
    answers: dict[str, Any],
    *,
    settings: dict[str, str] | None = None,
    tls: bool = False,
) -> Iterator[Stack]:
    """Start the project's backing services, migrate, then serve it with gunicorn (and nginx).

    `settings` are environment variables of the service on top of `service_env`'s. With `tls`,
    nginx also serves its tls.conf with a self-signed certificate (`Stack.secure_url`).
    """
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="taskapi-run-")))
        env = service_env(project, answers, workdir) | (settings or {})
        database = cache = None
        if answers["database"] == "postgresql":
            database = stack.enter_context(postgres())
            env["DATABASE_URL"] = database.url
        if answers["use_redis"]:
            cache = stack.enter_context(redis())
            env["REDIS_URL"] = cache.url
        run([str(project / ".venv" / "bin" / "alembic"), "upgrade", "head"], cwd=project, env=env)

        app_port = free_port()
        env["GUNICORN_BIND"] = f"127.0.0.1:{app_port}"
        log = workdir / "service.log"
        server = stack.enter_context(gunicorn(project, env, log))
        wait_until(lambda: port_open(app_port), timeout=60, what="gunicorn", log=log)
        app_url = f"http://127.0.0.1:{app_port}"

        base_url = app_url
        secure_url = certificate = None
        if answers["use_nginx"]:
            nginx_dir = workdir / "nginx"
            nginx_dir.mkdir()
            listen, tls_port = free_port(), free_port()
            if tls:
                certificate = self_signed_certificate(workdir / "certs")
                secure_url = f"https://127.0.0.1:{tls_port}"
            config = nginx_test_config(
                project,
                nginx_dir,
                ports=(listen, app_port),
                cert_dir=certificate.parent if certificate else None,
                tls_port=tls_port,
            )
            base_url = stack.enter_context(running_nginx(require_tool("nginx"), config, listen))
        yield Stack(
            project, base_url, app_url, env, log, server, database, cache, secure_url, certificate
        )


@contextlib.contextmanager
def gunicorn(
    project: Path,
    env: dict[str, str],
    log: Path,
    *,
    app: str | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run gunicorn (the master itself, not a wrapper) with the rendered config, output in `log`.

    It serves the project's app, or `app` imported from `cwd` under the same config.
    """
    executable = str(project / ".venv" / "bin" / "gunicorn")
    config = str(project / "gunicorn.conf.py")
    command = [executable, "-c", config, app or f"{package_of(project)}.main:app"]
    with stopped_at_exit(command, cwd or project, env, log) as process:
        yield process


@contextlib.contextmanager
def uvicorn(
    project: Path, env: dict[str, str], log: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the project's app under a bare `uvicorn <package>.main:app`, output in `log`."""
    executable = str(project / ".venv" / "bin" / "uvicorn")
    command = [executable, f"{package_of(project)}.main:app", "--port", str(port)]
    with stopped_at_exit(command, project, env, log) as process:
        yield process


def package_of(project: Path) -> str:
    """Return the name of the project's package: the one with a `main.py`."""
    return next(p.name for p in (project / "src").iterdir() if (p / "main.py").exists())


@contextlib.contextmanager
def stopped_at_exit(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` with its stdout and stderr in `log`; stop it with SIGTERM at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
