"""Steady HTTP load from a background thread: N concurrent connections, every request recorded.

The load runs until the `with` block ends. Each request becomes an `Outcome`: when it started,
when its bytes went out to the service (if they did) and when it ended, in monotonic seconds, and
its status code or the transport error that ended it.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

#: A request to send: its name (for reports), method, path and httpx keyword arguments.
Request = tuple[str, str, str, dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """One request of the load and how it ended."""

    name: str
    request_id: str
    started: float
    #: When the request was written to a connection: None if it never was (no connection).
    sent: float | None
    ended: float
    #: Whether the request opened a new connection rather than reusing a kept-alive one.
    fresh_connection: bool = False
    status: int | None = None
    error: str | None = None

    @property
    def server_error(self) -> bool:
        """Whether the service answered with a 5xx."""
        return self.status is not None and self.status >= httpx.codes.INTERNAL_SERVER_ERROR

    @property
    def succeeded(self) -> bool:
        """Whether the service answered with a 2xx."""
        return self.status is not None and httpx.codes.is_success(self.status)


@dataclass
class Load:
    """`connections` clients, each sending `next_request(n)` in a loop on a kept-alive connection.

    Each request carries a fresh `X-Request-ID`, kept in its outcome.
    """

    base_url: str
    next_request: Callable[[int], Request]
    connections: int = 32
    timeout: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)
    _sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 10)

    def wait_for(self, count: int, *, timeout: float = 60.0) -> None:
        """Block until at least `count` requests have ended."""
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < count:
            assert time.monotonic() < deadline, f"only {len(self.outcomes)} of {count} requests"
            time.sleep(0.05)

    def failures(self) -> list[Outcome]:
        """Return the requests that got a 5xx or no answer at all."""
        return [o for o in self.outcomes if o.server_error or o.status is None]

    async def _run(self) -> None:
        limits = httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=self.connections
        )
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=self.timeout
        ) as client:
            await asyncio.gather(*(self._client(client) for _ in range(self.connections)))

    async def _client(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            self._sent += 1
            name, method, path, kwargs = self.next_request(self._sent)
            request_id = secrets.token_hex(16)
            headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
            sent: list[float] = []
            connected: list[float] = []

            async def trace(
                event: str,
                _info: object,
                sent: list[float] = sent,
                connected: list[float] = connected,
            ) -> None:
                if event == "http11.send_request_headers.complete":
                    sent.append(time.monotonic())
                elif event == "connection.connect_tcp.complete":
                    connected.append(time.monotonic())

            extensions = {"trace": trace}
            started = time.monotonic()
            try:
                response = await client.request(
                    method, path, headers=headers, extensions=extensions, **kwargs
                )
            except httpx.TransportError as error:
                ended, error_name = time.monotonic(), type(error).__name__
                outcome = Outcome(
                    name,
                    request_id,
                    started,
                    next(iter(sent), None),
                    ended,
                    fresh_connection=bool(connected),
                    error=error_name,
                )
                await asyncio.sleep(0.01)  # a refused connection fails at once: do not spin
            else:
                ended, status = time.monotonic(), response.status_code
                outcome = Outcome(
                    name,
                    request_id,
                    started,
                    sent[0],
                    ended,
                    fresh_connection=bool(connected),
                    status=status,
                )
            self.outcomes.append(outcome)
