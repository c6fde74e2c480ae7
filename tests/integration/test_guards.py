"""The API's guards through the emulated API Gateway: failed-login throttling, tokens of users that
do not exist, and free text with control, bidi or zero-width characters."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.testing import ADDRESS, Response, Stack
from shop.auth import tokens

pytestmark = pytest.mark.stack

PASSWORD = "correct-horse-battery"


def fresh_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def fresh_source() -> str:
    """A loopback address of its own (127.x.y.z): the gateway's ``sourceIp`` is the TCP peer, so
    these tests never throttle the other tests' logins from 127.0.0.1."""
    n = uuid.uuid4().int
    return f"127.{n % 250 + 1}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def login(stack: Stack, email: str, password: str, source: str, *, forwarded: str | None = None) -> Response:
    """POST /api/auth/login from the loopback address ``source`` (optionally claiming another in
    ``X-Forwarded-For``, which the stack, trusting no proxy, ignores)."""
    api = urlsplit(stack.api_url)
    assert api.hostname is not None
    conn = http.client.HTTPConnection(api.hostname, api.port, timeout=60, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    try:
        conn.request("POST", api.path + "/api/auth/login", json.dumps({"email": email, "password": password}), headers)
        r = conn.getresponse()
        return Response(r.status, r.read(), dict(r.getheaders()))
    finally:
        conn.close()


def assert_throttled(r: Any) -> int:
    """A 429 in the contract's error shape with a whole-second ``Retry-After``; returns it."""
    assert r.status == 429, r
    assert set(r.json["error"]) == {"code", "message", "details"}, r.json
    assert r.json["error"]["code"] == "too_many_requests"
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def fail_until_locked(stack: Stack, email: Any, source: str, *, at_least: int = 3,
                      forwarded: Any = lambda: None) -> tuple[list[int], int]:
    """Failed logins (``email()`` each time, ``X-Forwarded-For: forwarded()``) until one answers 429
    with a ``Retry-After`` of at least ``at_least`` s, sleeping out shorter locks (a busy machine may
    take longer than a 1 s lock between two requests). Returns the statuses seen and that ``Retry-After``."""
    statuses: list[int] = []
    for _ in range(40):
        r = login(stack, email(), "wrong-password", source, forwarded=forwarded())
        statuses.append(r.status)
        if r.status == 401:
            continue
        wait = assert_throttled(r)
        if wait >= at_least:
            return statuses, wait
        time.sleep(wait + 0.1)
    raise AssertionError(f"never locked for {at_least} s: {statuses}")


def test_failed_logins_lock_the_account_briefly_and_a_success_resets_it(stack: Stack) -> None:
    """Five failures are free, then each one locks the account longer (1, 2, 4 ... s); while locked
    even the right password answers 429 (not checked, not counted) from any source; after
    Retry-After it works and clears the account's counter."""
    email = fresh_email("throttled")
    stack.register(email)
    source = fresh_source()
    statuses, wait = fail_until_locked(stack, lambda: email, source)
    assert statuses[:5] == [401] * 5, statuses
    failures = statuses.count(401)
    assert 7 <= failures <= 9, statuses  # a lock of 3 s or more takes 7 failures (4 s), 8 on a slow machine
    assert_throttled(login(stack, email, PASSWORD, source))
    assert_throttled(login(stack, email, PASSWORD, fresh_source()))  # per account, whatever the source
    doc = stack.db()["login_throttle"].find_one({"_id": f"account:{email}"})
    assert doc is not None and doc["failures"] == failures and doc["expiresAt"] is not None  # 429s not counted
    time.sleep(wait + 0.2)
    assert login(stack, email, PASSWORD, source).status == 200
    assert stack.db()["login_throttle"].find_one({"_id": f"account:{email}"}) is None
    assert login(stack, email, "wrong-password", source).status == 401  # counting starts over
    assert login(stack, email, PASSWORD, source).status == 200


def test_failed_logins_are_throttled_per_source_with_a_higher_limit(stack: Stack) -> None:
    """One source failing on many accounts (one failure each: no account lock) is throttled after
    20 failures, whatever address it claims in ``X-Forwarded-For`` (a new one each time: the stack
    trusts no proxy, so the source is the TCP peer); the accounts still log in from another source."""
    email = fresh_email("victim")
    stack.register(email)
    source = fresh_source()
    statuses, _ = fail_until_locked(stack, lambda: fresh_email("spray"), source, forwarded=fresh_source)
    assert statuses[:20] == [401] * 20, statuses
    assert_throttled(login(stack, email, PASSWORD, source))
    assert login(stack, email, PASSWORD, fresh_source()).status == 200


def test_validly_signed_token_of_a_user_that_does_not_exist_cannot_order(stack: Stack) -> None:
    """The authorizer looks the user up: a forged-but-signed token for no account is 401, placing
    nothing; a real user deleted afterwards loses access once the gateway's cache (60 s) runs out."""
    product = stack.new_product(stock=3)
    ghost = tokens.issue(f"ghost-{uuid.uuid4().hex[:8]}", "customer", "ghost@example.com", secret=stack.signing_key())
    before = stack.db()["orders"].count_documents({})
    body = {"items": [{"productId": product["id"], "quantity": 1}], "shippingAddress": ADDRESS}
    r = stack.http("POST", "/api/orders", token=ghost, json_body=body,
                   headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status == 401, r
    assert stack.http("GET", "/api/auth/me", token=ghost).status == 401
    assert stack.db()["orders"].count_documents({}) == before
    real = stack.register(fresh_email("real"))
    assert stack.http("GET", "/api/auth/me", token=real).status == 200


@pytest.mark.parametrize(("field", "value"), [
    ("line1", "1 Main St\x00"),
    ("city", "Paris\u202egnp.exe"),
    ("line1", "\x1b[31mred\x1b[0m"),
    ("postalCode", "75\u200b001"),
    ("country", "F\u0085R"),
])
def test_shipping_address_with_unsafe_characters_is_400_naming_the_field(stack: Stack, field: str,
                                                                          value: str) -> None:
    """Control, bidi-override and zero-width characters are refused with a 400 naming the field;
    nothing is stored."""
    token = stack.register(fresh_email("text"))
    product = stack.new_product(stock=3)
    address = {**ADDRESS, field: value}
    before = stack.db()["orders"].count_documents({})
    r = stack.http("POST", "/api/orders", token=token, headers={"Idempotency-Key": uuid.uuid4().hex},
                   json_body={"items": [{"productId": product["id"], "quantity": 1}], "shippingAddress": address})
    assert r.status == 400, r
    assert r.json["error"]["code"] == "validation_error"
    assert [d["field"] for d in r.json["error"]["details"]] == [f"shippingAddress.{field}"]
    assert f"shippingAddress.{field}" in r.json["error"]["message"]
    assert stack.db()["orders"].count_documents({}) == before


def test_product_description_keeps_newlines_but_not_bidi_overrides(stack: Stack) -> None:
    """A description may span lines; a name may not, and neither may hold a bidi override."""
    ok = stack.new_product(description="Line one\nLine two\r\n\tindented")
    assert ok["description"] == "Line one\nLine two\r\n\tindented"
    tag = uuid.uuid4().hex[:8]
    base = {"priceCents": 100, "currency": "USD", "sku": f"G-{tag}", "stock": 1, "category": "testing"}
    for body, field in (({"name": "two\nlines", "description": ""}, "name"),
                        ({"name": "fine", "description": "evil \u2066isolate"}, "description")):
        r = stack.http("POST", "/api/products", token=stack.admin_token(), json_body={**base, **body})
        assert r.status == 400 and [d["field"] for d in r.json["error"]["details"]] == [field], r
