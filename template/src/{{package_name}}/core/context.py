"""Per-request context shared by the middleware, the log records and the error handlers."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

#: The id of the request being handled. `RequestIdMiddleware` sets and resets it directly, which
#: costs less per request than `bind_request_id`.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def get_request_id() -> str | None:
    """Return the id of the request being handled, if any."""
    return request_id_var.get()


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Make `request_id` the current request id inside the `with` block."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


#: Fields that every log record of the current context carries (a background job's id).
log_fields_var: ContextVar[Mapping[str, object]] = ContextVar(
    "log_fields", default=MappingProxyType({})
)


@contextmanager
def bind_log_fields(**fields: object) -> Iterator[None]:
    """Add `fields` to every log record inside the `with` block."""
    token = log_fields_var.set({**log_fields_var.get(), **fields})
    try:
        yield
    finally:
        log_fields_var.reset(token)
