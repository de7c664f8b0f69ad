"""Enqueueing: a job is written in the transaction of the change it belongs to.

`PostgresQueue` inserts the job into PGQueuer's table on the very connection of the session's
transaction, through PGQueuer's own `Queries.enqueue`: the job commits or rolls back with the
data. `MemoryQueue` serves local runs on SQLite, which PGQueuer cannot store jobs in: after the
commit, it hands the job to an in-memory PGQueuer that runs inside the API process. It is not
durable (a restart loses what it holds) and exists so that `fastapi dev` works without
PostgreSQL; the worker refuses to start without PostgreSQL.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pgqueuer import AsyncpgDriver, Queries
from pgqueuer.ports.repository import QueueRepositoryPort
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from {{ package_name }}.core.context import get_request_id

logger = logging.getLogger(__name__)

#: The header of a job that carries the id of the request that enqueued it.
REQUEST_ID_HEADER = "request_id"


@dataclass(frozen=True, kw_only=True)
class NewJob:
    """A job to run: its entrypoint and payload, and a key that keeps a duplicate out."""

    entrypoint: str
    payload: bytes
    dedupe_key: str | None = None


@runtime_checkable
class JobQueue(Protocol):
    """Where the service puts the jobs of a change."""

    async def enqueue(self, session: AsyncSession, jobs: Sequence[NewJob]) -> None:
        """Enqueue `jobs` so that they exist exactly when `session`'s transaction commits."""


def job_headers() -> dict[str, str]:
    """Return the headers every job carries: the id of the request that enqueued it."""
    request_id = get_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


async def _enqueue(
    repository: QueueRepositoryPort, jobs: Sequence[NewJob], headers: dict[str, str]
) -> None:
    """Insert `jobs` with one statement, each with `headers`."""
    await repository.enqueue(
        [job.entrypoint for job in jobs],
        [job.payload for job in jobs],
        [0] * len(jobs),
        dedupe_key=[job.dedupe_key for job in jobs],
        headers=[headers] * len(jobs),
    )


class PostgresQueue:
    """Jobs in PostgreSQL, inserted inside the transaction of the session that enqueues them."""

    async def enqueue(self, session: AsyncSession, jobs: Sequence[NewJob]) -> None:
        """Insert `jobs` on the connection of `session`'s transaction (a write request's)."""
        if not jobs:
            return
        connection = await session.connection()
        driver_connection = (await connection.get_raw_connection()).driver_connection
        if not driver_connection.is_in_transaction():
            # SQLAlchemy begins the driver's transaction with its first statement: run one, so
            # that the job cannot be committed on its own.
            await connection.exec_driver_sql("SELECT 1")
        if not driver_connection.is_in_transaction():
            msg = "enqueue runs in the session of a request that writes (POST, PATCH, DELETE)"
            raise RuntimeError(msg)
        await _enqueue(Queries(AsyncpgDriver(driver_connection)), jobs, job_headers())


@dataclass(kw_only=True)
class MemoryQueue:
    """Jobs in this process's memory, handed over once the session commits (SQLite, local)."""

    repository: QueueRepositoryPort
    pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def enqueue(self, session: AsyncSession, jobs: Sequence[NewJob]) -> None:
        """Enqueue `jobs` after `session`'s transaction commits; nothing if it rolls back."""
        if not jobs:
            return
        loop = asyncio.get_running_loop()
        headers = job_headers()

        def hand_over(_session: Session) -> None:
            task = loop.create_task(_enqueue(self.repository, jobs, headers))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

        event.listen(session.sync_session, "after_commit", hand_over, once=True)

    async def drain(self) -> None:
        """Wait until every committed job is in the queue."""
        if self.pending:
            await asyncio.gather(*self.pending)
