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
MIN_PORT, MAX_PORT = 1, 65535
#: IPv6 unicast that is routed on the Internet: the rest is local, reserved or special.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, its local-use
#: prefix, IPv4-compatible and SIIT's IPv4-translated): the IPv4 address is what they reach.
EMBEDDING_V4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
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

    @property
    def host(self) -> str:
        """The name of the URL's host as sent on the wire (IDNA, ASCII), for `Host` and TLS."""
        return self.url.raw_host.decode("ascii")


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
    if parsed.port is not None and not MIN_PORT <= parsed.port <= MAX_PORT:
        msg = "the port must be between 1 and 65535"
        raise UnsafeTargetError(msg)
    return parsed


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a globally routable unicast address.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo and the like)
    is judged by the IPv4 address it reaches; any other IPv6 address must be global unicast.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return is_public(embedded)
        if address not in GLOBAL_UNICAST_V6:
            return False
    return address.is_global and not address.is_multicast


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address that an IPv6 address carries, if it is one of the forms that do."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in EMBEDDING_V4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


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
