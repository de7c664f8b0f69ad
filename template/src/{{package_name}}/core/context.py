"""Per-request context shared by the middleware, the log records and the error handlers."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def get_request_id() -> str | None:
    """Return the id of the request being handled, if any."""
    return _request_id.get()


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Make `request_id` the current request id inside the `with` block."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)
