"""The body of error responses, and the error answers each operation documents.

The `responses=` maps below go on routers and routes, so that an operation's OpenAPI entry lists
every status code it can answer: clients, and the schema-driven tests, rely on that.
"""

from typing import Any

from fastapi import status
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    """An error answered by the service: `{"detail": "..."}`."""

    detail: str


Responses = dict[int | str, dict[str, Any]]

#: Every operation under /api: an oversized body, the rate limit, the database out of reach.
API_ERRORS: Responses = {
    status.HTTP_413_CONTENT_TOO_LARGE: {
        "model": ErrorDetail,
        "description": "The body is larger than MAX_BODY_SIZE",
    },
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "model": ErrorDetail,
        "description": "Over the rate limit: retry after `Retry-After` seconds",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorDetail,
        "description": "The database is unavailable or busy: retry after `Retry-After` seconds",
    },
}

#: Operations that read a body: one that cannot be parsed at all (not UTF-8, not JSON).
MALFORMED_BODY: Responses = {
    status.HTTP_400_BAD_REQUEST: {"model": ErrorDetail, "description": "The body cannot be parsed"}
}

#: Operations that change things, which an unverified address may not (EMAIL_VERIFICATION).
UNVERIFIED: Responses = {
    status.HTTP_403_FORBIDDEN: {
        "model": ErrorDetail,
        "description": "The caller's e-mail address is not verified yet (EMAIL_VERIFICATION)",
    }
}
