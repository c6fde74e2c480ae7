"""Identity routes and the Lambda authorizer, through the emulated API Gateway."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any

import pytest

from devstack.testing import Stack, wait_for
from shop.auth import tokens
from shop.errors import Unauthorized

pytestmark = pytest.mark.stack


PASSWORD = "correct-horse-battery"


def fresh_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@Example.COM"


def assert_error(r: Any, status: int, code: str | None = None) -> None:
    assert r.status == status, r
    body = r.json
    assert set(body["error"]) >= {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body


def test_register_returns_customer_and_token(stack: Stack) -> None:
    """Registration answers 201 with the user (customer, normalised email) and a working token."""
    email = fresh_email()
    body = {"email": f"  {email} ", "password": PASSWORD, "name": "Ann"}
    r = stack.http("POST", "/api/auth/register", json_body=body)
    assert r.status == 201, r
    user, token = r.json["user"], r.json["token"]
    assert user["email"] == email.lower() and user["role"] == "customer" and user["name"] == "Ann"
    assert "passwordHash" not in user
    me = stack.http("GET", "/api/auth/me", token=token)
    assert me.status == 200 and me.json["id"] == user["id"] and "passwordHash" not in me.json
    stored = stack.db()["users"].find_one({"_id": user["id"]})
    assert stored is not None and stored["passwordHash"].startswith("$argon2id$")


def test_register_same_email_any_case_is_409(stack: Stack) -> None:
    """Emails are unique after normalisation."""
    email = fresh_email()
    stack.register(email.lower())
    r = stack.http("POST", "/api/auth/register", json_body={"email": email.upper(), "password": PASSWORD, "name": "B"})
    assert_error(r, 409, "email_taken")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@y.io", "password": "short", "name": "A"},
        {"email": "not-an-email", "password": PASSWORD, "name": "A"},
        {"email": "x@y.io", "password": PASSWORD},
        {"email": "x@y.io", "password": PASSWORD, "name": "A", "role": "admin"},
        {"email": ["x@y.io"], "password": PASSWORD, "name": "A"},
        [1, 2],
        "just a string",
    ],
)
def test_register_rejects_bad_bodies(stack: Stack, body: Any) -> None:
    """Bad bodies (including a client-chosen role) are 400 in the contract's error shape."""
    assert_error(stack.http("POST", "/api/auth/register", json_body=body), 400)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe", b"null"])
def test_register_rejects_non_json(stack: Stack, raw: bytes) -> None:
    """A missing or broken body is a 400, never a 500."""
    r = stack.http("POST", "/api/auth/register", body=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_login_and_same_answer_for_unknown_email(stack: Stack) -> None:
    """Good credentials log in (any email case); a wrong password and an unknown email get the same 401."""
    email = fresh_email()
    stack.register(email)
    ok = stack.http("POST", "/api/auth/login", json_body={"email": email.upper(), "password": PASSWORD})
    assert ok.status == 200 and ok.json["user"]["email"] == email.lower() and ok.json["token"]
    wrong = stack.http("POST", "/api/auth/login", json_body={"email": email, "password": PASSWORD + "x"})
    unknown = stack.http("POST", "/api/auth/login", json_body={"email": fresh_email("ghost"), "password": PASSWORD})
    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.body == unknown.body and unknown.status == 401


def test_admin_account_from_bootstrap(stack: Stack) -> None:
    """The bootstrap admin logs in with the configured credentials and has the admin role."""
    r = stack.http("GET", "/api/auth/me", token=stack.admin_token())
    assert r.status == 200 and r.json["role"] == "admin" and r.json["email"] == stack.admin_email


def _tamper(token: str, **claims: Any) -> str:
    head, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{sig}"


def test_bad_tokens_are_rejected(stack: Stack) -> None:
    """No token, garbage, expired, tampered, foreign-key and alg=none tokens all get 401."""
    user_token = stack.register(fresh_email())
    claims = tokens.verify(user_token, secret=stack.signing_key())
    expired = tokens.issue(claims.user_id, "customer", claims.email, secret=stack.signing_key(), ttl=-60)
    foreign = tokens.issue(claims.user_id, "admin", claims.email, secret="some-other-key-" + uuid.uuid4().hex)
    tampered = _tamper(user_token, role="admin")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    unsigned = none_header + "." + _tamper(user_token, role="admin").split(".")[1] + "."
    assert stack.http("GET", "/api/auth/me").status == 401
    assert stack.http("GET", "/api/auth/me", headers={"Authorization": "Basic abc"}).status == 401
    for bad in ("garbage", expired, foreign, tampered, unsigned):
        assert stack.http("GET", "/api/auth/me", token=bad).status == 401, bad
        assert stack.http("GET", "/api/inventory", token=bad).status == 401, bad


def test_customers_cannot_reach_admin_routes(stack: Stack) -> None:
    """A customer token gets 403 on every admin route, and nothing is written."""
    token = stack.register(fresh_email())
    sku = f"NOPE-{uuid.uuid4().hex[:8]}"
    body = {"name": "Nope", "priceCents": 100, "sku": sku, "category": "x", "stock": 1}
    assert_error(stack.http("POST", "/api/products", token=token, json_body=body), 403, "forbidden")
    some = stack.db()["products"].find_one({}, {"_id": 1})
    assert some is not None
    pid = some["_id"]
    assert_error(stack.http("PATCH", f"/api/products/{pid}", token=token, json_body={"priceCents": 1}), 403)
    assert_error(stack.http("GET", "/api/inventory", token=token), 403)
    assert_error(stack.http("PATCH", f"/api/inventory/{pid}", token=token, json_body={"delta": 5}), 403)
    assert stack.db()["products"].find_one({"sku": sku}) is None


def _use_stack_clients(stack: Stack) -> None:
    from kafka import KafkaProducer
    from pymongo import MongoClient

    from shop import clients

    clients.set_clients(mongo=MongoClient(stack.mongodb_uri, tz_aware=True),
                        producer=KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all"))


def test_ensure_admin_is_idempotent_and_takes_over_the_address(stack: Stack) -> None:
    """ensure_admin promotes an existing account, resets its password to the configured one, and is idempotent."""
    from shop.identity.service import ensure_admin

    _use_stack_clients(stack)
    email = fresh_email("squatter")
    stack.register(email, password=PASSWORD)
    first = ensure_admin(email, "configured-secret-1", "Second Admin")
    assert ensure_admin(email.upper(), "configured-secret-1", "Second Admin") == first
    assert stack.http("POST", "/api/auth/login", json_body={"email": email, "password": PASSWORD}).status == 401
    token = stack.login(email, "configured-secret-1")
    assert stack.http("GET", "/api/auth/me", token=token).json["role"] == "admin"
    assert stack.db()["users"].count_documents({"email": email.lower()}) == 1


@pytest.mark.disruptive
def test_rotated_signing_key_is_used_without_a_cold_start(stack: Stack) -> None:
    """After the secret is rotated, warm functions sign and accept tokens with the new key within the
    key's max age (``JWT_KEY_MAX_AGE_SECONDS``, 2 s on the test stack), and refuse the old one."""
    sm, secret_id = stack.secretsmanager(), stack.jwt_secret_id
    old, new = stack.signing_key(), secrets.token_urlsafe(48)
    email = fresh_email("rotate")
    user_id = stack.http("GET", "/api/auth/me", token=stack.register(email)).json["id"]

    def accepted_login(key: str) -> str | None:
        """A login token signed with ``key`` that the gateway's authorizer accepts, if both already use it."""
        token = stack.login(email, PASSWORD)
        try:
            tokens.verify(token, secret=key)
        except Unauthorized:
            return None
        return token if stack.http("GET", "/api/auth/me", token=token).status == 200 else None

    sm.put_secret_value(SecretId=secret_id, SecretString=new)
    try:
        token = wait_for(lambda: accepted_login(new), timeout=30, message="the rotated key to be used")
        me = stack.http("GET", "/api/auth/me", token=token)
        assert me.status == 200 and me.json["id"] == user_id, me
        # A fresh token (not in the gateway's authorizer cache) signed with the old key is refused.
        stale = tokens.issue(user_id, "customer", email.lower(), secret=old)
        assert stack.http("GET", "/api/auth/me", token=stale).status == 401
    finally:
        sm.put_secret_value(SecretId=secret_id, SecretString=old)
        wait_for(lambda: accepted_login(old), timeout=30, message="the restored key to be used")
