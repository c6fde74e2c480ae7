"""The relay cursor: encoding, decoding and rejection of foreign input, without services."""

from __future__ import annotations

import pytest

from realtime_relay.cursor import CursorError, PositionVector, TopicPosition, decode, encode, epoch_of


def test_round_trip() -> None:
    """A position survives encode → decode, including 'nothing read yet' (-1) and big offsets."""
    pos = {"order.created": TopicPosition(epoch_of("id-1"), {0: -1, 1: 5, 2: 2**40}),
           "product.updated": TopicPosition(epoch_of("id-2"), {0: 0})}
    assert decode(encode(pos)) == pos


def test_vector_matches_full_encoding_and_caches() -> None:
    """The incremental PositionVector gives the same text as a fresh encode."""
    v = PositionVector()
    v.reset_topic("inventory.updated", epoch_of("a"), {0: -1, 1: -1})
    v.reset_topic("order.created", epoch_of("b"), {0: 3})
    first = v.cursor()
    assert first == encode(v.topics) and v.cursor() is first
    v.advance("inventory.updated", 1, 7)
    assert v.cursor() != first and decode(v.cursor())["inventory.updated"].offsets == {0: -1, 1: 7}


def test_epochs_differ_per_topic_id() -> None:
    """A recreated topic (new id) has another fingerprint; a missing id is all zeros."""
    assert epoch_of("a") != epoch_of("b") and len(epoch_of("a")) == 4 and epoch_of(None) == b"\0" * 4


@pytest.mark.parametrize("bad", ["", "%%%", "AA", "Ag", "AQj", "x" * 5000])
def test_foreign_cursors_are_rejected(bad: str) -> None:
    """Garbage, a wrong version, unknown topics, truncation or huge input raise CursorError."""
    with pytest.raises(CursorError):
        decode(bad)
    with pytest.raises(CursorError):
        decode(123)  # type: ignore[arg-type]
