"""Identity use cases: register, log in, read the current user, ensure the bootstrap admin.

The ``users`` collection has a unique index on the normalised ``email``, which is what makes
registration race-free: the insert either wins or raises ``DuplicateKeyError``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pymongo.errors import DuplicateKeyError

from shop.auth import tokens
from shop.auth.caller import ROLE_ADMIN, ROLE_CUSTOMER
from shop.envelope import utc_now_iso
from shop.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from shop.identity import throttle
from shop.identity.domain import normalise_email, public_user
from shop.identity.passwords import hash_password, needs_rehash, verify_password
from shop.identity.store import change, change_throttle, throttles, users
from shop.store import Doc

BAD_CREDENTIALS = "invalid email or password"


def _session(doc: Doc) -> dict[str, Any]:
    return {"user": public_user(doc), "token": tokens.issue(doc["_id"], doc["role"], doc["email"])}


def _insert_user(email: str, password: str, name: str, role: str) -> Doc:
    doc: Doc = {
        "_id": str(uuid.uuid4()),
        "email": email,
        "name": name,
        "role": role,
        "passwordHash": hash_password(password),
        "createdAt": utc_now_iso(),
        "version": 1,
    }
    try:
        users().insert_one(doc)
    except DuplicateKeyError as exc:
        raise Conflict("email is already registered", code="email_taken") from exc
    return doc


def register(email: str, password: str, name: str) -> dict[str, Any]:
    """A new customer account and its token; the role is always ``customer``."""
    return _session(_insert_user(normalise_email(email), password, name, ROLE_CUSTOMER))


def login(email: str, password: str, source_ip: str = "") -> dict[str, Any]:
    """The user and a fresh token; unknown email and wrong password answer the same 401.

    Failed logins are throttled per account and per source (see :mod:`shop.identity.throttle`):
    a locked key answers 429 with ``Retry-After`` before the password is even checked.
    """
    address = normalise_email(email)
    account = throttle.account_key(address)
    keys = {account: throttle.ACCOUNT}
    if source_ip:
        keys[throttle.source_key(source_ip)] = throttle.SOURCE
    counters = {d["_id"]: d for d in throttles().find({"_id": {"$in": list(keys)}})}
    now = time.time()
    wait = max(throttle.wait_seconds(counters.get(key), policy, now) for key, policy in keys.items())
    if wait > 0:
        seconds = throttle.retry_after(wait)
        raise TooManyRequests(f"too many failed logins; retry in {seconds} s", retry_after=seconds)
    doc = users().find_one({"email": address})
    if not verify_password(doc.get("passwordHash") if doc else None, password) or doc is None:
        for key, policy in keys.items():
            _count_failure(key, policy)
        raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
    if account in counters:
        throttles().delete_one({"_id": account})
    if needs_rehash(str(doc["passwordHash"])):
        _rehash(doc["_id"], password)
    return _session(doc)


def _count_failure(key: str, policy: throttle.Policy) -> None:
    def step(current: Doc | None) -> Doc:
        return throttle.after_failure(current, policy, time.time())

    change_throttle(key, step)


def _rehash(user_id: str, password: str) -> None:
    """Upgrade a hash made with older parameters, now that we know the password."""
    new_hash = hash_password(password)

    def step(current: Doc | None) -> Doc | None:
        if current is None or not needs_rehash(str(current.get("passwordHash", ""))):
            return None
        current["passwordHash"] = new_hash
        return current

    change(user_id, step)


def user_exists(user_id: str) -> bool:
    """Whether this user id belongs to an account (a token may outlive its user, or be forged for none)."""
    return users().find_one({"_id": user_id}, {"_id": 1}) is not None


def get_user(user_id: str) -> dict[str, Any]:
    """The public view of one user."""
    doc = users().find_one({"_id": user_id})
    if doc is None:
        raise NotFound("user not found")
    return public_user(doc)


def ensure_admin(email: str, password: str, name: str) -> str:
    """Create (or repair) the configured admin account; idempotent. Returns the user id.

    An existing account with that email is made admin and given the configured password, so
    an account registered under the admin address before bootstrap cannot keep its own.
    """
    address = normalise_email(email)
    existing = users().find_one({"email": address})
    if existing is None:
        try:
            return str(_insert_user(address, password, name, ROLE_ADMIN)["_id"])
        except Conflict:
            existing = users().find_one({"email": address})
            if existing is None:
                raise

    def promote(current: Doc | None) -> Doc | None:
        if current is None:
            return None
        stored = current.get("passwordHash")
        good_password = verify_password(stored, password) and not needs_rehash(str(stored))
        if current.get("role") == ROLE_ADMIN and good_password:
            return None
        current["role"] = ROLE_ADMIN
        if not good_password:
            current["passwordHash"] = hash_password(password)
        return current

    change(existing["_id"], promote)
    return str(existing["_id"])
