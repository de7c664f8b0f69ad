"""What a job runs with, and the fields that its log records carry."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx
from pgqueuer import Job
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ package_name }}.core.context import bind_request_id
from {{ package_name }}.jobs.queue import REQUEST_ID_HEADER
from {{ package_name }}.jobs.settings import JobSettings

#: The id of the job being run, if any.
job_id_var: ContextVar[int | None] = ContextVar("job_id", default=None)


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """The settings, database sessions and HTTP client that the jobs of one process share."""

    settings: JobSettings
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient


class JobIdFilter(logging.Filter):
    """Stamp every record with the id of the job being run (None outside jobs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `job_id` to the record; never drop it."""
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id_var.get()
        return True


@contextmanager
def running(job: Job) -> Iterator[None]:
    """Log inside the `with` block as `job`, under the id of the request that enqueued it."""
    token = job_id_var.set(int(job.id))
    try:
        with bind_request_id((job.headers or {}).get(REQUEST_ID_HEADER)):
            yield
    finally:
        job_id_var.reset(token)
