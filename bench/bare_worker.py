"""The bare-library reference of the job figures: PGQueuer used directly, one no-op entrypoint.

`python -m bench.bare_worker`, run in a rendered project's environment (which has PGQueuer and
asyncpg) with DATABASE_URL set, runs one worker as PGQueuer's documentation shows it: an asyncpg
connection, `PgQueuer(AsyncpgDriver(connection))`, one entrypoint, and `pgqueuer.run` with its
defaults (it stops on SIGTERM). Nothing else: no settings, no engine, no logging set-up.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg  # type: ignore[import-untyped]  # ships no types
import pgqueuer
from pgqueuer import AsyncpgDriver, Job, PgQueuer

#: The entrypoint of the bare reference's jobs (bench/job_load.py enqueues them).
ENTRYPOINT: Final = "bench_noop"


def plain_dsn(url: str) -> str:
    """Return `url` as the `postgresql://` DSN that asyncpg takes (without `+asyncpg`)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


@asynccontextmanager
async def create_worker() -> AsyncIterator[PgQueuer]:
    """Connect, and yield a PgQueuer with the no-op entrypoint; close the connection at the end."""
    connection = await asyncpg.connect(plain_dsn(os.environ["DATABASE_URL"]))
    try:
        pgq = PgQueuer(AsyncpgDriver(connection))

        @pgq.entrypoint(ENTRYPOINT)
        async def noop(_job: Job) -> None:
            """Do nothing."""

        yield pgq
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(pgqueuer.run(create_worker))
