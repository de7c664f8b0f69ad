"""Fault tier: the PostgreSQL presets under load, losing their stores, reloaded and stopped.

Real processes as in the run tier (PostgreSQL, redis-server, gunicorn with 2 workers, nginx):
a soak of mixed load, a reload (SIGHUP) and a stop (SIGTERM) under 32 connections, and the
database and Redis stopped and started again under the running service. The tests share one
stack per preset and run in file order: the stop comes last.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import report
from tests.support.flow import ApiFlow, User
from tests.support.load import Load, Outcome, Request
from tests.support.stack import Stack, running_stack
from tests.support.variants import Variant, presets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx

    from tests.support.render import Renderer

pytestmark = pytest.mark.slow

PRESETS = [v for v in presets() if v.id in {"default", "full"}]
#: Seconds of mixed load in the soak (raise it for a longer soak).
SOAK_SECONDS = float(os.environ.get("TASKAPI_SOAK_SECONDS", "60"))
#: How much the workers' memory may grow over the soak, once warm.
RSS_GROWTH_ALLOWED = 1.15


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(f"{v.id}-faults")) for v in PRESETS
    ],
)
def preset(request: pytest.FixtureRequest) -> Variant:
    """One PostgreSQL preset."""
    value: Variant = request.param
    return value


@pytest.fixture(scope="module")
def stack(renderer: Renderer, preset: Variant) -> Iterator[Stack]:
    """Yield the preset, rendered, installed, migrated and serving."""
    project = renderer.installed(preset.answers)
    with running_stack(project, preset.answers) as running:
        yield running


@pytest.fixture(scope="module")
def flow(stack: Stack) -> Iterator[ApiFlow]:
    """Yield an HTTP client on the service's front door (nginx when there is one)."""
    client = ApiFlow(stack.base_url)
    client.wait_ready()
    yield client
    client.close()


@pytest.fixture(scope="module")
def credentials(flow: ApiFlow) -> tuple[User, dict[str, str]]:
    """Return a user with 50 tasks, and the body that logs them in."""
    username = f"load_{secrets.token_hex(4)}"
    login = {"username": username, "password": "Sup3r-" + secrets.token_hex(8)}
    body = {"email": f"{username}@example.com", **login}
    assert flow.request("POST", "/api/v1/auth/register", json=body).status_code == 201
    token = flow.request("POST", "/api/v1/auth/login", json=login).json()["access_token"]
    user = User(username, token)
    for number in range(50):
        created = flow.request(
            "POST", "/api/v1/tasks", json={"title": f"seed {number}"}, headers=user.headers
        )
        assert created.status_code == 201
    return user, login


def mixed_requests(user: User, login: dict[str, str]) -> Callable[[int], Request]:
    """Return a mix of reads, writes, stats and (1 in 100) logins, each from its own address.

    Every client logs in once, well within the login limit: the load is not refused.
    """

    def next_request(n: int) -> Request:
        auth: dict[str, Any] = {"headers": user.headers}
        if n % 100 == 0:
            client = f"198.18.{n // 100 // 250 % 250}.{n // 100 % 250 + 1}"
            return (
                "login",
                "POST",
                "/api/v1/auth/login",
                {"json": login, "headers": {"X-Forwarded-For": client}},
            )
        if n % 10 < 6:
            return ("list", "GET", "/api/v1/tasks?limit=20", auth)
        if n % 10 < 8:
            return ("create", "POST", "/api/v1/tasks", {"json": {"title": f"load {n}"}, **auth})
        if n % 10 < 9:
            return ("stats", "GET", "/api/v1/tasks/stats", auth)
        return ("status", "GET", "/info/status", {})

    return next_request


def list_requests(user: User) -> Callable[[int], Request]:
    """One page of the user's tasks, again and again."""
    return lambda _n: ("list", "GET", "/api/v1/tasks?limit=20", {"headers": user.headers})


def worker_pids(stack: Stack) -> set[int]:
    """Return the pids of gunicorn's workers: the master's children."""
    master = str(stack.gunicorn.pid)
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if fields[1] == master:
            pids.add(int(stat.parent.name))
    return pids


def resident_mib(pid: int) -> float:
    """Return the resident memory of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    msg = f"no VmRSS for pid {pid}"
    raise AssertionError(msg)


def settled_mib(pids: set[int], samples: int = 30, interval: float = 0.1) -> dict[int, float]:
    """Each worker's resident memory between logins: its lowest of `samples` readings.

    An Argon2 verification maps 64 MiB for the fraction of a second it runs and unmaps it after,
    so one reading taken during a login would count that buffer as growth.
    """
    readings: dict[int, list[float]] = {pid: [] for pid in pids}
    for _ in range(samples):
        for pid in pids:
            readings[pid].append(resident_mib(pid))
        time.sleep(interval)
    return {pid: min(values) for pid, values in readings.items()}


def summary(outcomes: list[Outcome]) -> str:
    """Count the outcomes by request name and result, for assertion messages."""
    counts: dict[str, int] = {}
    for o in outcomes:
        key = f"{o.name} {o.status or o.error}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def wait_for_status(
    flow: ApiFlow, path: str, status: int, *, within: float
) -> tuple[httpx.Response, float]:
    """Poll `path` until it answers `status`; return the answer and the seconds it took."""
    started = time.monotonic()
    while True:
        response = flow.request("GET", path)
        elapsed = time.monotonic() - started
        if response.status_code == status:
            return response, elapsed
        assert elapsed < within, f"{path} still {response.status_code} after {within:.0f}s"
        time.sleep(0.2)


def test_mixed_load_for_a_minute_has_no_errors_and_flat_memory(
    stack: Stack, credentials: tuple[User, dict[str, str]], preset: Variant
) -> None:
    """Reads, writes and logins on 32 connections: no 5xx, no connection error, no growth."""
    user, login = credentials
    with Load(stack.app_url, mixed_requests(user, login)) as load:
        load.wait_for(1000)  # warm: every worker has served every kind of request
        workers = worker_pids(stack)
        rss_start = settled_mib(workers)
        count_start, started = len(load.outcomes), time.monotonic()
        time.sleep(SOAK_SECONDS)
        rss_end = settled_mib(workers)
        count_end, seconds = len(load.outcomes), time.monotonic() - started
    report.record(
        f"soak {preset.id}",
        seconds=round(seconds),
        requests=count_end - count_start,
        rps=round((count_end - count_start) / seconds),
        rss_start_mib=sorted(round(v, 1) for v in rss_start.values()),
        rss_end_mib=sorted(round(v, 1) for v in rss_end.values()),
    )
    assert len(workers) == 2
    assert worker_pids(stack) == workers  # no worker died or was replaced
    assert not load.failures(), summary(load.failures())
    assert {o.name for o in load.outcomes} == {"login", "list", "create", "stats", "status"}
    assert all(o.succeeded for o in load.outcomes), summary(load.outcomes)
    assert sum(rss_end.values()) <= sum(rss_start.values()) * RSS_GROWTH_ALLOWED, (
        rss_start,
        rss_end,
    )


def test_reload_under_load_drops_no_request(
    stack: Stack, credentials: tuple[User, dict[str, str]]
) -> None:
    """SIGHUP replaces both workers while 32 connections keep asking: every request succeeds."""
    user, _ = credentials
    old_workers = worker_pids(stack)
    with Load(stack.app_url, list_requests(user)) as load:
        load.wait_for(200)
        stack.gunicorn.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not (len(worker_pids(stack)) == 2 and worker_pids(stack).isdisjoint(old_workers)):
            assert time.monotonic() < deadline, "the workers were not replaced within 60s"
            time.sleep(0.1)
        served_by_new = len(load.outcomes) + 200
        load.wait_for(served_by_new)
    assert stack.gunicorn.poll() is None
    assert not load.failures(), summary(load.failures())
    assert all(o.succeeded for o in load.outcomes), summary(load.outcomes)


def read_and_write_requests(user: User) -> Callable[[int], Request]:
    """One task created (POST, which nginx never retries) for three pages of tasks read."""

    def next_request(n: int) -> Request:
        if n % 4 == 0:
            body = {"title": f"reload {n}"}
            return ("create", "POST", "/api/v1/tasks", {"json": body, "headers": user.headers})
        return ("list", "GET", "/api/v1/tasks?limit=20", {"headers": user.headers})

    return next_request


def nginx_upstream_errors(stack: Stack) -> list[str]:
    """Return nginx's error-log lines about its connections to the app, refused ones apart.

    Each is a request that nginx had written to a connection the app held, and that the app
    dropped (reset, or closed without an answer).
    """
    log = stack.log.parent / "nginx" / "error.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if "upstream" in line and "Connection refused" not in line]


def test_reloads_through_nginx_lose_no_request(
    stack: Stack, credentials: tuple[User, dict[str, str]], preset: Variant
) -> None:
    """Three SIGHUPs under keep-alive reads and writes through nginx: every request succeeds.

    nginx keeps idle connections to the app open and reuses them. A stopping worker that closed
    them at once would lose every request nginx had just written to one: nginx retries a GET on a
    new connection, but answers a POST with 502. The workers drain those connections instead.
    """
    if not preset.answers["use_nginx"]:
        pytest.fail("the PostgreSQL presets under test all use nginx")
    user, _ = credentials
    errors_before = len(nginx_upstream_errors(stack))
    with Load(stack.base_url, read_and_write_requests(user)) as load:
        load.wait_for(200)
        for _ in range(3):
            old_workers = worker_pids(stack)
            stack.gunicorn.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while not (len(worker_pids(stack)) == 2 and worker_pids(stack).isdisjoint(old_workers)):
                assert time.monotonic() < deadline, "the workers were not replaced within 60s"
                time.sleep(0.1)
            load.wait_for(len(load.outcomes) + 200)
    dropped = nginx_upstream_errors(stack)[errors_before:]
    report.record("reloads through nginx", requests=len(load.outcomes), dropped=len(dropped))
    assert stack.gunicorn.poll() is None
    assert {o.name for o in load.outcomes} == {"create", "list"}
    assert all(o.succeeded for o in load.outcomes), summary(load.outcomes)
    assert not dropped, dropped


def test_database_loss_turns_readiness_503_and_heals_without_restart(
    stack: Stack, flow: ApiFlow, credentials: tuple[User, dict[str, str]]
) -> None:
    """PostgreSQL stops: readiness 503 naming it, liveness 200, API 503 fast; then it all heals."""
    user, _ = credentials
    assert stack.database is not None
    workers = worker_pids(stack)
    stack.database.stop()
    try:
        ready, took = wait_for_status(flow, "/healthz/ready", 503, within=10)
        queue = ["jobs"] if any(stack.project.glob("src/*/job_worker.py")) else []  # in it too
        assert ready.json()["failing"] == ["database", *queue]
        assert flow.request("GET", "/healthz/live").status_code == 200
        for _ in range(5):  # each worker, pooled connections or not
            started = time.monotonic()
            listed = flow.request("GET", "/api/v1/tasks", headers=user.headers)
            assert listed.status_code == 503, listed.text
            assert time.monotonic() - started < 2
            assert listed.json()["detail"] == "The database is unavailable: retry later"
            assert listed.headers["Retry-After"] == "5"
    finally:
        stack.database.start()
    _, healed = wait_for_status(flow, "/healthz/ready", 200, within=15)
    for _ in range(5):
        assert flow.request("GET", "/api/v1/tasks", headers=user.headers).status_code == 200
    assert worker_pids(stack) == workers  # healed, not restarted
    report.record("database loss", ready_503_s=round(took, 1), ready_200_s=round(healed, 1))


def test_a_database_restart_between_requests_fails_none_of_the_next(
    stack: Stack, flow: ApiFlow, credentials: tuple[User, dict[str, str]]
) -> None:
    """PostgreSQL restarts while the pools hold idle connections: every later request succeeds.

    The pool notices, when it hands a connection out, that the server closed it, and opens a
    new one: no request meets a dead connection (and a 503) once the database is back.
    """
    user, _ = credentials
    assert stack.database is not None
    for _ in range(10):  # every worker's pool holds connections
        assert flow.request("GET", "/api/v1/tasks", headers=user.headers).status_code == 200
    stack.database.stop()
    stack.database.start()
    answers = [
        flow.request("GET", "/api/v1/tasks", headers=user.headers).status_code for _ in range(20)
    ]
    assert answers == [200] * 20


def test_redis_loss_degrades_as_documented_and_heals(
    stack: Stack, flow: ApiFlow, credentials: tuple[User, dict[str, str]], preset: Variant
) -> None:
    """Redis stops: requests still succeed (cache misses, limits in memory), readiness 503."""
    if not preset.answers["use_redis"]:
        pytest.fail("the PostgreSQL presets under test all use Redis")
    assert stack.cache is not None
    user, login = credentials
    log_lines_before = len(stack.log_lines())
    stack.cache.stop()
    try:
        ready, _ = wait_for_status(flow, "/healthz/ready", 503, within=10)
        assert ready.json()["failing"] == ["redis"]
        assert flow.request("GET", "/healthz/live").status_code == 200
        client = {"X-Forwarded-For": "203.0.113.9"}
        for _ in range(3):
            assert flow.request("GET", "/api/v1/tasks/stats", headers=user.headers).is_success
            assert flow.request("GET", "/api/v1/tasks", headers=user.headers).is_success
        logins = [
            flow.request("POST", f"{stack.app_url}/api/v1/auth/login", json=login, headers=client)
            for _ in range(3)
        ]
        assert [r.status_code for r in logins] == [200] * 3
    finally:
        stack.cache.start()
    outage_log = "\n".join(stack.log_lines()[log_lines_before:])
    assert "rate_limit_storage_failed" in outage_log  # the limits went to memory, and said so
    assert "cache read failed" in outage_log  # the cache missed, and said so
    wait_for_status(flow, "/healthz/ready", 200, within=15)
    assert flow.request("POST", f"{stack.app_url}/api/v1/auth/login", json=login).is_success
    assert [key for key in stack.cache.scan_keys() if key.startswith("rate-limit")]


def test_stop_under_load_answers_every_request_it_took(
    stack: Stack, credentials: tuple[User, dict[str, str]]
) -> None:
    """SIGTERM under 32 connections: every request the service took gets its 200, then it exits.

    Every request on a connection the service holds, before the signal or after it (while the
    workers drain their connections), is answered with a 2xx. New connections after the signal
    find the port closed, as the service stops taking work. A connection the kernel completed just
    before the last worker closed the port, but that no worker accepted, is reset by the kernel:
    its request never reached the service (not in its access log) and failed at the transport.
    """
    user, _ = credentials
    errors_before = len(nginx_upstream_errors(stack))
    with (
        Load(stack.app_url, list_requests(user)) as load,
        Load(stack.base_url, read_and_write_requests(user), connections=16) as proxied,
    ):
        load.wait_for(200)
        proxied.wait_for(100)
        signalled = time.monotonic()
        stack.gunicorn.send_signal(signal.SIGTERM)
        exit_code = stack.gunicorn.wait(timeout=60)
        exited = time.monotonic()
    # Through nginx: once the app is gone nginx answers 502 (connection refused), but no request
    # it had written to a connection the app held was dropped.
    dropped_behind_nginx = nginx_upstream_errors(stack)[errors_before:]
    sent = [o for o in load.outcomes if o.sent is not None]
    in_flight = [o for o in sent if o.sent is not None and o.sent < signalled < o.ended]
    unanswered = [o for o in sent if not o.succeeded]
    never_accepted = [o for o in unanswered if o.fresh_connection and o.status is None]
    refused = [o for o in load.outcomes if o.sent is None]
    records = [json.loads(line) for line in stack.log_lines()]
    logged = {r.get("request_id") for r in records if r.get("message") == "http_request"}
    assert exit_code == 0
    assert not [r for r in records if "graceful shutdown exceeded" in r["message"]]
    assert in_flight, "no request was in flight at SIGTERM"
    assert unanswered == never_accepted, summary(unanswered)
    assert {o.error for o in never_accepted} <= {"ReadError", "RemoteProtocolError"}
    assert all(o.ended > signalled for o in never_accepted)
    assert {o.error for o in refused} <= {"ConnectError"}, summary(refused)
    assert not [o for o in refused + never_accepted if o.request_id in logged]
    assert {o.name for o in proxied.outcomes} == {"create", "list"}
    assert not dropped_behind_nginx, dropped_behind_nginx
    report.record(
        "graceful stop",
        dropped_behind_nginx=len(dropped_behind_nginx),
        in_flight=len(in_flight),
        answered_after_signal=sum(1 for o in sent if o.sent and o.sent > signalled),
        refused_after_signal=len(refused),
        reset_unaccepted=len(never_accepted),
        exit_s=round(exited - signalled, 2),
    )
