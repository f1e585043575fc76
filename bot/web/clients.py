"""Who is asking, and over what: a request's client address and the scheme it came by.

Behind a reverse proxy every request comes from the proxy, which names the client in
`X-Forwarded-For` (and the scheme in `X-Forwarded-Proto`) or in RFC 7239 `Forwarded:
for=…;proto=…`. Anyone can write those headers, so they are read only when the immediate
peer is in TRUSTED_PROXIES, and only as far back as they name trusted proxies: the client
is the right-most address that is not one. From any other peer the peer is the client and
the connection's own scheme is the scheme.

The web chat limits new visitors and wishes per client address with this, and makes its
cookie `Secure` when the visitor came by https; /metrics tells a local peer from the world.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from aiohttp import hdrs, web

IPV6_SHARED = 64  # one household's or one phone's IPv6 addresses: a /64 is handed out whole
SCHEMES = ("http", "https")
UNKNOWN = "unknown"  # a client a proxy named with no address ("unknown", "_hidden"): one
# Headers a reverse proxy adds, any of which means a request did not come straight to us.
PROXY_HEADERS = (
    hdrs.FORWARDED,
    hdrs.X_FORWARDED_FOR,
    hdrs.X_FORWARDED_PROTO,
    hdrs.X_FORWARDED_HOST,
    "X-Real-IP",
    hdrs.VIA,
)


@dataclass(frozen=True)
class Client:
    address: str  # an IP address as text; UNKNOWN when a trusted proxy named none
    scheme: str  # http or https


class Clients:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = tuple(ip_network(network, strict=False) for network in trusted_proxies)

    def of(self, request: web.Request) -> Client:
        peer = request.remote or "unknown"
        client = Client(_normal(peer), request.scheme)
        if not self.trusts(peer):
            return client
        for address, scheme in reversed(_hops(request)):  # the nearest proxy's entry first
            client = Client(_normal(address), scheme or client.scheme)
            if not self.trusts(address):
                break
        return client

    def trusts(self, address: str) -> bool:
        """Whether `address` is one of TRUSTED_PROXIES."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self._trusted)

    def forwarded(self, request: web.Request) -> bool:
        """Whether a proxy may have sent this: the peer is a trusted proxy, or the request
        carries any header a proxy adds (an untrusted proxy's, or a forgery)."""
        proxied = any(name in request.headers for name in PROXY_HEADERS)
        return proxied or self.trusts(request.remote or "")


def limit_key(address: str) -> str:
    """What one client's limits are counted under: its IPv4 address, or its IPv6 /64 (a
    single phone or household can take any address of that network)."""
    ip = _ip(address)
    if isinstance(ip, IPv6Address):
        return str(ip_network(f"{ip}/{IPV6_SHARED}", strict=False))
    return str(ip) if ip is not None else address


def is_loopback(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def _hops(request: web.Request) -> list[tuple[str, str | None]]:
    """Each proxy's entry, first proxy first: the address it was asked by, and the scheme
    (None when it does not say). `X-Forwarded-For` with `X-Forwarded-Proto` (its values paired
    with the addresses from the right) when sent, else `Forwarded`: the proxies the docs
    describe write the first and pass a client's own `Forwarded` through untouched, so
    preferring `Forwarded` would let any client name itself."""
    headers = request.headers
    if hdrs.X_FORWARDED_FOR not in headers:
        return [(entry.get("for", ""), _scheme(entry.get("proto"))) for entry in request.forwarded]
    addresses = _list(headers.getall(hdrs.X_FORWARDED_FOR, ()))
    schemes = _list(headers.getall(hdrs.X_FORWARDED_PROTO, ()))
    unsaid = len(addresses) - len(schemes)
    return [
        (address, _scheme(schemes[i - unsaid]) if i >= unsaid else None)
        for i, address in enumerate(addresses)
    ]


def _list(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _scheme(value: str | None) -> str | None:
    scheme = (value or "").strip().lower()
    return scheme if scheme in SCHEMES else None


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    """An address as proxies write it: 192.0.2.1, 192.0.2.1:4711, [2001:db8::1]:4711,
    "2001:db8::1", an IPv4 address mapped into IPv6; None for "unknown" and the like."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _normal(address: str) -> str:
    """The address as one client's limits are keyed: anything that is not an IP address is
    the one UNKNOWN client (else every made-up name would be a client of its own)."""
    ip = _ip(address)
    return str(ip) if ip is not None else UNKNOWN
