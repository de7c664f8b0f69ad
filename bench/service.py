"""Service throughput: the generated service beside bare FastAPI, under the same gunicorn."""

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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PASSWORD: Final = "Bench-passw0rd"
#: Tasks owned by the user whose list is read: the list pages 20 of them.
OWNED_TASKS: Final = 1_000
#: Rate limits out of the way: the benchmark measures the service, not its limiter's refusals.
#: Logins are CPU-bound (an Argon2 verification each): a few at a time show their latency, where
#: 32 at once would only queue behind each other.
LOGIN_CONNECTIONS: Final = 4
UNLIMITED: Final = {
    "RATE_LIMIT_DEFAULT": "100000000/minute",
    "RATE_LIMIT_LOGIN": "100000000/minute",
}


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


def measure_service(
    project: Path, answers: dict[str, Any], *, load: Load, rounds: int
) -> dict[str, Figures]:
    """Serve the project and bare FastAPI side by side, and load each endpoint `rounds` times."""
    with (
        running_stack(project, answers, settings=UNLIMITED) as stack,
        bare_app(project, stack.env) as bare_url,
    ):
        api = stack.app_url
        with httpx.Client(base_url=api, timeout=30) as client:
            reader = _user(client, "reader")
            _add_tasks(client, reader, OWNED_TASKS)
            writer = _user(client, "writer")
        live: list[Sample] = []
        bare: list[Sample] = []
        stack_samples: list[Sample] = []
        warm_up = dataclasses.replace(load, seconds=2)
        run_wrk(f"{bare_url}/health", warm_up)  # both workers of each server answer at full speed
        run_wrk(f"{api}/healthz/live", warm_up)
        for _ in range(rounds):  # A/B/A/B: drift on a noisy machine hits both alike
            bare.append(run_wrk(f"{bare_url}/health", load))
            live.append(run_wrk(f"{api}/healthz/live", load))
            stack_samples.append(run_wrk(f"{api}/info/status", load))  # every middleware
        tasks = f"{api}/api/v1/tasks"
        login = json.dumps({"username": "reader", "password": PASSWORD})
        return {
            "bare_health": Figures.of(bare),
            "healthz_live": Figures.of(live),
            "info_status": Figures.of(stack_samples),
            "list_tasks": _rounds(rounds, lambda: run_wrk(f"{tasks}?limit=20", load, token=reader)),
            "create_task": _rounds(
                rounds, lambda: run_wrk(tasks, load, token=writer, script="post_task.lua")
            ),
            "login": _rounds(
                rounds,
                lambda: run_wrk(
                    f"{api}/api/v1/auth/login",
                    dataclasses.replace(load, connections=LOGIN_CONNECTIONS),
                    script="login.lua",
                    env={"BENCH_LOGIN_BODY": login},
                ),
            ),
        }


def _rounds(rounds: int, sample: Callable[[], Sample]) -> Figures:
    return Figures.of([sample() for _ in range(rounds)])


@contextlib.contextmanager
def bare_app(project: Path, env: dict[str, str]) -> Iterator[str]:
    """bench/bare_app.py under the project's gunicorn and its config; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="taskapi-bare-") as workdir:
        port = free_port()
        bare_env = env | {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_CONTROL_SOCKET": str(Path(workdir, "gunicorn.ctl")),
            "PROMETHEUS_MULTIPROC_DIR": "",
        }
        log = Path(workdir, "bare.log")
        with gunicorn(project, bare_env, log, app="bench.bare_app:app", cwd=HERE.parent):
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _answers(f"{url}/health"), timeout=60, what="bare gunicorn", log=log)
            yield url


def _answers(url: str) -> bool:
    """Whether `url` answers 200 (a worker has booted, not only the master's socket)."""
    try:
        return httpx.get(url, timeout=2).status_code == httpx.codes.OK
    except httpx.TransportError:
        return False


def _user(client: httpx.Client, name: str) -> str:
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
