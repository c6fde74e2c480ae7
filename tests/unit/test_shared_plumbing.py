"""The shared layer's plumbing without services: error mapping, body parsing, duplicate-key triage."""

from __future__ import annotations

import json

from pymongo.errors import DuplicateKeyError

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
