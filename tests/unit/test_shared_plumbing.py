"""The shared layer's plumbing without services: error mapping, body parsing, duplicate-key triage."""

from __future__ import annotations

import base64
import json

from pymongo.errors import DuplicateKeyError

from shop.consumer import envelopes
from shop.envelope import Envelope, make_event, wire_value
from shop.http import Request, api_handler
from shop.store import _is_id_clash


def event(body: str | None) -> dict[str, object]:
    return {"httpMethod": "POST", "path": "/x", "resource": "/x", "headers": {}, "body": body,
            "isBase64Encoded": False, "requestContext": {"requestId": "r-1"}}


@api_handler
def echo(request: Request) -> tuple[int, object]:
    return 200, request.json()


def test_bad_bodies_are_400s_never_500s() -> None:
    """Missing, invalid and absurdly nested JSON bodies each get a 400 in the contract's shape."""
    for body in (None, "{", "[" * 10_000 + "]" * 10_000, "\\udc00"):
        out = echo(event(body), None)
        assert out["statusCode"] == 400, body[:20] if body else body
        assert json.loads(out["body"])["error"]["code"] == "invalid_json"
    assert echo(event('{"a": 1}'), None)["statusCode"] == 200


def test_duplicate_key_triage() -> None:
    """An _id clash is retried; a clash on another unique index is not (MongoDB and nx-27017 wording)."""
    assert _is_id_clash(DuplicateKeyError("dup", 11000, {"keyPattern": {"_id": 1}}))
    assert not _is_id_clash(DuplicateKeyError("dup", 11000, {"keyPattern": {"email": 1}}))
    assert _is_id_clash(DuplicateKeyError("dup", 11000, {"errmsg": "UNIQUE constraint failed: users._id"}))
    assert not _is_id_clash(DuplicateKeyError("dup", 11000,
                                              {"errmsg": "UNIQUE constraint failed: index 'idx_users_email'"}))


def kafka_record(offset: int, value: bytes, key: bytes | None = None) -> dict[str, object]:
    record: dict[str, object] = {"topic": "order.created", "partition": 2, "offset": offset, "timestamp": 0,
                                 "timestampType": "CREATE_TIME", "value": base64.b64encode(value).decode(),
                                 "headers": []}
    if key is not None:
        record["key"] = base64.b64encode(key).decode()
    return record


def test_consumers_get_typed_envelopes_and_skip_the_rest() -> None:
    """Each record becomes an Envelope with its key and position; non-envelopes are skipped."""
    published = make_event("order.created", source="orders", key="o1", data={"orderId": "o1"})
    value = json.dumps(wire_value(published), separators=(",", ":")).encode()
    batch = {"eventSource": "SelfManagedKafka", "records": {"order.created-2": [
        kafka_record(7, b"not json"),
        kafka_record(8, b'{"type": "order.created"}'),
        kafka_record(9, value, key=b"o1"),
    ]}}
    (got,) = list(envelopes(batch))
    assert isinstance(got, Envelope)
    assert (got.id, got.type, got.data, got.key, got.partition, got.offset) == (
        published["id"], "order.created", {"orderId": "o1"}, "o1", 2, 9)
    assert got.model_dump(exclude_unset=True) == {**wire_value(published), "key": "o1", "topic": "order.created",
                                                  "partition": 2, "offset": 9}
