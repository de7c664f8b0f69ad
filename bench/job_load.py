"""Background-job throughput and start latency, run in a rendered project's environment.

    python -m bench.job_load --package NAME --project DIR --logs DIR --rounds R
        --jobs N --batch B --latency-jobs M --interval-ms MS

The rendered project's environment has PGQueuer, asyncpg and the service's package; DATABASE_URL
and every other setting of the service come from the environment. It measures three workers, one
at a time, in R rounds (the bare reference first in each), and prints
every round's figures as one JSON object:

- `bare`: bench/bare_worker.py (PGQueuer used directly, one no-op entrypoint), fed with
  `Queries.enqueue` on a plain asyncpg connection;
- `integration`: the service's worker with a no-op entrypoint added as the service adds its jobs
  (bench/service_worker.py), fed as the service feeds it: its `PostgresQueue`, in a session's
  transaction, with jobs of a delivery's size and dedupe key;
- `delivery`: the service's worker as rendered, `python -m <package>.job_worker`, fed the same way
  with `deliver_webhook` jobs for a webhook that does not exist: the smallest job the service
  runs. The worker reads the webhook's row, finds none, logs so and ends the job.

Each turn starts the worker, warms it up, then puts N jobs on the queue in transactions of B
jobs, as fast as it can, and waits until the worker has finished them; then it enqueues M more,
one at a time and one every MS milliseconds (well below what one worker takes), waits for them
too, and stops the worker (SIGTERM). Every figure comes from PGQueuer's own log
(`pgqueuer_log`), stamped by PostgreSQL's clock: a job's `queued` row (written with the job), its
`picked` row (written when the worker claims the job: its start) and its final row (`successful`
for a job that ended well; written in batches, at most 0.1 s late). Throughput is N over the time
from the first `queued` row to the last final row; the start latency is `picked` minus `queued`,
over the M paced jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import asyncpg  # type: ignore[import-untyped]  # ships no types
from pgqueuer import AsyncpgDriver, Queries

from bench.bare_worker import ENTRYPOINT as BARE_ENTRYPOINT
from bench.bare_worker import plain_dsn
from bench.service_worker import ENTRYPOINT as SERVICE_NOOP_ENTRYPOINT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from datetime import datetime

#: A webhook id that no row has (the largest id the service accepts).
MISSING_WEBHOOK: Final = 2**31 - 1
#: Jobs run before anything is measured: the worker has started, connected and warmed up.
WARM_UP_JOBS: Final = 100
#: How long a worker may take to start and finish the warm-up jobs, in seconds.
WARM_UP_TIMEOUT_S: Final = 120.0
#: How long a worker may take per 1,000 measured jobs, in seconds (and at least that long).
DRAIN_TIMEOUT_PER_1000_S: Final = 60.0
#: How often the queue is polled while a worker drains it, in seconds.
POLL_S: Final = 0.02
#: How long a worker may take to stop after SIGTERM, in seconds.
STOP_TIMEOUT_S: Final = 30.0
#: A job's final states in the log; `successful` is the one of a job that completed.
FINAL_STATES: Final = frozenset({"successful", "failed", "exception", "canceled", "deleted"})
PERCENTILE: Final = 99
VARIANTS: Final = ("bare", "integration", "delivery")


class Enqueuer(Protocol):
    """Puts jobs of one entrypoint on the queue."""

    @property
    def entrypoint(self) -> str:
        """The entrypoint of the jobs it enqueues."""

    async def enqueue(self, count: int) -> None:
        """Enqueue `count` jobs in one transaction."""


@dataclass(frozen=True)
class ServiceJobs:
    """The service's own enqueueing: `PostgresQueue.enqueue` in a session's transaction.

    Every job is built as `jobs.webhooks.delivery_jobs` builds one, for the missing webhook; with
    `entrypoint_name` set (see `to`), the job goes to that entrypoint instead of the deliveries'.
    """

    queue: Any
    webhooks: Any
    sessions: Any
    entrypoint_name: str | None = None

    @classmethod
    def load(cls, package: str) -> ServiceJobs:
        """Import the service's queue and webhooks; make sessions as the service makes them."""
        config = importlib.import_module(f"{package}.core.config")
        engine = importlib.import_module(f"{package}.db.engine")
        sessions = engine.create_session_factory(engine.create_engine(config.get_settings()))
        return cls(
            queue=importlib.import_module(f"{package}.jobs.queue"),
            webhooks=importlib.import_module(f"{package}.jobs.webhooks"),
            sessions=sessions,
        )

    def to(self, entrypoint: str) -> ServiceJobs:
        """Return the same enqueueing, for jobs of `entrypoint`."""
        return dataclasses.replace(self, entrypoint_name=entrypoint)

    @property
    def entrypoint(self) -> str:
        """The entrypoint of the jobs: the service's webhook deliveries, unless another is set."""
        name: str = self.entrypoint_name or self.webhooks.DELIVER_WEBHOOK
        return name

    async def enqueue(self, count: int) -> None:
        """Enqueue `count` jobs of new events for a webhook that does not exist."""
        jobs = [self.delivery() for _ in range(count)]
        async with self.sessions() as session, session.begin():
            await self.queue.PostgresQueue().enqueue(session, jobs)

    def delivery(self) -> Any:  # noqa: ANN401 - the service's NewJob
        """Return one job as `jobs.webhooks.delivery_jobs` makes it, for the missing webhook."""
        event = self.webhooks.new_event(
            self.webhooks.TASK_COMPLETED, {"task": {"id": 1, "status": "done"}}
        )
        delivery = self.webhooks.Delivery(webhook_id=MISSING_WEBHOOK, owner_id=1, event=event)
        return self.queue.NewJob(
            entrypoint=self.entrypoint,
            payload=delivery.model_dump_json().encode(),
            dedupe_key=f"{event.id}:{MISSING_WEBHOOK}",
        )


@dataclass(frozen=True)
class BareJobs:
    """PGQueuer's `Queries.enqueue` on a plain asyncpg connection: one statement per call."""

    queries: Queries
    #: The same bytes as a delivery's payload, so that both queues hold rows of one size.
    payload: bytes

    @property
    def entrypoint(self) -> str:
        """The bare worker's no-op entrypoint."""
        return BARE_ENTRYPOINT

    async def enqueue(self, count: int) -> None:
        """Insert `count` no-op jobs with one statement."""
        await self.queries.enqueue([self.entrypoint] * count, [self.payload] * count, [0] * count)


@dataclass(frozen=True)
class Phase:
    """What the log says of the jobs of one phase."""

    enqueued: int
    completed: int
    seconds: float
    start_ms: list[float]


async def measure_turn(
    connection: asyncpg.Connection, jobs: Enqueuer, args: argparse.Namespace
) -> dict[str, Any]:
    """Warm the running worker up, then measure its throughput and start latency."""
    await _put(jobs, WARM_UP_JOBS, args.batch)
    await _drained(connection, jobs.entrypoint, within=WARM_UP_TIMEOUT_S)

    await _forget(connection, jobs.entrypoint)
    await _put(jobs, args.jobs, args.batch)
    await _drained(connection, jobs.entrypoint, within=_drain_timeout(args.jobs))
    burst = await _phase(connection, jobs.entrypoint, args.jobs)

    await _forget(connection, jobs.entrypoint)
    interval = args.interval_ms / 1000
    began = time.perf_counter()
    for n in range(args.latency_jobs):
        await asyncio.sleep(max(0.0, began + n * interval - time.perf_counter()))
        await jobs.enqueue(1)
    await _drained(connection, jobs.entrypoint, within=_drain_timeout(args.latency_jobs))
    paced = await _phase(connection, jobs.entrypoint, args.latency_jobs)

    return {
        "jobs_per_s": round(burst.enqueued / burst.seconds, 1),
        "start_p50_ms": round(statistics.median(paced.start_ms), 3),
        "start_p99_ms": round(_p99(paced.start_ms), 3),
        "enqueued": burst.enqueued + paced.enqueued,
        "completed": burst.completed + paced.completed,
        "throughput_s": round(burst.seconds, 3),
    }


async def _put(jobs: Enqueuer, count: int, batch: int) -> None:
    """Enqueue `count` jobs in transactions of `batch`, one after the other."""
    for start in range(0, count, batch):
        await jobs.enqueue(min(batch, count - start))


def _drain_timeout(jobs: int) -> float:
    """How long a worker may take for `jobs` jobs."""
    return DRAIN_TIMEOUT_PER_1000_S * max(1.0, jobs / 1000)


async def _drained(connection: asyncpg.Connection, entrypoint: str, *, within: float) -> None:
    """Wait until no job of `entrypoint` is queued or running; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        left = await connection.fetchval(
            "SELECT count(*) FROM pgqueuer"
            " WHERE entrypoint = $1 AND status IN ('queued', 'picked')",
            entrypoint,
        )
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{left} {entrypoint} jobs were still waiting after {within:.0f} s")
        await asyncio.sleep(POLL_S)


async def _forget(connection: asyncpg.Connection, entrypoint: str) -> None:
    """Delete the log rows of `entrypoint`, so that the next phase reads only its own."""
    await connection.execute("DELETE FROM pgqueuer_log WHERE entrypoint = $1", entrypoint)


async def _phase(connection: asyncpg.Connection, entrypoint: str, enqueued: int) -> Phase:
    """Read the log of the jobs of `entrypoint` enqueued since the last `_forget`."""
    rows = await connection.fetch(
        "SELECT job_id, status::text AS status, created FROM pgqueuer_log WHERE entrypoint = $1",
        entrypoint,
    )
    queued: dict[int, datetime] = {}
    picked: dict[int, datetime] = {}
    final: dict[int, tuple[str, datetime]] = {}
    for row in rows:
        if row["status"] == "queued":
            queued[row["job_id"]] = row["created"]
        elif row["status"] == "picked":
            picked.setdefault(row["job_id"], row["created"])
        elif row["status"] in FINAL_STATES:
            final[row["job_id"]] = (row["status"], row["created"])
    if len(queued) != enqueued:
        raise SystemExit(f"{enqueued} {entrypoint} jobs enqueued, {len(queued)} in the log")
    completed = sum(1 for job in queued if job in final and final[job][0] == "successful")
    if not final or not picked:
        raise SystemExit(f"the log shows no {entrypoint} job picked and finished")
    last = max(moment for _, moment in final.values())
    seconds = (last - min(queued.values())).total_seconds()
    start_ms = [
        (picked[job] - at).total_seconds() * 1000 for job, at in queued.items() if job in picked
    ]
    return Phase(enqueued=enqueued, completed=completed, seconds=seconds, start_ms=start_ms)


def _p99(values: Sequence[float]) -> float:
    """Return the 99th percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    rank = -(-len(ordered) * PERCENTILE // 100)  # the ceiling of n x 0.99
    return ordered[max(rank, 1) - 1]


@contextlib.asynccontextmanager
async def running_worker(command: list[str], cwd: Path, log: Path) -> AsyncIterator[None]:
    """Run `command` (a worker) with its output in `log`; stop it with SIGTERM at the end.

    The worker runs in `cwd` (the project's, for the service's `.env`) and imports the harness's
    modules from here.
    """
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
    }
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env=env, stdout=output, stderr=asyncio.subprocess.STDOUT
        )
    try:
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


async def main(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Measure the three workers, one at a time, in `args.rounds` rounds."""
    dsn = plain_dsn(os.environ["DATABASE_URL"])
    service = ServiceJobs.load(args.package)
    workers = {
        "bare": ([sys.executable, "-m", "bench.bare_worker"], Path.cwd()),
        "integration": (
            [sys.executable, "-m", "bench.service_worker", args.package],
            args.project,
        ),
        "delivery": ([sys.executable, "-m", f"{args.package}.job_worker"], args.project),
    }
    found: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    connection = await asyncpg.connect(dsn)
    feeder = await asyncpg.connect(dsn)
    try:
        jobs: dict[str, Enqueuer] = {
            "bare": BareJobs(Queries(AsyncpgDriver(feeder)), service.delivery().payload),
            "integration": service.to(SERVICE_NOOP_ENTRYPOINT),
            "delivery": service,
        }
        for _ in range(args.rounds):
            for variant in VARIANTS:
                command, cwd = workers[variant]
                async with running_worker(command, cwd, args.logs / f"{variant}-worker.log"):
                    found[variant].append(await measure_turn(connection, jobs[variant], args))
    finally:
        await feeder.close()
        await connection.close()
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.job_load", description=__doc__)
    parser.add_argument("--package", required=True, help="the service's package")
    parser.add_argument("--project", type=Path, required=True, help="the rendered project")
    parser.add_argument("--logs", type=Path, required=True, help="where the workers log")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--jobs", type=int, required=True, help="jobs of the throughput phase")
    parser.add_argument("--batch", type=int, required=True, help="jobs per enqueue")
    parser.add_argument("--latency-jobs", type=int, required=True, help="jobs, one at a time")
    parser.add_argument("--interval-ms", type=float, required=True, help="between those")
    return parser


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(_parser().parse_args(sys.argv[1:])))))
