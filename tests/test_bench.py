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
from bench.jobs import QUICK, JobFigures, JobResults, PatchFigures
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
#: Each ratio of the background jobs: the figure over its reference's.
JOB_QUOTIENTS = {
    "jobs_per_s": (("integration", "jobs_per_s"), ("bare", "jobs_per_s")),
    "start_p50": (("integration", "start_p50_ms"), ("bare", "start_p50_ms")),
    "start_p99": (("integration", "start_p99_ms"), ("bare", "start_p99_ms")),
    "delivery_jobs_per_s": (("delivery", "jobs_per_s"), ("bare", "jobs_per_s")),
    "patch_rps": (("patch", "with_job", "rps"), ("patch", "without_job", "rps")),
    "patch_p50": (("patch", "with_job", "p50_ms"), ("patch", "without_job", "p50_ms")),
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
def test_every_worker_completes_every_job_it_is_given(quick_run: QuickRun) -> None:
    """Bare PGQueuer, and the service's worker with its no-op and its delivery, finish every job."""
    jobs = quick_run.results["jobs"]
    given = QUICK.rounds * (QUICK.jobs + QUICK.latency_jobs)
    for worker in ("bare", "integration", "delivery"):
        figures = jobs[worker]
        assert figures["enqueued"] == figures["completed"] == given, worker  # none lost
        assert figures["jobs_per_s"] > 0, worker
        assert 0 < figures["start_p50_ms"] <= figures["start_p99_ms"], worker
        (only_round,) = jobs["rounds"][worker]
        assert only_round["enqueued"] == only_round["completed"] == given, worker
    assert "| no-op jobs per second, one worker |" in quick_run.stdout
    assert "| jobs completed / enqueued |" in quick_run.stdout
    assert "| the smallest real job (a delivery to a deleted webhook) per second |" in (
        quick_run.stdout
    )


@pytest.mark.slow
def test_every_completing_patch_enqueues_one_job_when_the_user_has_a_webhook(
    quick_run: QuickRun,
) -> None:
    """The PATCH is measured without and with a job, and each completion enqueued its delivery."""
    patch = quick_run.results["jobs"]["patch"]
    for case in ("without_job", "with_job"):
        assert patch[case]["rps"] > 0, case
        assert patch[case]["failed"] == 0, case
        assert 0 < patch[case]["p50_ms"] <= patch[case]["p99_ms"], case
    assert patch["jobs_enqueued"] == patch["tasks_completed"] > 0
    assert "| `PATCH /api/v1/tasks/{id}` completing a task |" in quick_run.stdout


@pytest.mark.slow
def test_job_ratios_are_the_quotients_of_their_figures(quick_run: QuickRun) -> None:
    """Each ratio of the jobs is the service's figure over the reference's, as reported."""
    jobs = quick_run.results["jobs"]
    assert set(jobs["ratios"]) == set(JOB_QUOTIENTS)
    for ratio, (numerator, denominator) in JOB_QUOTIENTS.items():
        quotient = _field(jobs, numerator) / _field(jobs, denominator)
        assert jobs["ratios"][ratio] > 0, ratio
        assert jobs["ratios"][ratio] == pytest.approx(quotient, abs=0.001), ratio
    assert "| Background jobs (report only) | Bare PGQueuer | The service | Service / bare |" in (
        quick_run.stdout
    )


def _field(document: dict[str, Any], path: tuple[str, ...]) -> float:
    """Return the number at `path` in `document`."""
    found: Any = document
    for key in path:
        found = found[key]
    assert isinstance(found, int | float)
    return float(found)


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


def job_figures(*, enqueued: int = 100, completed: int = 100) -> JobFigures:
    """Return made-up figures of one worker."""
    return JobFigures(
        jobs_per_s=100.0,
        jobs_per_s_spread=0.0,
        start_p50_ms=1.0,
        start_p99_ms=2.0,
        enqueued=enqueued,
        completed=completed,
    )


def job_results(
    *,
    integration: JobFigures | None = None,
    delivery: JobFigures | None = None,
    failed_patches: int = 0,
    jobs_enqueued: int = 10,
) -> JobResults:
    """Return made-up job results; by default every job completed and every PATCH succeeded."""
    return JobResults(
        load=QUICK,
        bare=job_figures(),
        integration=integration or job_figures(),
        delivery=delivery or job_figures(),
        patch=PatchFigures(
            without_job=figures(100.0),
            with_job=figures(90.0, failed=failed_patches),
            jobs_enqueued=jobs_enqueued,
            tasks_completed=10,
        ),
        rounds={},
    )


def test_job_figures_take_the_median_round_and_count_every_job() -> None:
    """Rates and latencies are the rounds' medians; jobs given and completed are summed."""
    rounds = [
        {
            "jobs_per_s": rate,
            "start_p50_ms": p50,
            "start_p99_ms": 9.0,
            "enqueued": 5,
            "completed": 4,
        }
        for rate, p50 in ((100.0, 3.0), (300.0, 1.0), (200.0, 2.0))
    ]
    figures = JobFigures.of(rounds)
    assert (figures.jobs_per_s, figures.start_p50_ms, figures.jobs_per_s_spread) == (
        200.0,
        2.0,
        1.0,
    )
    assert (figures.enqueued, figures.completed) == (15, 12)


def test_jobs_fail_only_on_lost_jobs_and_failed_requests() -> None:
    """Timings fail nothing; a lost job, a failed PATCH or a missing delivery fails at once."""
    assert job_results().failures() == []
    assert job_results().ratios()["patch_rps"] == 0.9
    lost = job_results(integration=job_figures(completed=99)).failures()
    assert lost == ["jobs: integration: 1 of 100 jobs did not complete"]
    lost = job_results(delivery=job_figures(completed=98)).failures()
    assert lost == ["jobs: delivery: 2 of 100 jobs did not complete"]
    assert job_results(failed_patches=2).failures() == ["jobs: PATCH with a job: 2 failed requests"]
    (missing,) = job_results(jobs_enqueued=9).failures()
    assert "10 tasks completed" in missing
    assert "9 delivery jobs enqueued" in missing
