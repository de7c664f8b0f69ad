"""The benchmark harness runs end to end (a one-second smoke run; its budgets are not judged here).

The figures and budgets come from a full run, `python3 scripts/dev.py bench`: see
docs/performance.md. The suite asserts no timing.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

from tests.support.services import require
from tests.support.tools import clean_env, run
from tests.support.variants import ROOT

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]

ENDPOINTS = {"bare_health", "healthz_live", "info_status", "list_tasks", "create_task", "login"}


def test_harness_measures_every_endpoint_without_a_failed_request(tmp_path: Path) -> None:
    """One invocation loads each endpoint, times the render, and writes every figure as JSON."""
    require("wrk", hint="apt-get install wrk")
    require("redis-server", hint="apt-get install redis-server")
    output = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--quick", "--report-only", "--no-image"]
    result = run([*command, "--output", str(output)], cwd=ROOT, env=clean_env(), timeout=900)

    figures = json.loads(output.read_text())
    assert set(figures["service"]) == ENDPOINTS
    for name, endpoint in figures["service"].items():
        assert endpoint["rps"] > 0, name
        assert endpoint["failed"] == 0, name
        assert 0 < endpoint["p50_ms"] <= endpoint["p99_ms"], name
    service = figures["service"]
    live_over_bare = service["healthz_live"]["rps"] / service["bare_health"]["rps"]
    assert figures["live_over_bare"] == pytest.approx(live_over_bare, abs=0.001)
    render = figures["render"]
    assert 0 < render["floor_s"] < min(render["same_tree_s"], render["full_s"])
    assert "| (a) /healthz/live over bare FastAPI |" in result.stdout
