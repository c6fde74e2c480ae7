"""The opaque cursor: the relay's read position in every partition, with each topic's epoch. No I/O.

A cursor says "the client has been sent every event meant for it up to these offsets". It is
derived from Kafka positions only, so any relay instance (or a restarted one) can honour it.
Each topic carries a 4-byte fingerprint of its Kafka topic id: a broker that came back empty
recreates its topics with new ids and offsets from 0, and an old cursor then no longer matches
(the client is told there is a gap) instead of silently pointing into a different log.

Wire format (base64url, no padding): ``0x01`` then per topic: topic index (u8, see
``mapping.TOPICS``), epoch fingerprint (4 bytes), partition count (varint), then per partition:
partition (varint) and offset + 1 (varint; 0 means "nothing read yet").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from realtime_relay.mapping import TOPICS

VERSION = 1
MAX_CURSOR_CHARS = 4096
_TOPIC_INDEX = {t: i for i, t in enumerate(TOPICS)}


class CursorError(ValueError):
    """The cursor is not one this relay issued."""


def epoch_of(topic_id: object) -> bytes:
    """The 4-byte fingerprint of a Kafka topic id (any stringable id; None → zeros)."""
    if topic_id is None:
        return b"\0\0\0\0"
    return hashlib.blake2b(str(topic_id).encode(), digest_size=4).digest()


def _varint(n: int) -> bytes:
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


def encode(positions: Mapping[str, TopicPosition]) -> str:
    """The cursor text of a full position."""
    return _wrap(b"".join(encode_topic(t, positions[t]) for t in sorted(positions, key=_TOPIC_INDEX.__getitem__)))


def _wrap(body: bytes) -> str:
    return base64.urlsafe_b64encode(bytes([VERSION]) + body).rstrip(b"=").decode("ascii")


def decode(text: str) -> dict[str, TopicPosition]:
    """The positions named by a cursor; :class:`CursorError` for anything this relay did not issue."""
    if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
        raise CursorError("cursor must be a non-empty string")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise CursorError("cursor is not base64url") from exc
    if not raw or raw[0] != VERSION:
        raise CursorError("unknown cursor version")
    out: dict[str, TopicPosition] = {}
    pos = 1
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
    return out


class PositionVector:
    """The relay's live read position, with the cursor text re-encoded only for topics that moved."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicPosition] = {}
        self._segments: dict[str, bytes] = {}
        self._text: str | None = None

    def reset_topic(self, topic: str, epoch: bytes, offsets: Mapping[int, int]) -> None:
        """Start (or restart, after an epoch change) tracking a topic."""
        self.topics[topic] = TopicPosition(epoch, dict(offsets))
        self._segments.pop(topic, None)
        self._text = None

    def advance(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` of a partition has been read."""
        self.topics[topic].offsets[partition] = offset
        self._segments.pop(topic, None)
        self._text = None

    def cursor(self) -> str:
        """The current cursor text."""
        if self._text is None:
            for topic, pos in self.topics.items():
                if topic not in self._segments:
                    self._segments[topic] = encode_topic(topic, pos)
            order = sorted(self._segments, key=_TOPIC_INDEX.__getitem__)
            self._text = _wrap(b"".join(self._segments[t] for t in order))
        return self._text
