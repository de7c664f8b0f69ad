"""One log line per HTTP request, written through `logging` so it carries the request id."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

_SERVER_ERROR = 500


class AccessLogMiddleware:
    """Log method, path, status, duration and client of every HTTP request.

    A request that raises is logged as a 500 before the exception goes on to the error handler.
    The query string is left out: it may carry tokens.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call; lifespan and websocket calls pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = _SERVER_ERROR
        started = time.perf_counter()

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            client = scope.get("client")
            client_address = f"{client[0]}:{client[1]}" if client else "-"
            logger.info(
                "http_request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client_address,
                },
            )
