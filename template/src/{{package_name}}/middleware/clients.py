"""Who is calling: the address that the rate limits count requests against.

Two layers may read X-Forwarded-For, and only one of them should decide:

- under gunicorn, uvicorn's proxy-headers middleware trusts the proxies listed in
  GUNICORN_FORWARDED_ALLOW_IPS and rewrites the ASGI client to the caller's address before the
  application sees the request. This is the usual set-up (nginx in front), and then
  TRUSTED_PROXIES stays empty;
- TRUSTED_PROXIES is for servers that do not rewrite the client (e.g. a bare `uvicorn` without
  `--proxy-headers`): when the socket peer is one of those networks, the right-most address of
  X-Forwarded-For that is not itself a trusted proxy is taken as the caller.
"""

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import Scope

UNKNOWN_CLIENT = "unknown"

_FORWARDED_FOR = b"x-forwarded-for"


def is_in(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Tell whether `address` (an IP address, else never) belongs to one of `networks`."""
    try:
        ip = ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def client_address(scope: Scope, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """Return the caller's address: the socket peer, or X-Forwarded-For behind a trusted proxy."""
    client = scope.get("client")
    peer: str = client[0] if client else UNKNOWN_CLIENT
    if not trusted_proxies or not is_in(peer, trusted_proxies):
        return peer
    forwarded = [
        hop.strip()
        for name, value in scope["headers"]
        if name == _FORWARDED_FOR
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(forwarded):
        if not is_in(hop, trusted_proxies):
            # Garbage in the header (`unknown`, a name) is no address: count the proxy instead.
            return hop if _is_address(hop) else peer
    return peer
