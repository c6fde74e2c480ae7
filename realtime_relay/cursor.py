"""The opaque cursor: the relay's read position in every partition, with each topic's epoch. No I/O.

A cursor says "the client has been sent every event meant for it up to these offsets". It is
derived from Kafka positions only, so any relay instance (or a restarted one) can honour it.
Each topic carries a 4-byte fingerprint of its Kafka topic id: a broker that came back empty
recreates its topics with new ids and offsets from 0, and an old cursor then no longer matches
(the client is told there is a gap) instead of silently pointing into a different log.

A cursor may also carry a *log mark* (:class:`LogMark`), which lets a relay that cannot serve it
from memory (a new broker epoch, a restarted relay, older than the retention window) resolve it
against the database event log instead: the relay's wall clock when the cursor was made, and the
short hashes of the events this relay had sent the cursor's audience (an ``orders`` cursor's owner,
or everyone on ``inventory`` / ``admin``) within a window before that moment (see docs/RELAY.md,
"Replay from the event log").

Wire format (base64url, no padding): ``0x02``; a mark flag (u8, 0 or 1) and, when 1, the mark:
time in ms (varint), window in ms (varint), id count (varint), then each id's 6-byte hash; then
per topic: topic index (u8, see ``mapping.TOPICS``), epoch fingerprint (4 bytes), partition
count (varint), then per partition: partition (varint) and offset + 1 (varint; 0 means "nothing
read yet"). Version ``0x01`` (no mark flag, no mark) is still accepted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from realtime_relay.mapping import TOPICS

VERSION = 2
LEGACY_VERSION = 1
MAX_CURSOR_CHARS = 4096
#: Bytes of an event id's hash in a log mark.
ID_HASH_BYTES = 6
#: The most event-id hashes one cursor carries (keeps a cursor under ``MAX_CURSOR_CHARS``).
MAX_MARK_IDS = 256
_TOPIC_INDEX = {t: i for i, t in enumerate(TOPICS)}
_BYTES = [bytes((i,)) for i in range(0x80)]


class CursorError(ValueError):
    """The cursor is not one this relay issued."""


def epoch_of(topic_id: object) -> bytes:
    """The 4-byte fingerprint of a Kafka topic id (any stringable id; None → zeros)."""
    if topic_id is None:
        return b"\0\0\0\0"
    return hashlib.blake2b(str(topic_id).encode(), digest_size=4).digest()


def _varint(n: int) -> bytes:
    if 0 <= n < 0x80:  # most counts and offsets: one byte
        return _BYTES[n]
    if n < 0:
        raise ValueError(f"varint must be >= 0, got {n}")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CursorError("truncated cursor")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def id_hash(event_id: str) -> bytes:
    """The short hash of an event id that a log mark carries."""
    return hashlib.blake2b(event_id.encode(), digest_size=ID_HASH_BYTES).digest()


@dataclass(frozen=True, slots=True)
class LogMark:
    """Where a cursor stands in the event log's terms.

    ``at_ms``: the relay's wall clock when the cursor was made; ``window_ms`` and ``ids``: the
    hashes of every event of the cursor's audience (its owner, or its channel) that the relay had
    sent in ``(at_ms - window_ms, at_ms]``.
    """

    at_ms: int
    window_ms: int = 0
    ids: frozenset[bytes] = frozenset()

    def encode(self) -> bytes:
        ids = sorted(self.ids)[:MAX_MARK_IDS]
        return b"".join([b"\x01", _varint(self.at_ms), _varint(self.window_ms), _varint(len(ids)), *ids])


NO_MARK = b"\x00"


@dataclass(slots=True)
class Cursor:
    """A decoded cursor: Kafka positions per topic, and the log mark when it has one."""

    positions: dict[str, TopicPosition]
    mark: LogMark | None


@dataclass(slots=True)
class TopicPosition:
    """One topic's epoch fingerprint and the last offset read in each partition (-1: none)."""

    epoch: bytes
    offsets: dict[int, int] = field(default_factory=dict)


def encode_topic(topic: str, pos: TopicPosition) -> bytes:
    """The binary segment of one topic (cached by :class:`PositionVector`)."""
    parts = [bytes([_TOPIC_INDEX[topic]]), pos.epoch, _varint(len(pos.offsets))]
    for partition in sorted(pos.offsets):
        parts.append(_varint(partition))
        parts.append(_varint(pos.offsets[partition] + 1))
    return b"".join(parts)


def encode(positions: Mapping[str, TopicPosition], mark: LogMark | None = None) -> str:
    """The cursor text of a full position (and log mark)."""
    body = b"".join(encode_topic(t, positions[t]) for t in sorted(positions, key=_TOPIC_INDEX.__getitem__))
    return _wrap(body, NO_MARK if mark is None else mark.encode())


def _wrap(body: bytes, mark: bytes) -> str:
    return base64.urlsafe_b64encode(bytes([VERSION]) + mark + body).rstrip(b"=").decode("ascii")


def decode(text: str) -> dict[str, TopicPosition]:
    """The positions named by a cursor; :class:`CursorError` for anything this relay did not issue."""
    return decode_cursor(text).positions


def _read_mark(raw: bytes, pos: int) -> tuple[LogMark | None, int]:
    if pos >= len(raw) or raw[pos] not in (0, 1):
        raise CursorError("bad log mark in cursor")
    if raw[pos] == 0:
        return None, pos + 1
    at_ms, pos = _read_varint(raw, pos + 1)
    window_ms, pos = _read_varint(raw, pos)
    count, pos = _read_varint(raw, pos)
    end = pos + count * ID_HASH_BYTES
    if count > MAX_MARK_IDS or end > len(raw):
        raise CursorError("bad log mark in cursor")
    ids = frozenset(raw[i : i + ID_HASH_BYTES] for i in range(pos, end, ID_HASH_BYTES))
    return LogMark(at_ms, window_ms, ids), end


def decode_cursor(text: str) -> Cursor:
    """A cursor's positions and log mark; :class:`CursorError` for anything this relay did not issue."""
    if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
        raise CursorError("cursor must be a non-empty string")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise CursorError("cursor is not base64url") from exc
    if not raw or raw[0] not in (VERSION, LEGACY_VERSION):
        raise CursorError("unknown cursor version")
    mark, pos = _read_mark(raw, 1) if raw[0] == VERSION else (None, 1)
    out: dict[str, TopicPosition] = {}
    while pos < len(raw):
        index = raw[pos]
        if index >= len(TOPICS) or pos + 5 > len(raw):
            raise CursorError("unknown topic in cursor")
        epoch = raw[pos + 1 : pos + 5]
        count, pos = _read_varint(raw, pos + 5)
        offsets: dict[int, int] = {}
        for _ in range(count):
            partition, pos = _read_varint(raw, pos)
            offset, pos = _read_varint(raw, pos)
            offsets[partition] = offset - 1
        out[TOPICS[index]] = TopicPosition(epoch, offsets)
    return Cursor(out, mark)


class PositionVector:
    """The relay's live read position, with the cursor text re-encoded only for topics that moved."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicPosition] = {}
        self._segments: dict[str, bytes] = {}
        self._body: bytes | None = None
        self._text: str | None = None

    def reset_topic(self, topic: str, epoch: bytes, offsets: Mapping[int, int]) -> None:
        """Start (or restart, after an epoch change) tracking a topic."""
        self.topics[topic] = TopicPosition(epoch, dict(offsets))
        self._segments.pop(topic, None)
        self._body = None
        self._text = None

    def advance(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` of a partition has been read."""
        self.topics[topic].offsets[partition] = offset
        self._segments.pop(topic, None)
        self._body = None
        self._text = None

    def body(self) -> bytes:
        """The binary positions of every topic (re-encoded only for topics that moved)."""
        if self._body is None:
            for topic, pos in self.topics.items():
                if topic not in self._segments:
                    self._segments[topic] = encode_topic(topic, pos)
            order = sorted(self._segments, key=_TOPIC_INDEX.__getitem__)
            self._body = b"".join(self._segments[t] for t in order)
        return self._body

    def marked(self, mark: bytes) -> str:
        """The current cursor text with an already encoded log mark (:meth:`LogMark.encode`)."""
        return _wrap(self.body(), mark)

    def cursor(self, mark: LogMark | None = None) -> str:
        """The current cursor text, with ``mark`` when given."""
        if mark is not None:
            return _wrap(self.body(), mark.encode())
        if self._text is None:
            self._text = _wrap(self.body(), NO_MARK)
        return self._text
