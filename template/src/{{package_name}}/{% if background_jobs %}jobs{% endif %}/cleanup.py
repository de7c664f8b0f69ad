"""The periodic cleanup: data kept for a while and then purged, in one place.

`PURGES` maps a name to a function that deletes what is older than a moment and returns how many
rows went. The job records come first; later features add theirs (expired sessions, idempotency
keys) with `PURGES[name] = function`.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from {{ package_name }}.db.types import utc_now
from {{ package_name }}.jobs.context import JobContext

logger = logging.getLogger(__name__)

PURGE_EXPIRED = "purge_expired"
#: Every day at 03:17 UTC, off the hour when other schedules crowd.
PURGE_SCHEDULE = "17 3 * * *"

Purge = Callable[[AsyncSession, datetime], Awaitable[int]]

#: PGQueuer's finished-job records, and the failed jobs held for inspection, by age.
_JOB_RECORDS = (
    "DELETE FROM pgqueuer_log WHERE created < :before",
    "DELETE FROM pgqueuer_statistics WHERE created < :before",
    "DELETE FROM pgqueuer WHERE status = 'failed' AND updated < :before",
)


async def purge_job_records(session: AsyncSession, before: datetime) -> int:
    """Delete job log and statistics rows, and held failed jobs, last touched before `before`."""
    if session.get_bind().dialect.name != "postgresql":
        return 0  # the in-memory queue of local runs keeps no records
    deleted = 0
    for statement in _JOB_RECORDS:
        result = await session.execute(text(statement), {"before": before})
        if isinstance(result, CursorResult):
            deleted += result.rowcount
    return deleted


PURGES: dict[str, Purge] = {"job_records": purge_job_records}


async def purge_expired(context: JobContext) -> dict[str, int]:
    """Run every purge in one transaction; running it twice deletes nothing more."""
    before = utc_now() - timedelta(days=context.settings.JOB_RETENTION_DAYS)
    async with context.sessions() as session, session.begin():
        counts = {name: await purge(session, before) for name, purge in PURGES.items()}
    logger.info("purged expired data", extra={"event": "purged", "deleted": counts})
    return counts
