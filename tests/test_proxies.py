"""Behind a reverse proxy (issue 25): the client's address and scheme come from the proxy's
headers only when the immediate peer is in TRUSTED_PROXIES, and then from the right-most
address that is not a trusted proxy. Seen on the wire through what they decide: the web
chat's limit on new identities per address, and its cookie's `Secure` flag."""

from __future__ import annotations

import pytest

from bot.runtime.config import ConfigError, Settings
from tests.conftest import StartBot
from tests.test_webchat_identities import fresh_get

LIMIT = 10  # new identities an hour from one address, by default


async def first_visits(base_url: str, *forwarded: dict[str, str]) -> list[int]:
    """The status of a first visit from 127.0.0.1 with each of these headers, in turn."""
    return [(await fresh_get(base_url, **headers)).status for headers in forwarded]


def xff(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def secure(base_url: str, address: str = "127.0.0.1", **headers: str) -> bool:
    """Whether the identity a first visit is given is a `Secure` cookie."""
    response = await fresh_get(base_url, address, **headers)
    assert response.status == 200
    return bool(response.cookies["civic_chat"]["secure"])


async def test_forwarding_headers_from_an_untrusted_peer_change_nothing(
    start_bot: StartBot,
) -> None:
    runtime = await start_bot("webhook")  # TRUSTED_PROXIES unset: 127.0.0.1 is the client
    spoofed = [xff(f"198.51.100.{n}") for n in range(6)]
    spoofed += [{"Forwarded": f"for=198.51.100.{n};proto=https"} for n in range(6)]
    assert await first_visits(runtime.base_url, *spoofed) == [200] * LIMIT + [429, 429]
    # Nor does a forged scheme make the cookie Secure (another address: its hour is empty).
    assert not await secure(runtime.base_url, "127.0.0.3", **{"X-Forwarded-Proto": "https"})
    assert not await secure(runtime.base_url, "127.0.0.4", Forwarded="for=1.2.3.4;proto=https")


async def test_a_trusted_proxy_names_the_client(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook", trusted_proxies=("127.0.0.0/30", "10.0.0.0/8"))
    base = runtime.base_url
    # 203.0.113.7 has its ten, by either header, through one proxy or two trusted ones.
    ten = [xff("203.0.113.7")] * 4 + [xff("203.0.113.7, 10.1.2.3")] * 3
    ten += [{"Forwarded": 'for=203.0.113.7;proto=https, for="10.1.2.3:4711"'}] * 3
    assert await first_visits(base, *ten) == [200] * LIMIT
    assert await first_visits(base, xff("203.0.113.7")) == [429]
    # What the client wrote itself (left of what our proxy saw) is not believed.
    assert await first_visits(base, xff("198.51.100.1, 203.0.113.7")) == [429]
    # Others behind the same proxy are not held back.
    assert await first_visits(base, xff("203.0.113.8"), xff("192.0.2.1, 10.9.9.9")) == [200, 200]
    # No header from a trusted peer: the peer itself is the client.
    assert await first_visits(base, {}) == [200]


async def test_a_clients_own_forwarded_header_passed_through_names_no_one(
    start_bot: StartBot,
) -> None:
    """The proxy appends to X-Forwarded-For (as the docs have nginx do) and passes the
    client's own `Forwarded` through untouched: the client is still the proxy's entry, and
    names that are not addresses are one unknown client."""
    runtime = await start_bot("webhook", trusted_proxies=("127.0.0.1",))
    named = [{**xff("203.0.113.9"), "Forwarded": f"for=10.7.0.{n}"} for n in range(LIMIT + 1)]
    assert await first_visits(runtime.base_url, *named) == [200] * LIMIT + [429]
    made_up = [{"Forwarded": f"for=_hidden{n}"} for n in range(LIMIT + 1)]
    assert await first_visits(runtime.base_url, *made_up) == [200] * LIMIT + [429]


async def test_an_ipv6_client_is_counted_by_its_64(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook", trusted_proxies=("127.0.0.1",))
    same_64 = [xff(f"2001:db8:0:1::{n:x}") for n in range(LIMIT + 1)]
    assert await first_visits(runtime.base_url, *same_64) == [200] * LIMIT + [429]
    forwarded = {"Forwarded": 'for="[2001:db8:0:2::1]:4711"'}
    assert await first_visits(runtime.base_url, forwarded) == [200]


async def test_the_cookie_is_secure_behind_a_trusted_proxy_that_says_https(
    start_bot: StartBot,
) -> None:
    runtime = await start_bot("webhook", trusted_proxies=("127.0.0.1",))
    base = runtime.base_url
    assert await secure(base, **{"X-Forwarded-For": "203.0.113.1", "X-Forwarded-Proto": "https"})
    assert await secure(base, Forwarded="for=203.0.113.2;proto=https")
    assert not await secure(base, **{"X-Forwarded-For": "203.0.113.3", "X-Forwarded-Proto": "http"})
    assert not await secure(base, **{"X-Forwarded-For": "203.0.113.4"})  # not said: as it came
    # From a peer that is not trusted (127.0.0.2), the same headers are ignored.
    assert not await secure(base, "127.0.0.2", **{"X-Forwarded-Proto": "https"})


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("", ()),
        ("10.0.0.5", ("10.0.0.5/32",)),
        (" 172.30.80.0/24 , ::1 ", ("172.30.80.0/24", "::1/128")),
        ("10.0.0.5/8", ("10.0.0.0/8",)),
    ],
)
def test_trusted_proxies_are_read_as_networks(given: str, read: tuple[str, ...]) -> None:
    assert Settings.from_env({"TRUSTED_PROXIES": given}).trusted_proxies == read


def test_a_trusted_proxy_that_is_no_address_stops_the_start() -> None:
    with pytest.raises(ConfigError, match=r"TRUSTED_PROXIES: 'proxy\.local' is not an IP"):
        Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1, proxy.local"})
