"""Signed JWTs (HS256): subject = user id, plus role and email, with expiry.

The signing key lives in Secrets Manager (moto locally) under ``JWT_SECRET_ID``. Powertools'
parameters cache holds it for ``JWT_KEY_MAX_AGE_SECONDS``, so a rotated key is picked up by warm
processes without a cold start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from shop import clients
from shop.auth.caller import ROLES
from shop.config import get_settings
from shop.errors import Unauthorized

ALGORITHM = "HS256"

_lock = threading.Lock()
_provider: SecretsProvider | None = None


@dataclass(frozen=True)
class Claims:
    """What a valid token says about its bearer."""

    user_id: str
    role: str
    email: str
    expires_at: int


def _secrets() -> SecretsProvider:
    global _provider
    if _provider is None:
        with _lock:
            if _provider is None:
                _provider = SecretsProvider(boto3_client=clients.aws_client("secretsmanager"))
    return _provider


def signing_key() -> str:
    """The HMAC key from Secrets Manager, cached for ``jwt_key_max_age_seconds``."""
    s = get_settings()
    return str(_secrets().get(s.jwt_secret_id, max_age=s.jwt_key_max_age_seconds))


def issue(user_id: str, role: str, email: str, *, secret: str | None = None, ttl: int | None = None,
          now: float | None = None) -> str:
    """A signed token for this user."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    s = get_settings()
    issued = int(now if now is not None else time.time())
    payload = {
        "sub": user_id,
        "role": role,
        "email": email,
        "iss": s.jwt_issuer,
        "iat": issued,
        "exp": issued + (ttl if ttl is not None else s.jwt_ttl_seconds),
    }
    return jwt.encode(payload, secret or signing_key(), algorithm=ALGORITHM)


def verify(token: str, *, secret: str | None = None) -> Claims:
    """The claims of a valid token; :class:`Unauthorized` for anything expired, tampered or foreign."""
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret or signing_key(),
            algorithms=[ALGORITHM],
            issuer=get_settings().jwt_issuer,
            options={"require": ["sub", "exp", "iat", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token", code="invalid_token") from exc
    role = payload.get("role")
    if role not in ROLES:
        raise Unauthorized("invalid token", code="invalid_token")
    return Claims(user_id=str(payload["sub"]), role=str(role), email=str(payload.get("email", "")),
                  expires_at=int(payload["exp"]))


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        raise Unauthorized("missing bearer token")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization header must be 'Bearer <token>'")
    return token.strip()
