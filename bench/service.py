"""Service throughput: the generated service beside its references, under the same gunicorn.

The references are bare FastAPI (one route, `bench/bare_app.py`) and the lean reference
(`bench/lean_app.py`: the task list and task creation by hand, on the service's own database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from bench.wrk import HERE, Load, Sample, run_wrk
from tests.support.services import free_port, wait_until
from tests.support.stack import gunicorn, running_stack
from tests.support.tools import run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.stack import Stack

PASSWORD: Final = "Bench-passw0rd"
#: Tasks owned by the user whose list is read: the list pages 20 of them.
OWNED_TASKS: Final = 1_000
PAGE_SIZE: Final = 20
#: The task every create request sends (bench/post_task.lua reads it from the environment).
NEW_TASK: Final = {
    "title": "Benchmark task",
    "priority": "high",
    "description": "Created under load",
}
#: What the lean reference needs beyond FastAPI; uv leaves those the project has as they are.
LEAN_NEEDS: Final = ("asyncpg", "pyjwt", "orjson")
#: Logins are CPU-bound (an Argon2 verification each): a few at a time show their latency, where
#: 32 at once would only queue behind each other.
LOGIN_CONNECTIONS: Final = 4
#: A login takes a few hundred milliseconds of hashing: on a busy machine a 1 s smoke load can
#: end before the first one answers, so logins are loaded for at least this long.
LOGIN_MIN_SECONDS: Final = 3
#: Rate limits out of the way: the benchmark measures the service, not its limiter's refusals.
UNLIMITED: Final = {
    "RATE_LIMIT_DEFAULT": "100000000/minute",
    "RATE_LIMIT_LOGIN": "100000000/minute",
    "RATE_LIMIT_ACCOUNT": "100000000/minute",
}
#: Every endpoint, in the order each round loads them: each reference just before its
#: counterpart (A/B/A/B), so that drift on a noisy machine hits both alike.
ENDPOINTS: Final = (
    "bare_health",
    "info_status",
    "healthz_live",
    "lean_list",
    "list_tasks",
    "lean_create",
    "create_task",
    "login",
)


@dataclass(frozen=True)
class Figures:
    """Median figures of one endpoint over its rounds, and how far the rounds spread."""

    rps: float
    p50_ms: float
    p99_ms: float
    rps_spread: float
    failed: int

    @classmethod
    def of(cls, samples: list[Sample]) -> Figures:
        """Medians of `samples`; the spread is (max - min) / median of their rps."""
        rps = [s.rps for s in samples]
        median = statistics.median(rps)
        return cls(
            rps=round(median, 1),
            p50_ms=round(statistics.median(s.p50_ms for s in samples), 2),
            p99_ms=round(statistics.median(s.p99_ms for s in samples), 2),
            rps_spread=round((max(rps) - min(rps)) / median, 3) if median else 0.0,
            failed=sum(s.failed for s in samples),
        )


@dataclass(frozen=True)
class Targets:
    """The servers under load and the users they serve."""

    api: str
    bare: str
    lean: str
    #: The bearer token of the user who owns OWNED_TASKS tasks.
    reader: str
    #: The bearer token of the user whose tasks the create requests add.
    writer: str
    #: The service's processes, settings and database.
    service: Stack

    def load(self, endpoint: str, load: Load) -> Sample:
        """Load one of ENDPOINTS for `load.seconds`."""
        loads: dict[str, Callable[[], Sample]] = {
            "bare_health": lambda: run_wrk(f"{self.bare}/health", load),
            "info_status": lambda: run_wrk(f"{self.api}/info/status", load),
            "healthz_live": lambda: run_wrk(f"{self.api}/healthz/live", load),
            "lean_list": lambda: self._list(self.lean, load),
            "list_tasks": lambda: self._list(self.api, load),
            "lean_create": lambda: self._create(self.lean, load),
            "create_task": lambda: self._create(self.api, load),
            "login": lambda: run_wrk(
                f"{self.api}/api/v1/auth/login",
                dataclasses.replace(
                    load,
                    connections=LOGIN_CONNECTIONS,
                    seconds=max(load.seconds, LOGIN_MIN_SECONDS),
                ),
                script="login.lua",
                env={"BENCH_LOGIN_BODY": json.dumps({"username": "reader", "password": PASSWORD})},
            ),
        }
        return loads[endpoint]()

    def _list(self, base: str, load: Load) -> Sample:
        return run_wrk(f"{base}/api/v1/tasks?limit={PAGE_SIZE}", load, token=self.reader)

    def _create(self, base: str, load: Load) -> Sample:
        return run_wrk(
            f"{base}/api/v1/tasks",
            load,
            token=self.writer,
            script="post_task.lua",
            env={"BENCH_TASK_BODY": json.dumps(NEW_TASK)},
        )


@contextlib.contextmanager
def serving(project: Path, answers: dict[str, Any]) -> Iterator[Targets]:
    """Serve the project, bare FastAPI and the lean reference, and give the service its users."""
    add_lean_needs(project)
    with (
        running_stack(project, answers, settings=UNLIMITED) as stack,
        reference_app(project, stack.env, "bare_app", probe="/health") as bare_url,
        reference_app(project, stack.env, "lean_app", probe="/api/v1/tasks") as lean_url,
    ):
        with httpx.Client(base_url=stack.app_url, timeout=30) as client:
            reader = register_user(client, "reader")
            _add_tasks(client, reader, OWNED_TASKS)
            writer = register_user(client, "writer")
        yield Targets(stack.app_url, bare_url, lean_url, reader, writer, stack)


def add_lean_needs(project: Path) -> None:
    """Install what the lean reference imports into the project's environment (a bench render)."""
    python = project / ".venv" / "bin" / "python"
    run(["uv", "pip", "install", "--quiet", "--python", str(python), *LEAN_NEEDS], cwd=project)


def measure_service(targets: Targets, *, load: Load, rounds: int) -> dict[str, Figures]:
    """Load every endpoint `rounds` times, all of them in each round; return their medians."""
    warm_up = dataclasses.replace(load, seconds=min(load.seconds, 2))
    for endpoint in ("bare_health", "info_status", "lean_list", "list_tasks"):
        targets.load(endpoint, warm_up)  # every worker of each server answers at full speed
    samples: dict[str, list[Sample]] = {endpoint: [] for endpoint in ENDPOINTS}
    for _ in range(rounds):
        for endpoint in ENDPOINTS:
            samples[endpoint].append(targets.load(endpoint, load))
    return {endpoint: Figures.of(taken) for endpoint, taken in samples.items()}


def lean_answers(targets: Targets) -> dict[str, Any]:
    """Ask the service and the lean reference for the same list and the same new task.

    Fail unless both list the same page (the same tasks, total and paging) and create a task
    with the same fields: the lean reference must do the service's work, or its ratio means
    nothing. Return the four answers.
    """
    found: dict[str, Any] = {}
    for server, base in (("service", targets.api), ("lean", targets.lean)):
        listed = httpx.get(
            f"{base}/api/v1/tasks",
            params={"limit": PAGE_SIZE},
            headers={"Authorization": f"Bearer {targets.reader}"},
            timeout=30,
        )
        created = httpx.post(
            f"{base}/api/v1/tasks",
            json=NEW_TASK,
            headers={"Authorization": f"Bearer {targets.writer}"},
            timeout=30,
        )
        if (listed.status_code, created.status_code) != (httpx.codes.OK, httpx.codes.CREATED):
            raise SystemExit(f"{server}: list {listed.text}\ncreate {created.text}")
        found[f"list_{server}"], found[f"create_{server}"] = listed.json(), created.json()
    if found["list_lean"] != found["list_service"]:
        raise SystemExit(f"the lean reference lists other tasks than the service:\n{found}")
    generated = {"id", "created_at", "updated_at"}
    lean, service = (
        {k: v for k, v in found[f"create_{server}"].items() if k not in generated}
        for server in ("lean", "service")
    )
    if lean != service or found["create_lean"].keys() != found["create_service"].keys():
        raise SystemExit(f"the lean reference creates another task than the service:\n{found}")
    return found


@contextlib.contextmanager
def reference_app(project: Path, env: dict[str, str], module: str, *, probe: str) -> Iterator[str]:
    """bench/`module`.py's `app` under the project's gunicorn and its config; yields its URL.

    It is up once `probe` answers at all (a worker has booted, not only the master's socket).
    """
    with tempfile.TemporaryDirectory(prefix=f"taskapi-{module}-") as workdir:
        port = free_port()
        app_env = env | {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_CONTROL_SOCKET": str(Path(workdir, "gunicorn.ctl")),
            "PROMETHEUS_MULTIPROC_DIR": "",
        }
        log = Path(workdir, f"{module}.log")
        with gunicorn(project, app_env, log, app=f"bench.{module}:app", cwd=HERE.parent):
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _answers(f"{url}{probe}"), timeout=60, what=module, log=log)
            yield url


def _answers(url: str) -> bool:
    """Whether `url` answers at all."""
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def register_user(client: httpx.Client, name: str) -> str:
    """Register `name` and return a bearer token for it."""
    registered = client.post(
        "/api/v1/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": PASSWORD},
    )
    registered.raise_for_status()
    login = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    login.raise_for_status()
    token: str = login.json()["access_token"]
    return token


def _add_tasks(client: httpx.Client, token: str, count: int) -> None:
    """Give the token's user `count` tasks of mixed status and priority."""
    headers = {"Authorization": f"Bearer {token}"}
    statuses, priorities = ("todo", "in_progress", "done"), ("low", "medium", "high")
    for n in range(count):
        task = {"title": f"Task {n}", "status": statuses[n % 3], "priority": priorities[n % 3]}
        client.post("/api/v1/tasks", json=task, headers=headers).raise_for_status()
