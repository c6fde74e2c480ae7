"""Who a request comes from: the TCP peer, or the client a trusted proxy forwarded (``X-Forwarded-For``).

One rule for every service that keys a limit by source address: the emulated gateway's
``sourceIp`` (the per-source login throttle) and the relay's cap on anonymous sockets per address.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(items: tuple[str, ...] | list[str]) -> tuple[Network, ...]:
    """Addresses or CIDR blocks of trusted proxies (``DEVSTACK_TRUSTED_PROXIES``, ``RELAY_TRUSTED_PROXIES``)."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def source_ip(peer: str, forwarded: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the TCP peer (API Gateway's ``requestContext.identity.sourceIp``).

    ``X-Forwarded-For`` counts only when the peer is a trusted proxy: then the client is the
    right-most address in it that is not itself a trusted proxy (what each trusted hop appended);
    anything left of that was written by the client and proves nothing. With no trusted proxies
    (the default) the header is ignored, so no local client can pick its own source address and
    dodge a per-source limit.
    """
    if not trusted or not forwarded or not _trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: trust none of it
        if not _trusted(hop, trusted):
            return hop
    return peer
