"""The jobs this service runs: each entrypoint and schedule, registered on one PGQueuer.

The worker registers them on its PGQueuer; local runs on SQLite register them on the in-memory
one inside the API process. Either way the same functions run.
"""

from datetime import timedelta

from pgqueuer import DatabaseRetryEntrypointExecutor, Job, PgQueuer
from pgqueuer.executors import EntrypointExecutorParameters
from pgqueuer.models import Schedule

from {{ package_name }}.jobs import cleanup, webhooks
from {{ package_name }}.jobs.context import JobContext, running


def register(pgq: PgQueuer, context: JobContext) -> None:
    """Register every job of the service on `pgq`, running with `context`."""
    settings = context.settings

    def retried(parameters: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
        """Retry with exponential backoff; after the last attempt, hold the job as failed."""
        return DatabaseRetryEntrypointExecutor(
            parameters=parameters,
            max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
            initial_delay=timedelta(seconds=settings.WEBHOOK_RETRY_INITIAL_SECONDS),
            max_delay=timedelta(seconds=settings.WEBHOOK_RETRY_MAX_SECONDS),
        )

    @pgq.entrypoint(webhooks.DELIVER_WEBHOOK, on_failure="hold", executor_factory=retried)
    async def deliver_webhook(job: Job) -> None:
        with running(job):
            delivery = webhooks.Delivery.model_validate_json(job.payload or b"")
            await webhooks.deliver(delivery, context)

    @pgq.schedule(cleanup.PURGE_EXPIRED, cleanup.PURGE_SCHEDULE)
    async def purge_expired(_schedule: Schedule) -> None:
        await cleanup.purge_expired(context)
