"""How many anonymous sockets each source address holds, and whether it may open one more. No I/O.

A socket is anonymous from its handshake until it authenticates (``auth``, or ``?token=`` at the
handshake, which never counts). Counting every socket that has not authenticated, not only those
subscribed to a public channel, bounds what one host holds at any moment: a socket that never
authenticates is closed after ``RELAY_AUTH_TIMEOUT`` unless it subscribed, and one that subscribed
stays; both count.
"""

from __future__ import annotations


class AnonymousCap:
    """At most ``cap`` anonymous sockets per source address."""

    __slots__ = ("cap", "counts")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count one more anonymous socket from ``address``; False (nothing counted) when it is at the cap."""
        held = self.counts.get(address, 0)
        if held >= self.cap:
            return False
        self.counts[address] = held + 1
        return True

    def release(self, address: str) -> None:
        """One anonymous socket of ``address`` authenticated or closed."""
        held = self.counts.get(address, 0) - 1
        if held > 0:
            self.counts[address] = held
        else:
            self.counts.pop(address, None)
