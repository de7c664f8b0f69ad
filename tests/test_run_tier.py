"""Run tier: every preset installed as its README says and served by real processes.

PostgreSQL (initdb + pg_ctl), redis-server, gunicorn with the rendered config (2 workers) and
Debian's nginx with the rendered config, each on a free loopback port; then real HTTP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.flow import ApiFlow
from tests.support.services import free_port, port_open, wait_until
from tests.support.stack import Stack, package_of, running_stack, uvicorn
from tests.support.variants import Variant, presets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.render import Renderer

pytestmark = pytest.mark.slow

PRESETS = presets()


@pytest.fixture(
    scope="module",
    params=[pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in PRESETS],
)
def preset(request: pytest.FixtureRequest) -> Variant:
    """One preset."""
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


def expected_checks(answers: dict[str, object]) -> set[str]:
    """Return the dependency checks `/health` reports for a preset."""
    optional = {"redis": answers["use_redis"], "jobs": answers["background_jobs"]}
    return {"database"} | {name for name, present in optional.items() if present}


def test_health_reports_every_dependency_ok(flow: ApiFlow, preset: Variant) -> None:
    """`/health` says each dependency is ok, and readiness answers 200."""
    flow.check_health(expected_checks(preset.answers))


def test_users_manage_only_their_own_tasks(flow: ApiFlow) -> None:
    """Register, log in, create, list with filters, update, delete; a stranger sees nothing."""
    flow.task_lifecycle()


def test_responses_carry_security_headers(flow: ApiFlow) -> None:
    """The security headers are on the responses (nginx's, else the app's own)."""
    flow.check_security_headers()


def test_a_large_body_goes_through_the_front_door(flow: ApiFlow) -> None:
    """A 36 KB body, more than nginx keeps in memory (it buffers it to a file), arrives whole."""
    user = flow.register("writer")
    description = "\N{SLIGHTLY SMILING FACE}" * 9_000  # 4 bytes each in UTF-8
    created = flow.request(
        "POST",
        "/api/v1/tasks",
        json={"title": "Long", "description": description},
        headers=user.headers,
    )

    assert created.status_code == 201, created.text
    assert created.json()["description"] == description


def test_large_lists_are_gzipped(flow: ApiFlow) -> None:
    """A large JSON list comes back gzip-encoded."""
    flow.check_large_list_is_gzipped()


def test_task_stats_are_cached_and_invalidated(flow: ApiFlow, stack: Stack) -> None:
    """Stats are served from Redis when there is one, and a change shows up at once."""
    keys_before = set(stack.cache.scan_keys()) if stack.cache else set()
    flow.check_task_stats_follow_changes()
    if stack.cache:
        new_keys = set(stack.cache.scan_keys()) - keys_before
        assert [key for key in new_keys if key.startswith("task-stats:")], new_keys


def test_metrics_of_both_workers_add_up(flow: ApiFlow, stack: Stack, preset: Variant) -> None:
    """With 2 gunicorn workers, /metrics counts every request, whichever worker served it."""
    if not preset.answers["use_metrics"]:
        assert flow.fresh("GET", f"{stack.app_url}/metrics").status_code == 404
        return
    route = 'route="/info/status"'
    before = metric_total(flow, stack.app_url, route)
    sent = 0
    # Fresh connections land on either worker; go on until both have counted some.
    while sent < 40 or (len(counting_workers(stack)) < 2 and sent < 1000):
        assert flow.fresh("GET", f"{stack.app_url}/info/status").status_code == 200
        sent += 1
    assert len(counting_workers(stack)) == 2
    assert metric_total(flow, stack.app_url, route) - before == sent
    text = flow.fresh("GET", f"{stack.app_url}/metrics").text
    reporting = re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\}', text, re.MULTILINE)
    assert set(reporting) == counting_workers(stack)  # each live worker's memory, once


def counting_workers(stack: Stack) -> set[str]:
    """Return the pids of the workers that wrote request counts to the multiprocess directory."""
    directory = Path(stack.env["PROMETHEUS_MULTIPROC_DIR"])
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}


def metric_total(flow: ApiFlow, app_url: str, label: str) -> float:
    """Return the sum of `http_requests_total` samples carrying `label`."""
    text = flow.fresh("GET", f"{app_url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and label in line
    )


def test_login_limit_is_shared_by_both_workers(
    flow: ApiFlow, stack: Stack, preset: Variant
) -> None:
    """One client's 6th login in a minute gets 429 from the app.

    The client connects from an address of its own (loopback is all of 127.0.0.0/8), straight to
    gunicorn. With Redis, each attempt comes on a fresh connection, so that either worker may
    serve it: the count is shared. Without Redis each worker counts alone (as documented), so the
    attempts share one connection and one worker.
    """
    client_ip = "127.0.0.7"
    shared = bool(preset.answers["use_redis"])
    attempt = {"json": {"username": "nobody", "password": "Wr0ngpass"}}
    login = f"{stack.app_url}/api/v1/auth/login"

    def from_client() -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=client_ip)
        return httpx.Client(transport=transport, timeout=10.0)

    with from_client() as kept_connection:
        statuses = []
        for _ in range(6):
            if shared:
                with from_client() as fresh:
                    statuses.append(flow.send(fresh, "POST", login, **attempt).status_code)
            else:
                statuses.append(flow.send(kept_connection, "POST", login, **attempt).status_code)
    assert statuses == [401] * 5 + [429]
    if shared:
        assert stack.cache is not None
        assert [key for key in stack.cache.scan_keys() if client_ip in key]


def test_every_log_line_is_json_with_its_request_id(flow: ApiFlow, stack: Stack) -> None:
    """With LOG_FORMAT=json, each printed line is JSON, and request lines carry their request id."""
    answered = set(flow.request_ids) - set(flow.refused_ids) - set(flow.unanswered_ids)

    def records() -> list[dict[str, object]]:
        return [json.loads(line) for line in stack.log_lines()]

    def access_ids() -> set[object]:
        return {r["request_id"] for r in records() if r.get("message") == "http_request"}

    # A request's access line is written once its response has gone: give the last one a moment.
    wait_until(lambda: answered <= access_ids(), timeout=10, what="access lines", log=stack.log)
    logged_ids = {r["request_id"] for r in records() if r.get("request_id")}
    assert logged_ids
    assert logged_ids <= set(flow.request_ids)
    assert answered <= access_ids() <= set(flow.request_ids)


def json_object(line: str) -> dict[str, object] | None:
    """Return `line` parsed as a JSON object, or None when it is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_server_lines_have_the_fields_of_the_service_lines(stack: Stack) -> None:
    """The servers' own lines (gunicorn's master and workers, uvicorn) have the service's fields.

    Every service line has the standard fields (timestamp, level, logger, message, request_id);
    a server line has exactly those: one formatter writes them all.
    """
    records = [json.loads(line) for line in stack.log_lines()]
    package = package_of(stack.project)
    service = [r for r in records if r["logger"].split(".")[0] == package]
    servers = [r for r in records if r["logger"].split(".")[0] in {"gunicorn", "uvicorn"}]
    standard = set.intersection(*(set(record) for record in service))
    booting = [r for r in servers if str(r["message"]).startswith("Booting worker with pid")]

    assert booting
    assert any(r["message"] == "Waiting for application startup." for r in servers)
    assert standard == {"timestamp", "level", "logger", "message", "request_id"}
    assert [r for r in servers if set(r) != standard] == []


def test_bare_uvicorn_prints_nothing_but_json_lines(stack: Stack, tmp_path: Path) -> None:
    """Under a bare `uvicorn <package>.main:app`, every line from start to stop is JSON.

    uvicorn's first lines (`Started server process`, `Waiting for application startup`) come
    before the app's lifespan: importing the app sets up logging already.
    """
    log = tmp_path / "uvicorn.log"
    port = free_port()
    assert stack.env["LOG_FORMAT"] == "json"
    with uvicorn(stack.project, stack.env, log, port) as server:
        wait_until(lambda: port_open(port), timeout=60, what="uvicorn", log=log)
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
    lines = log.read_text(errors="replace").splitlines()
    records = [json_object(line) for line in lines]

    assert [line for line, record in zip(lines, records, strict=True) if record is None] == []
    messages = [record["message"] for record in records if record is not None]
    assert response.status_code == 200
    assert f"Started server process [{server.pid}]" in messages
    assert "Waiting for application startup." in messages
    assert "http_request" in messages
    assert messages[-1] == f"Finished server process [{server.pid}]"


def test_hammering_login_is_rate_limited(flow: ApiFlow) -> None:
    """Many login attempts in a row get 429 (this test runs last: it exhausts the limit)."""
    flow.check_login_is_rate_limited()
