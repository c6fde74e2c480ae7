"""Every setting of the functions, read once per process from the environment.

Each setting has a local default (the `devstack` ports) and an environment override, so
the same code runs against the embedded stand-ins, LocalStack, or real AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    """The functions' configuration; build it with :func:`get_settings`."""

    mongodb_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = "shop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    jwt_secret_id: str = "shop/jwt-signing-key"
    jwt_ttl_seconds: int = 3600
    jwt_issuer: str = "shop"
    jwt_key_max_age_seconds: int = 300
    tax_rate_bps: int = 800
    low_stock_threshold: int = 10
    payment_provider: str = "simulated"
    outbox_grace_seconds: float = 5.0
    cors_allow_origin: str = "*"
    max_body_bytes: int = 64 * 1024


def env_int(env: dict[str, str], name: str, default: int) -> int:
    """``env[name]`` as an integer; ``default`` when unset or empty; a ValueError naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(env: dict[str, str], name: str, default: float) -> float:
    """``env[name]`` as a number; ``default`` when unset or empty; a ValueError naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``)."""
    e = dict(os.environ) if env is None else env
    d = Settings()
    return Settings(
        mongodb_uri=e.get("MONGODB_URI", d.mongodb_uri),
        mongodb_db=e.get("MONGODB_DB", d.mongodb_db),
        kafka_bootstrap_servers=e.get("KAFKA_BOOTSTRAP_SERVERS", d.kafka_bootstrap_servers),
        aws_endpoint_url=e.get("AWS_ENDPOINT_URL") or None,
        aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or d.aws_region,
        jwt_secret_id=e.get("JWT_SECRET_ID", d.jwt_secret_id),
        jwt_ttl_seconds=env_int(e, "JWT_TTL_SECONDS", d.jwt_ttl_seconds),
        jwt_issuer=e.get("JWT_ISSUER", d.jwt_issuer),
        jwt_key_max_age_seconds=env_int(e, "JWT_KEY_MAX_AGE_SECONDS", d.jwt_key_max_age_seconds),
        tax_rate_bps=env_int(e, "TAX_RATE_BPS", d.tax_rate_bps),
        low_stock_threshold=env_int(e, "LOW_STOCK_THRESHOLD", d.low_stock_threshold),
        payment_provider=e.get("PAYMENT_PROVIDER", d.payment_provider),
        outbox_grace_seconds=float(e.get("OUTBOX_GRACE_SECONDS", d.outbox_grace_seconds)),
        cors_allow_origin=e.get("CORS_ALLOW_ORIGIN", d.cors_allow_origin),
        max_body_bytes=env_int(e, "MAX_BODY_BYTES", d.max_body_bytes),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
