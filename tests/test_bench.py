"""The benchmark harness runs end to end (a one-second smoke run; its budgets are not judged here).

The figures and budgets come from a full run, `python3 scripts/dev.py bench`: see
docs/performance.md. The suite asserts no timing; it checks that every figure is measured, that
the lean reference does the service's work, and how the budgets are judged over two runs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from bench.budgets import failures, needs_second_run, ratios
from bench.service import Figures
from tests.support.services import require
from tests.support.tools import clean_env, run
from tests.support.variants import ROOT

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.xdist_group("bench")

ENDPOINTS = {
    "bare_health",
    "info_status",
    "healthz_live",
    "lean_list",
    "list_tasks",
    "lean_create",
    "create_task",
    "login",
}
#: Each ratio of a run: the endpoint over its reference.
QUOTIENTS = {
    "list_over_lean": ("list_tasks", "lean_list"),
    "create_over_lean": ("create_task", "lean_create"),
    "stack_over_bare": ("info_status", "bare_health"),
    "live_over_bare": ("healthz_live", "bare_health"),
}
#: Every field of the service's TaskRead.
TASK_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "created_at",
    "updated_at",
    "owner_id",
}


@dataclass(frozen=True)
class QuickRun:
    """What one smoke run of the harness wrote and printed."""

    results: dict[str, Any]
    stdout: str
    answers: Path

    def answer(self, name: str) -> Any:  # noqa: ANN401 - a JSON document
        """Return one of the answers the harness saved (`list_lean`, `create_service`...)."""
        return json.loads((self.answers / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    """Run `python -m bench --quick --report-only --no-image` once for the module."""
    require("wrk", hint="apt-get install wrk")
    require("redis-server", hint="apt-get install redis-server")
    workdir = tmp_path_factory.mktemp("bench")
    output, answers = workdir / "results.json", workdir / "answers"
    command = [sys.executable, "-m", "bench", "--quick", "--report-only", "--no-image"]
    command += ["--output", str(output), "--answers", str(answers)]
    result = run(command, cwd=ROOT, env=clean_env(), timeout=900)
    return QuickRun(json.loads(output.read_text()), result.stdout, answers)


@pytest.mark.slow
def test_harness_measures_every_endpoint_without_a_failed_request(quick_run: QuickRun) -> None:
    """One run loads the service and both references, each answering 2xx to every request."""
    (only_run,) = quick_run.results["runs"]  # a smoke run measures the service once
    assert set(only_run["service"]) == ENDPOINTS
    for name, endpoint in only_run["service"].items():
        assert endpoint["rps"] > 0, name
        assert endpoint["failed"] == 0, name  # wrk counts every non-2xx answer as failed
        assert 0 < endpoint["p50_ms"] <= endpoint["p99_ms"], name
    assert set(only_run["ratios"]) == set(QUOTIENTS)
    for ratio, (endpoint, reference) in QUOTIENTS.items():
        quotient = only_run["service"][endpoint]["rps"] / only_run["service"][reference]["rps"]
        assert only_run["ratios"][ratio] == pytest.approx(quotient, abs=0.001), ratio
    assert "| task list / lean (budget >= 0.7) |" in quick_run.stdout
    assert "render" not in quick_run.results


@pytest.mark.slow
def test_time_to_a_first_answer_is_the_sum_of_its_steps(quick_run: QuickRun) -> None:
    """Copy, install, migrate and serve each take some time, and add up to the total."""
    first_answer = quick_run.results["first_answer"]
    steps = [first_answer[f"{step}_s"] for step in ("copy", "sync", "migrate", "serve")]
    assert all(seconds > 0 for seconds in steps), first_answer
    assert sum(steps) == pytest.approx(first_answer["total_s"], abs=0.005)
    assert "| first answer: total |" in quick_run.stdout


@pytest.mark.slow
def test_lean_reference_lists_what_the_service_lists(quick_run: QuickRun) -> None:
    """For the same user, the lean list answers the service's JSON: the same tasks and total."""
    lean, service = quick_run.answer("list_lean"), quick_run.answer("list_service")
    assert lean == service
    assert (lean["total"], len(lean["items"]), lean["limit"], lean["offset"]) == (1000, 20, 20, 0)
    assert all(set(item) == TASK_FIELDS for item in lean["items"])


@pytest.mark.slow
def test_lean_reference_creates_what_the_service_creates(quick_run: QuickRun) -> None:
    """From the same body and user, both create a task with the same fields and values."""
    lean, service = quick_run.answer("create_lean"), quick_run.answer("create_service")
    assert set(lean) == set(service) == TASK_FIELDS
    generated = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in lean.items() if k not in generated} == {
        k: v for k, v in service.items() if k not in generated
    }
    assert lean["id"] != service["id"]


def figures(rps: float, *, p50_ms: float = 10.0, p99_ms: float = 20.0, failed: int = 0) -> Figures:
    """Return made-up figures of one endpoint."""
    return Figures(rps=rps, p50_ms=p50_ms, p99_ms=p99_ms, rps_spread=0.0, failed=failed)


def made_up_run(
    *, list_rps: float = 900.0, create_rps: float = 800.0, list_p99_ms: float = 20.0
) -> dict[str, Figures]:
    """Return a run whose references serve 1,000 rps; by default it meets every budget."""
    return {
        "bare_health": figures(1000.0),
        "info_status": figures(900.0),
        "healthz_live": figures(2000.0),
        "lean_list": figures(1000.0),
        "list_tasks": figures(list_rps, p99_ms=list_p99_ms),
        "lean_create": figures(1000.0),
        "create_task": figures(create_rps),
        "login": figures(10.0),
    }


MEETS_ALL = made_up_run()
SLOW_LIST = made_up_run(list_rps=500.0)
SLOW_CREATE = made_up_run(create_rps=500.0)
SLOW_BOTH = made_up_run(list_rps=500.0, create_rps=500.0)


def test_made_up_runs_miss_the_budgets_they_are_made_to_miss() -> None:
    """The runs below mean what their names say: 0.5 x lean misses, 0.9 and 0.8 meet."""
    assert ratios(MEETS_ALL)["list_over_lean"] == 0.9
    assert not needs_second_run(MEETS_ALL)
    for slow in (SLOW_LIST, SLOW_CREATE, SLOW_BOTH, made_up_run(list_p99_ms=31.0)):
        assert needs_second_run(slow)


def test_a_single_run_fails_no_timing_budget() -> None:
    """One run that misses a budget calls for a second run; on its own it fails nothing."""
    assert failures([SLOW_BOTH], None) == []


def test_budgets_missed_in_one_of_two_runs_do_not_fail() -> None:
    """A budget met in either run is met: the other run's miss was the machine's noise."""
    assert failures([SLOW_LIST, SLOW_CREATE], None) == []
    assert failures([SLOW_LIST, MEETS_ALL], None) == []
    assert failures([MEETS_ALL, SLOW_LIST], None) == []


def test_only_the_budgets_missed_in_both_runs_fail() -> None:
    """Missed twice in a row fails, once per budget; a budget the second run met does not."""
    failed = failures([SLOW_BOTH, SLOW_LIST], None)
    assert len(failed) == 1
    assert "task list over the lean reference" in failed[0]
    tail = made_up_run(list_p99_ms=31.0)  # p99 over 3 x p50
    assert len(failures([tail, tail], None)) == 1


def test_a_failed_request_fails_whichever_run_it_is_in() -> None:
    """Failed requests are not noise: one in either run fails the invocation."""
    broken = MEETS_ALL | {"lean_list": figures(1000.0, failed=1)}
    assert failures([broken], None) == ["run 1: lean_list: 1 failed requests"]
    assert failures([MEETS_ALL, broken], None) == ["run 2: lean_list: 1 failed requests"]
