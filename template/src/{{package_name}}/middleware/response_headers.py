"""Headers that middleware set on a response as it starts, at a small cost per request."""

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import Message

#: Headers as ASGI sends them: (lower-case name, value) pairs of bytes.
RawHeaders = Sequence[tuple[bytes, bytes]]


def raw_headers(headers: dict[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    """Return `headers` as ASGI sends them, names in lower case."""
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    )


def set_headers(message: Message, headers: RawHeaders) -> None:
    """Set `headers` on a response start message, as `MutableHeaders(scope=message)[name] = value`.

    Each header is appended, in order; one that the response already has is replaced instead,
    and its duplicates dropped. Only that rare case pays for `MutableHeaders`.
    """
    current = message["headers"] = list(message["headers"])
    for name, _ in current:
        for new_name, _ in headers:
            if name == new_name:
                mutable = MutableHeaders(scope=message)
                for set_name, value in headers:
                    mutable[set_name.decode("latin-1")] = value.decode("latin-1")
                return
    current.extend(headers)
