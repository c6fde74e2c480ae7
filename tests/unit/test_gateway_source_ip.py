"""A client's source address (the gateway's ``sourceIp``, the relay's per-address cap): the TCP peer, unless a
trusted proxy forwarded the request."""

from __future__ import annotations

import pytest

from devstack.settings import StackSettings
from shop.forwarded import Network, source_ip, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), [
    ("127.0.0.1", "203.0.113.9", (), "127.0.0.1"),  # no trusted proxy (the default): the header is ignored
    ("192.0.2.7", "203.0.113.9", PROXIES, "192.0.2.7"),  # an untrusted peer cannot name another source
    ("127.0.0.1", "203.0.113.9", PROXIES, "203.0.113.9"),  # the trusted proxy's client
    ("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.1.2.3", PROXIES, "203.0.113.9"),  # right-most untrusted hop
    ("127.0.0.1", "10.1.2.3", PROXIES, "127.0.0.1"),  # only proxies: the peer
    ("127.0.0.1", "203.0.113.9, not-an-ip", PROXIES, "127.0.0.1"),  # a malformed chain counts for nothing
    ("127.0.0.1", None, PROXIES, "127.0.0.1"),
])
def test_source_ip(peer: str, forwarded: str | None, trusted: tuple[Network, ...], expected: str) -> None:
    assert source_ip(peer, forwarded, trusted) == expected


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert StackSettings.from_env().trusted_proxies == ()
    monkeypatch.setenv("DEVSTACK_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert trusted_networks(StackSettings.from_env().trusted_proxies) == PROXIES
