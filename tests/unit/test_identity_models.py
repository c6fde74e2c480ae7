"""Identity rules: email normalisation, request models, password hashing (no services)."""

from __future__ import annotations

import pytest

from shop.errors import BadRequest
from shop.http import validate
from shop.identity.domain import is_valid_email, normalise_email, public_user
from shop.identity.models import LoginBody, RegisterBody
from shop.identity.passwords import hash_password, verify_password


def test_email_is_normalised() -> None:
    """Emails are stripped and lower-cased."""
    assert normalise_email("  Alice@Example.COM ") == "alice@example.com"
    assert validate(RegisterBody, {"email": " Bob@X.io", "password": "12345678", "name": " Bob "}).email == "bob@x.io"


@pytest.mark.parametrize("email", ["", "plain", "a@b", "a b@c.d", "a@@b.c"])
def test_bad_emails(email: str) -> None:
    """Things that are not addresses are refused."""
    assert not is_valid_email(normalise_email(email))


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "a@b.co", "password": "short", "name": "A"},
        {"email": "a@b.co", "password": "12345678", "name": "   "},
        {"email": "nope", "password": "12345678", "name": "A"},
        {"email": "a@b.co", "password": "12345678", "name": "A", "role": "admin"},
        {"email": "a@b.co", "password": 12345678, "name": "A"},
    ],
)
def test_register_rejects(payload: dict[str, object]) -> None:
    """Short passwords, blank names, bad emails, a client-chosen role and wrong types are 400s."""
    with pytest.raises(BadRequest):
        validate(RegisterBody, payload)


def test_login_body_normalises_email() -> None:
    """Login looks the email up in its normalised form."""
    assert validate(LoginBody, {"email": " A@B.co ", "password": "x"}).email == "a@b.co"


def test_password_hash_round_trip() -> None:
    """argon2id hashes verify the right password only; a missing hash never verifies."""
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("garbage", "correct horse")


def test_public_user_hides_hash() -> None:
    """The public view never carries the password hash."""
    doc = {"_id": "u1", "email": "a@b.co", "name": "A", "role": "customer", "passwordHash": "h", "createdAt": "t"}
    assert "passwordHash" not in public_user(doc) and public_user(doc)["id"] == "u1"


def test_old_parameter_hashes_verify_and_need_rehash() -> None:
    """A hash made with argon2-cffi's default parameters still verifies and is flagged for upgrade."""
    from argon2 import PasswordHasher

    from shop.identity.passwords import needs_rehash

    old = PasswordHasher().hash("correct horse")
    assert verify_password(old, "correct horse") and needs_rehash(old)
    assert not needs_rehash(hash_password("correct horse"))
