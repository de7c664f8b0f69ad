"""Background jobs: the service's worker beside bare PGQueuer, and what enqueueing costs a request.

Three workers are measured by bench/job_load.py, in the rendered project's environment, on the
service's own database: jobs per second of one worker (enqueue to completion), and the latency
from enqueue to start. Bare PGQueuer and the service's worker run a no-op job each, so their
quotient is what the integration costs; the service's worker also runs its smallest real job (a
delivery to a webhook that is gone), so what a job's own work costs is shown beside it.

The request's share is `PATCH /api/v1/tasks/{id}` completing a task,
loaded with wrk: for a user with one webhook, each request enqueues one delivery job in its
transaction; for a user without webhooks, the same request enqueues nothing. No worker runs
during that load: the figure is the enqueue's cost to the request alone.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from bench.service import Figures, register_user
from bench.wrk import HERE, Load, Sample, run_wrk
from tests.support.stack import package_of
from tests.support.tools import run

if TYPE_CHECKING:
    from bench.service import Targets
    from tests.support.services import PostgresServer


@dataclass(frozen=True)
class JobLoad:
    """How many jobs each worker runs, per round."""

    #: Jobs of the throughput phase, enqueued in transactions of `batch`.
    jobs: int
    batch: int
    #: Jobs of the latency phase, enqueued one at a time, one every `interval_ms`.
    latency_jobs: int
    interval_ms: float
    rounds: int
    #: Open tasks of each PATCH user: more than one wrk run completes.
    patch_tasks: int


FULL: Final = JobLoad(
    jobs=10_000, batch=100, latency_jobs=1_000, interval_ms=10, rounds=3, patch_tasks=30_000
)
QUICK: Final = JobLoad(
    jobs=500, batch=100, latency_jobs=50, interval_ms=10, rounds=1, patch_tasks=30_000
)
#: The workers: bare PGQueuer's no-op, the service's no-op, and the service's smallest delivery.
VARIANTS: Final = ("bare", "integration", "delivery")
#: How long the counts of a PATCH run must stay still before they are read, in seconds.
SETTLE_S: Final = 0.5
#: The two PATCH users: without a webhook (no job), and with one (one job per request).
PATCHERS: Final = ("plain", "hooked")


@dataclass(frozen=True)
class JobFigures:
    """One worker's median figures over its rounds, and every job it was given and completed."""

    jobs_per_s: float
    jobs_per_s_spread: float
    start_p50_ms: float
    start_p99_ms: float
    enqueued: int
    completed: int

    @classmethod
    def of(cls, rounds: list[dict[str, Any]]) -> JobFigures:
        """Medians of the rounds' figures; sums of their job counts."""
        rates = [r["jobs_per_s"] for r in rounds]
        median = statistics.median(rates)
        return cls(
            jobs_per_s=round(median, 1),
            jobs_per_s_spread=round((max(rates) - min(rates)) / median, 3),
            start_p50_ms=round(statistics.median(r["start_p50_ms"] for r in rounds), 3),
            start_p99_ms=round(statistics.median(r["start_p99_ms"] for r in rounds), 3),
            enqueued=sum(r["enqueued"] for r in rounds),
            completed=sum(r["completed"] for r in rounds),
        )


@dataclass(frozen=True)
class PatchFigures:
    """The PATCH that completes a task, without and with a job to enqueue."""

    without_job: Figures
    with_job: Figures
    #: Over every run with a job: the delivery jobs enqueued, and the tasks completed.
    jobs_enqueued: int
    tasks_completed: int


@dataclass(frozen=True)
class JobResults:
    """Everything the jobs benchmark measured."""

    load: JobLoad
    bare: JobFigures
    integration: JobFigures
    delivery: JobFigures
    patch: PatchFigures
    #: Each round of each worker, as bench/job_load.py reported it.
    rounds: dict[str, list[dict[str, Any]]]

    def workers(self) -> dict[str, JobFigures]:
        """Return each worker's figures by its name."""
        return {"bare": self.bare, "integration": self.integration, "delivery": self.delivery}

    def ratios(self) -> dict[str, float]:
        """Return the service's figures over bare PGQueuer's, and the PATCH's with over without."""
        patch = self.patch
        return {
            "jobs_per_s": _quotient(self.integration.jobs_per_s, self.bare.jobs_per_s),
            "start_p50": _quotient(self.integration.start_p50_ms, self.bare.start_p50_ms),
            "start_p99": _quotient(self.integration.start_p99_ms, self.bare.start_p99_ms),
            "delivery_jobs_per_s": _quotient(self.delivery.jobs_per_s, self.bare.jobs_per_s),
            "patch_rps": _quotient(patch.with_job.rps, patch.without_job.rps),
            "patch_p50": _quotient(patch.with_job.p50_ms, patch.without_job.p50_ms),
        }

    def as_json(self) -> dict[str, Any]:
        """Return the results as the harness writes them."""
        return dataclasses.asdict(self) | {"ratios": self.ratios()}

    def failures(self) -> list[str]:
        """Lost jobs and failed requests: each fails the invocation at once."""
        found = [
            f"jobs: {name}: {figures.enqueued - figures.completed} of {figures.enqueued} jobs"
            " did not complete"
            for name, figures in self.workers().items()
            if figures.completed != figures.enqueued
        ]
        found += [
            f"jobs: PATCH {name}: {figures.failed} failed requests"
            for name, figures in (
                ("without a job", self.patch.without_job),
                ("with a job", self.patch.with_job),
            )
            if figures.failed
        ]
        if self.patch.jobs_enqueued != self.patch.tasks_completed:
            found.append(
                f"jobs: {self.patch.tasks_completed} tasks completed for the user with a webhook,"
                f" {self.patch.jobs_enqueued} delivery jobs enqueued"
            )
        return found


def measure_jobs(targets: Targets, *, load: Load, quick: bool) -> JobResults:
    """Measure the three workers, then the PATCH without and with a job."""
    jobs = QUICK if quick else FULL
    stack = targets.service
    with tempfile.TemporaryDirectory(prefix="taskapi-jobs-") as logs:
        python = stack.project / ".venv" / "bin" / "python"
        command = [str(python), "-m", "bench.job_load", "--package", package_of(stack.project)]
        command += ["--project", str(stack.project), "--logs", logs, "--rounds", str(jobs.rounds)]
        command += ["--jobs", str(jobs.jobs), "--batch", str(jobs.batch)]
        command += ["--latency-jobs", str(jobs.latency_jobs)]
        command += ["--interval-ms", str(jobs.interval_ms)]
        rounds: dict[str, list[dict[str, Any]]] = json.loads(
            run(command, cwd=HERE.parent, env=stack.env, timeout=3600).stdout
        )
    patch = measure_patch(targets, load=load, jobs=jobs)
    return JobResults(
        load=jobs,
        bare=JobFigures.of(rounds["bare"]),
        integration=JobFigures.of(rounds["integration"]),
        delivery=JobFigures.of(rounds["delivery"]),
        patch=patch,
        rounds=rounds,
    )


@dataclass(frozen=True)
class Patcher:
    """A user whose open tasks the PATCH load completes."""

    token: str
    owner: int
    first_task: int


def measure_patch(targets: Targets, *, load: Load, jobs: JobLoad) -> PatchFigures:
    """Load the PATCH for the user without webhooks, then the one with a webhook, each round."""
    database = targets.service.database
    if database is None:
        msg = "the jobs benchmark needs the service on PostgreSQL"
        raise SystemExit(msg)
    patchers = {name: _patcher(targets, database, name, jobs.patch_tasks) for name in PATCHERS}
    sql(
        database,
        "INSERT INTO webhooks (owner_id, url, secret) VALUES (:owner, :'url', :'secret')",
        owner=patchers["hooked"].owner,
        url="https://hooks.example.com/tasks",
        secret="whsec_bench",  # noqa: S106 - never used: no worker runs while its jobs exist
    )

    def patch(name: str, run_load: Load) -> tuple[Sample, int, int]:
        """Complete tasks of `name` for the load's time; return wrk's sample, tasks and jobs."""
        sql(  # every task open again, no job queued, both tables tidy: each run starts alike
            database,
            "UPDATE tasks SET status = 'todo' WHERE owner_id IN (:plain, :hooked)"
            " AND status <> 'todo';"
            " DELETE FROM pgqueuer WHERE entrypoint = 'deliver_webhook';"
            " VACUUM (ANALYZE) tasks, pgqueuer;",
            plain=patchers["plain"].owner,
            hooked=patchers["hooked"].owner,
        )
        patcher = patchers[name]
        sample = run_wrk(
            f"{targets.api}/api/v1/tasks/{patcher.first_task}",
            run_load,
            token=patcher.token,
            script="patch_task.lua",
            env={
                "BENCH_FIRST_TASK": str(patcher.first_task),
                "BENCH_TASK_COUNT": str(jobs.patch_tasks),
                "BENCH_THREADS": str(run_load.threads),
            },
        )
        if sample.requests + run_load.connections >= jobs.patch_tasks:
            raise SystemExit(f"{sample.requests} PATCH requests: give each user more open tasks")
        return sample, *_settled(database, patcher.owner)

    patch("hooked", dataclasses.replace(load, seconds=min(load.seconds, 2)))  # warm-up
    samples: dict[str, list[Sample]] = {name: [] for name in PATCHERS}
    enqueued = completed = 0
    for _ in range(jobs.rounds):
        for name in PATCHERS:
            sample, done, queued = patch(name, load)
            samples[name].append(sample)
            if name == "hooked":
                enqueued, completed = enqueued + queued, completed + done
            elif queued:
                raise SystemExit(f"{queued} jobs enqueued for a user without webhooks")
    sql(database, "DELETE FROM pgqueuer WHERE entrypoint = 'deliver_webhook'")
    return PatchFigures(
        without_job=Figures.of(samples["plain"]),
        with_job=Figures.of(samples["hooked"]),
        jobs_enqueued=enqueued,
        tasks_completed=completed,
    )


def _settled(database: PostgresServer, owner: int) -> tuple[int, int]:
    """Return the tasks of `owner` done and the deliveries queued for them, once both are still.

    wrk stops with requests in flight, which the service still completes: they are counted once
    two readings `SETTLE_S` apart agree. Both counts come from one statement (one snapshot): a
    request's task and its job commit together, so they are counted together.
    """
    counts = ("", "")
    while True:
        ((done, queued),) = sql(
            database,
            "SELECT (SELECT count(*) FROM tasks WHERE owner_id = :owner AND status = 'done'),"
            " (SELECT count(*) FROM pgqueuer WHERE entrypoint = 'deliver_webhook'"
            " AND (convert_from(payload, 'UTF8')::jsonb ->> 'owner_id')::int = :owner)",
            owner=owner,
        )
        if (done, queued) == counts:
            return int(done), int(queued)
        counts = (done, queued)
        time.sleep(SETTLE_S)


def _patcher(targets: Targets, database: PostgresServer, name: str, tasks: int) -> Patcher:
    """Register `name` and give them `tasks` open tasks with consecutive ids."""
    with httpx.Client(base_url=targets.api, timeout=30) as client:
        token = register_user(client, name)
    ((owner,),) = sql(database, "SELECT id FROM users WHERE username = :'name'", name=name)
    ((first, last, count),) = sql(
        database,
        "WITH added AS (INSERT INTO tasks (title, owner_id)"
        " SELECT 'Open task ' || n, :owner FROM generate_series(1, :tasks) AS n RETURNING id)"
        " SELECT min(id), max(id), count(*) FROM added",
        owner=owner,
        tasks=tasks,
    )
    if int(last) - int(first) + 1 != int(count):
        raise SystemExit(f"the open tasks of {name} do not have consecutive ids")
    return Patcher(token=token, owner=int(owner), first_task=int(first))


def sql(database: PostgresServer, statements: str, **variables: object) -> list[list[str]]:
    """Run `statements` with psql; return the rows they answer, each a list of its fields.

    The statements name `variables` as psql does: `:name` for a number, `:'name'` for a string
    (psql quotes it).
    """
    command = [str(database.bindir / "psql"), "-X", "-q", "-A", "-t", "-F", "\t"]
    command += ["-v", "ON_ERROR_STOP=1", "-d", database.url, "-f", "-"]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    result = subprocess.run(
        command, input=statements, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise SystemExit(f"psql failed on {statements!r}:\n{result.stderr}")
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def _quotient(numerator: float, denominator: float) -> float:
    """`numerator` over `denominator`, to three decimals."""
    return round(numerator / denominator, 3)
