"""Run tier: every preset installed as its README says and served by real processes.

PostgreSQL (initdb + pg_ctl), redis-server, gunicorn with the rendered config (2 workers) and
Debian's nginx with the rendered config, each on a free loopback port; then real HTTP.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.support.flow import ApiFlow
from tests.support.stack import Stack, running_stack
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
    """The preset, rendered, installed, migrated and serving."""
    project = renderer.installed(preset.answers)
    with running_stack(project, preset.answers) as running:
        yield running


@pytest.fixture(scope="module")
def flow(stack: Stack) -> Iterator[ApiFlow]:
    """An HTTP client on the service's front door (nginx when there is one)."""
    client = ApiFlow(stack.base_url)
    client.wait_ready()
    yield client
    client.close()


def expected_checks(answers: dict[str, object]) -> set[str]:
    """The dependency checks `/health` reports for a preset."""
    del answers
    return {"database"}


def test_health_reports_every_dependency_ok(flow: ApiFlow, preset: Variant) -> None:
    """`/health` says each dependency is ok, and readiness answers 200."""
    flow.check_health(expected_checks(preset.answers))


def test_users_manage_only_their_own_tasks(flow: ApiFlow) -> None:
    """Register, log in, create, list with filters, update, delete; a stranger sees nothing."""
    flow.task_lifecycle()


def test_proxy_sends_security_headers(flow: ApiFlow, preset: Variant) -> None:
    """The security headers are on the responses."""
    if not preset.answers["use_nginx"]:
        pytest.skip("security headers without nginx come from the app's middleware")
    flow.check_security_headers()


def test_large_lists_are_gzipped(flow: ApiFlow, preset: Variant) -> None:
    """A large JSON list comes back gzip-encoded."""
    if not preset.answers["use_nginx"]:
        pytest.skip("compression without nginx is not the app's job")
    flow.check_large_list_is_gzipped()


def test_every_log_line_is_json_with_its_request_id(flow: ApiFlow, stack: Stack) -> None:
    """With LOG_FORMAT=json, each printed line is JSON, and request lines carry their request id."""
    lines = stack.log_lines()
    records = [json.loads(line) for line in lines]
    logged_ids = {r["request_id"] for r in records if r.get("request_id")}
    assert logged_ids
    assert logged_ids <= set(flow.request_ids)
    access = [r for r in records if r.get("message") == "http_request"]
    assert {r["request_id"] for r in access} == set(flow.request_ids) - missing_ids(flow)


def missing_ids(flow: ApiFlow) -> set[str]:
    """Request ids that never reached the app (refused by the proxy before it)."""
    return set(flow.refused_ids)


def test_hammering_login_is_rate_limited(flow: ApiFlow, preset: Variant) -> None:
    """Many login attempts in a row get 429 (this test runs last: it exhausts the limit)."""
    if not preset.answers["use_nginx"]:
        pytest.skip("login rate limiting without nginx comes from the app's limiter")
    flow.check_login_is_rate_limited()
