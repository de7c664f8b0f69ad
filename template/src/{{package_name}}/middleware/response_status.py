"""The status of the response that an ASGI app sends, for middleware that reports on requests."""

from starlette.types import Message, Send

#: What a request that raised before it answered is reported as.
SERVER_ERROR = 500


class ResponseStatus:
    """Pass the app's messages on to `send`, remembering the status of the response.

    Until a response starts, and for a request that raised before it did, the status is 500:
    that is what the error handler then answers.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self.code = SERVER_ERROR

    async def send(self, message: Message) -> None:
        """Send `message`, noting the status when it starts the response."""
        if message["type"] == "http.response.start":
            self.code = message["status"]
        await self._send(message)
