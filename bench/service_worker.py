"""The integration's reference of the job figures: the service's worker, with one no-op job added.

`python -m bench.service_worker PACKAGE`, run in a rendered project's environment, runs the
service's own worker (`PACKAGE.job_worker.main`: its settings, engine, features, JSON logging,
heartbeat, metrics and every job and schedule it registers) with one more entrypoint, registered
the way the service registers its own jobs: run as a job (`jobs.context.running`, which binds the
job's log fields), measured (`jobs.observe.measured`) and retried by the service's retrying
executor. Its handler does nothing, like the bare reference's (`bench/bare_worker.py`), so the
two differ only in what the integration wraps around a job.
"""

import importlib
import sys
from typing import Any, Final

from pgqueuer import Job, PgQueuer

#: The entrypoint of the no-op jobs that bench/job_load.py enqueues through the service's queue.
ENTRYPOINT: Final = "bench_service_noop"


def main(package: str) -> int:
    """Run `package`'s worker with the no-op entrypoint added to what it registers."""
    job_worker = importlib.import_module(f"{package}.job_worker")
    context_module = importlib.import_module(f"{package}.jobs.context")
    observe = importlib.import_module(f"{package}.jobs.observe")
    registry = importlib.import_module(f"{package}.jobs.registry")
    register_service_jobs = job_worker.register

    def register(pgq: PgQueuer, context: Any) -> None:  # noqa: ANN401 - the service's JobContext
        register_service_jobs(pgq, context)
        settings = context.settings
        retries = settings.WEBHOOK_MAX_ATTEMPTS - 1

        async def noop(job: Job) -> None:
            with context_module.running(job):
                pass

        pgq.entrypoint(ENTRYPOINT, on_failure="hold", executor_factory=registry.retrying(settings))(
            observe.measured(noop, observer=context.observer, retries=retries)
        )

    # The worker's factory looks `register` up in its module each time it (re)starts a worker.
    job_worker.register = register
    status: int = job_worker.main([])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
