"""What a job run reports: its entrypoint, its outcome and how long it took.

`measured` wraps a job's handler; the observer receives each run. Without metrics the observer
does nothing; with them, `jobs.metrics.JobMetrics` counts and times the runs for Prometheus.
"""

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

from pgqueuer import Job


class Outcome(StrEnum):
    """How one run of a job ended."""

    SUCCEEDED = "succeeded"
    RETRIED = "retried"  # it failed and runs again later
    FAILED = "failed"  # it failed for the last time: held, or dropped


class JobObserver(Protocol):
    """Receives every run of a job."""

    def ran(self, entrypoint: str, outcome: Outcome, seconds: float) -> None:
        """Record one run."""


class IgnoreRuns:
    """An observer that records nothing."""

    def ran(self, entrypoint: str, outcome: Outcome, seconds: float) -> None:
        """Record nothing."""
        del entrypoint, outcome, seconds


def measured(
    handler: Callable[[Job], Awaitable[None]],
    *,
    observer: JobObserver,
    retries: int,
) -> Callable[[Job], Awaitable[None]]:
    """Return `handler`, reporting each run to `observer`; `retries` after the first attempt."""

    async def run(job: Job) -> None:
        started = time.perf_counter()
        try:
            await handler(job)
        except Exception:
            outcome = Outcome.RETRIED if job.attempts < retries else Outcome.FAILED
            observer.ran(job.entrypoint, outcome, time.perf_counter() - started)
            raise
        observer.ran(job.entrypoint, Outcome.SUCCEEDED, time.perf_counter() - started)

    return run
