"""Where a webhook may point: public addresses only, unless a setting allows the others (SSRF).

A URL is checked when it is registered and again at every delivery, because what a name resolves
to can change in between. The delivery then connects to the address that was checked (not to a
second lookup of the name), with the name kept for the `Host` header and for TLS, so a name that
resolves to a public address for the check and a private one for the connection (DNS rebinding)
gains nothing. Redirects are never followed.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTargetError(ValueError):
    """The URL cannot be delivered to: its scheme, its name or one of its addresses is refused."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """A checked URL and the address a delivery connects to."""

    url: httpx.URL
    address: IPAddress

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with the checked address in place of the name."""
        return self.url.copy_with(host=str(self.address))


def parse(url: str) -> httpx.URL:
    """Return `url` parsed, refusing what is not an absolute http(s) URL without credentials."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        msg = "not a valid URL"
        raise UnsafeTargetError(msg) from error
    if parsed.scheme not in ALLOWED_SCHEMES or not parsed.host:
        msg = "use an absolute http:// or https:// URL"
        raise UnsafeTargetError(msg)
    if parsed.userinfo:
        msg = "credentials in the URL are not accepted: authenticate with the signature"
        raise UnsafeTargetError(msg)
    return parsed


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a globally routable unicast address (IPv4-mapped ones unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(url: str, *, allow_private: bool, within: float = 5.0) -> Target:
    """Check `url` and resolve its host; refuse it if any address is not public (unless allowed).

    Every address the name has must be public: a name with one public and one private address
    would otherwise reach the private one on some connections. A name that takes longer than
    `within` seconds to resolve is refused like one that does not resolve.
    """
    parsed = parse(url)
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    try:
        async with asyncio.timeout(within):
            infos = await asyncio.get_running_loop().getaddrinfo(
                parsed.host, port, type=socket.SOCK_STREAM
            )
    except (socket.gaierror, UnicodeError, TimeoutError) as error:
        msg = "the host does not resolve"
        raise UnsafeTargetError(msg) from error
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private and not all(is_public(address) for address in addresses):
        msg = "the host resolves to a private, loopback or reserved address"
        raise UnsafeTargetError(msg)
    return Target(url=parsed, address=addresses[0])
