"""The gunicorn worker: uvicorn's, but a stopping worker drains its keep-alive connections.

When a worker stops (SIGTERM from a deploy, or a reload's SIGHUP), uvicorn closes each idle
keep-alive connection at once. A request that a client or nginx has just sent on such a
connection is then lost: the client sees the connection reset, not an answer. This worker keeps
an idle connection open for `DRAIN_SECONDS` more: a request that arrives meanwhile is served with
`Connection: close`, and a connection that stays quiet is closed when the time is up.

No uvicorn or gunicorn setting does this, and `HttpToolsProtocol` (its `shutdown()`, `cycle`,
`loop` and `transport`) is not a public API of uvicorn: `pyproject.toml` caps uvicorn below its
next minor version, and `tests/test_worker.py` checks the behaviour on the version installed.
"""

from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # ships no types

#: Seconds an idle connection stays open once the worker stops, for a request already on its way.
DRAIN_SECONDS = 1.0


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a drain period for idle connections at shutdown."""

    draining = False

    def shutdown(self) -> None:
        """End keep-alive: an idle connection closes after the drain, a busy one once answered."""
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(DRAIN_SECONDS, self.close_if_idle)
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        """Start the request; while draining, its response closes the connection."""
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def close_if_idle(self) -> None:
        """Close the connection unless a request is being answered (that one closes it after)."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]  # untyped base
    """The uvicorn worker for gunicorn, with `DrainingHttpToolsProtocol`."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "http": DrainingHttpToolsProtocol,
    }
