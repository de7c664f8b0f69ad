"""Webhook signatures, as the Standard Webhooks specification defines them.

Every delivery carries `webhook-id` (the event's id: the same on every retry, so a receiver drops
duplicates), `webhook-timestamp` (Unix seconds: a receiver refuses old ones, which stops
replays) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under
the webhook's secret. Receivers verify it with any Standard Webhooks library
(https://www.standardwebhooks.com), whatever their language.
"""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """Return a new signing secret: 32 random bytes, base64, with the `whsec_` prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value of one delivery."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the headers of one delivery: id, timestamp, signature and the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
