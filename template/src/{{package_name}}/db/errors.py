"""Connection-level database failures, told apart from errors in a query.

A refused or dropped connection, a connect timeout, or a server that is starting up or shutting
down says nothing about the request: the same request works once the database is back. The
engine turns these into `DatabaseUnavailableError`, which the API answers with 503 and a
`Retry-After` instead of a generic 500.
"""

from typing import Any

from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

# SQLSTATE classes of a connection that is gone or refused: 08 (connection exception), 57P
# (admin or crash shutdown, cannot connect now) and 53300 (too many connections: every slot of
# max_connections is taken, by this service's workers or by others).
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53300")


class DatabaseUnavailableError(Exception):
    """The database cannot be reached right now; the request may be retried later."""

    def __init__(self) -> None:
        super().__init__("the database is unreachable")


def connect_or_raise_unavailable(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> DBAPIConnection:
    """Connect as usual, raising ours on a network failure (the engine's `do_connect` hook).

    The driver's own errors (a wrong password, a missing database) go on to `handle_error`.
    """
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # refused, unreachable, timed out, unknown host
        raise DatabaseUnavailableError from exc


def is_unavailable(context: ExceptionContext) -> bool:
    """Tell whether an engine error means the database is unreachable, not that a query failed."""
    error = context.original_exception
    if context.is_disconnect or isinstance(error, OSError):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)


def raise_unavailable(context: ExceptionContext) -> DatabaseUnavailableError | None:
    """Replace an unavailability error by ours (the engine's `handle_error` hook).

    A failed pre-ping is left alone: the pool answers it by reconnecting, and only the failure of
    that new connection reaches the request.
    """
    if context.is_pre_ping or not is_unavailable(context):
        return None
    return DatabaseUnavailableError()
