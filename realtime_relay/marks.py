"""What each audience was sent lately: the ids a cursor's log mark carries. No I/O.

A relay that resolves a cursor against the database event log (a new broker epoch, a restarted
relay) cannot tell from times alone whether an event logged shortly before the cursor was made had
reached the client: the outbox logs an event just after publishing it, and the relay reads it just
after that. So a cursor carries the short hashes of every event its audience was sent in the last
``window`` seconds (an ``orders`` cursor: its owner's; an ``inventory`` or ``admin`` cursor: the
channel's, whose audience is everyone); anything logged before that window reached the client.
Past ``cap`` ids the window shrinks to what the last ``cap`` cover.
"""

from __future__ import annotations

from collections import deque

from realtime_relay.cursor import ID_HASH_BYTES, LogMark, _varint


class AudienceMarks:
    """Per audience (an owner's user id, or a channel), the (time, id hash) of the events it was sent
    within ``window`` seconds, at most ``cap``."""

    def __init__(self, window: float, cap: int = 48) -> None:
        self.window = max(0.0, window)
        self.cap = max(1, cap)
        self._sent: dict[str, deque[tuple[float, bytes]]] = {}
        self._joined: dict[str, bytearray] = {}  # the same hashes, concatenated (what a mark carries)
        self._covered_from: dict[str, float] = {}  # past the cap: the window holds only what is later
        self._notes = 0

    def __len__(self) -> int:
        return len(self._sent)

    def note(self, audience: str, id_hash: bytes, now: float) -> None:
        """``audience`` (an owner's user id, or a channel) is sent the event with this hash at ``now``."""
        sent = self._sent.get(audience)
        if sent is None:
            sent = self._sent[audience] = deque()
            self._joined[audience] = bytearray()
        sent.append((now, id_hash))
        self._joined[audience] += id_hash
        self._prune(audience, sent, now)
        self._notes += 1
        if self._notes % 1024 == 0:
            self.sweep(now)

    def mark(self, audience: str, now: float) -> LogMark:
        """The log mark of a cursor made for ``audience`` at ``now``."""
        start, sent = self._window(audience, now)
        ids = frozenset(h for _, h in sent) if sent else frozenset()
        return LogMark(int(now * 1000), max(0, int((now - start) * 1000)), ids)

    def mark_bytes(self, audience: str, now: float) -> bytes:
        """:meth:`mark`, encoded (what a live frame's cursor needs, without the intermediate objects)."""
        start, sent = self._window(audience, now)
        joined = self._joined[audience] if sent else b""
        return b"".join([b"\x01", _varint(int(now * 1000)), _varint(max(0, int((now - start) * 1000))),
                         _varint(len(sent) if sent else 0), joined])

    def _window(self, audience: str, now: float) -> tuple[float, deque[tuple[float, bytes]] | None]:
        sent = self._sent.get(audience)
        start = now - self.window
        if sent is not None:
            self._prune(audience, sent, now)
            start = max(start, self._covered_from.get(audience, start))
        return start, sent

    def _prune(self, audience: str, sent: deque[tuple[float, bytes]], now: float) -> None:
        horizon = now - self.window
        gone = 0
        while sent and sent[0][0] <= horizon:
            sent.popleft()
            gone += 1
        while len(sent) > self.cap:
            dropped, _ = sent.popleft()
            self._covered_from[audience] = dropped
            gone += 1
        if gone:
            del self._joined[audience][: gone * ID_HASH_BYTES]
        covered = self._covered_from.get(audience)
        if covered is not None and covered <= horizon:
            del self._covered_from[audience]

    def sweep(self, now: float) -> None:
        """Forget owners with nothing sent within the window (bounds memory to the recently active)."""
        horizon = now - self.window
        for audience in [u for u, sent in self._sent.items() if not sent or sent[-1][0] <= horizon]:
            del self._sent[audience]
            del self._joined[audience]
            self._covered_from.pop(audience, None)
