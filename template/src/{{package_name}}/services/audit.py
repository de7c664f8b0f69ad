"""Audit events: who did what, as structured log lines on their own logger.

Each event is one INFO record on the `<package>.services.audit` logger, whose message is the event
name and whose fields come through `extra=`; the request id is added like on every record.
Never pass a password, a token or a hash: log ids and reasons only.
"""

import logging

logger = logging.getLogger(__name__)


def audit(event: str, **fields: int | str | None) -> None:
    """Log `event` with its `fields`: `audit("task_deleted", user_id=1, task_id=2)`."""
    logger.info(event, extra={"event": event, **fields})
