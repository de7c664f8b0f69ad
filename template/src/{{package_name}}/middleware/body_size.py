"""Refuse request bodies larger than MAX_BODY_SIZE with 413, announced or streamed."""

from contextlib import suppress

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CONTENT_LENGTH = b"content-length"
_TOO_LARGE = 413


class BodyTooLargeError(Exception):
    """The request body went past the limit while the application was reading it."""


class BodySizeLimitMiddleware:
    """Answer 413 when Content-Length announces too much, or when the body read grows too big.

    A chunked body has no Content-Length: its chunks are counted as the application reads them,
    and the read that crosses the limit raises `BodyTooLargeError`. Whatever the application
    answers to that (FastAPI makes it a 400) is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, *, max_size: int) -> None:
        self.app = app
        self.max_size = max_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call; lifespan and websocket calls pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._announced_size(scope) > self.max_size:
            await self._refuse(scope, receive, send)
            return

        received = 0
        too_large = False
        response_started = False

        async def receive_counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_size:
                    too_large = True
                    raise BodyTooLargeError
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal response_started
            if too_large and not response_started:
                return  # the application's answer to a broken read: the 413 replaces it
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        with suppress(BodyTooLargeError):
            await self.app(scope, receive_counted, send_unless_refused)
        if too_large and not response_started:
            await self._refuse(scope, receive, send)

    @staticmethod
    def _announced_size(scope: Scope) -> int:
        """Return the Content-Length of the request, 0 when absent or unreadable."""
        for name, value in scope["headers"]:
            if name == _CONTENT_LENGTH:
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"Request body larger than {self.max_size} bytes"},
            status_code=_TOO_LARGE,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
