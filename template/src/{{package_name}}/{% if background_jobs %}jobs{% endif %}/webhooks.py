"""Task events delivered to the owner's webhooks: one signed POST per webhook, retried until 2xx.

Completing a task enqueues one `deliver_webhook` job per webhook of the owner, in the request's
transaction. Each job carries the whole event, so a delivery sends what was true when the task
was completed, even if the task changes or goes meanwhile; it reads only the webhook (its URL and
secret, which may have changed, or which may be gone: then nothing is sent).
"""

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ package_name }}.db.types import utc_now
from {{ package_name }}.jobs.context import JobContext
from {{ package_name }}.jobs.queue import NewJob
from {{ package_name }}.jobs.signing import signed_headers
from {{ package_name }}.jobs.targets import resolve
from {{ package_name }}.models import Webhook

logger = logging.getLogger(__name__)

DELIVER_WEBHOOK = "deliver_webhook"
TASK_COMPLETED = "task.completed"


class Event(BaseModel):
    """What a receiver gets: the event's id (also `webhook-id`), its type, when, and its data."""

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]


class Delivery(BaseModel):
    """The payload of a `deliver_webhook` job: the event, for one webhook of its owner."""

    webhook_id: int
    owner_id: int
    event: Event


class DeliveryFailedError(Exception):
    """The receiver did not answer 2xx: the job is retried later."""


def new_event(event_type: str, data: dict[str, Any]) -> Event:
    """Return an event with a new id, stamped now."""
    return Event(id=f"msg_{uuid.uuid4().hex}", type=event_type, timestamp=utc_now(), data=data)


async def delivery_jobs(
    session: AsyncSession, *, owner_id: int, event: Event
) -> Sequence[NewJob]:
    """Return one delivery job of `event` per webhook of `owner_id` (none without webhooks)."""
    webhook_ids = await session.scalars(select(Webhook.id).where(Webhook.owner_id == owner_id))
    return [
        NewJob(
            entrypoint=DELIVER_WEBHOOK,
            payload=Delivery(webhook_id=webhook_id, owner_id=owner_id, event=event)
            .model_dump_json()
            .encode(),
            dedupe_key=f"{event.id}:{webhook_id}",
        )
        for webhook_id in webhook_ids
    ]


async def deliver(delivery: Delivery, context: JobContext) -> None:
    """POST the event to its webhook, signed; raise `DeliveryFailedError` unless it answers 2xx.

    The body is never read: a receiver cannot make the worker hold a large answer.
    """
    async with context.sessions() as session:
        webhook = await session.get(Webhook, delivery.webhook_id)
    if webhook is None or webhook.owner_id != delivery.owner_id:
        logger.info("webhook gone: event not delivered", extra={"event": "webhook_gone"})
        return
    target = await resolve(
        webhook.url, allow_private=context.settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    )
    body = delivery.event.model_dump_json().encode()
    headers = signed_headers(
        secret=webhook.secret,
        message_id=delivery.event.id,
        timestamp=int(time.time()),
        body=body,
    )
    headers["host"] = _host_header(target.url.host, target.url.port)
    async with context.http.stream(
        "POST",
        target.connect_url,
        content=body,
        headers=headers,
        extensions={"sni_hostname": target.url.host},
    ) as response:
        status = response.status_code
    extra = {"event": "webhook_delivered", "webhook_id": webhook.id, "status": status}
    if not 200 <= status < 300:  # noqa: PLR2004 - the 2xx range
        logger.warning("webhook receiver refused the event", extra=extra)
        msg = f"the receiver answered {status}"
        raise DeliveryFailedError(msg)
    logger.info("webhook delivered", extra=extra)


def _host_header(host: str, port: int | None) -> str:
    """Return the `Host` header of a URL's host and explicit port."""
    name = f"[{host}]" if ":" in host else host
    return name if port is None else f"{name}:{port}"
