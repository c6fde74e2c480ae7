"""Every setting of the functions, read once per process from the environment.

Each setting has a local default (the `devstack` ports) and an environment override named after
the field in capitals (``MONGODB_URI``, ``LOW_STOCK_THRESHOLD``, ...), so the same code runs
against the embedded stand-ins, LocalStack, or real AWS. An empty variable counts as unset; a bad
value fails with a ``ValueError`` (pydantic's ``ValidationError``) naming the variable.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, AliasGenerator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The functions' configuration; read it with :func:`get_settings`."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True,
                                      alias_generator=AliasGenerator(validation_alias=str.upper))

    mongodb_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = "shop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    aws_endpoint_url: str | None = None
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    jwt_secret_id: str = "shop/jwt-signing-key"
    jwt_ttl_seconds: int = 3600
    jwt_issuer: str = "shop"
    jwt_key_max_age_seconds: int = 300
    tax_rate_bps: int = 800
    low_stock_threshold: int = 10  # also the relay's admin:alert threshold
    payment_provider: str = "simulated"
    outbox_grace_seconds: float = 5.0
    cors_allow_origin: str = "*"
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"  # also read by Powertools itself
    powertools_service_name: str = "shop"
    mongodb_server_selection_timeout_ms: int = 2000
    saga_stuck_after_seconds: float = 60.0
    event_log_retention_seconds: float = 7 * 24 * 3600.0
    #: the S3 bucket of product pictures (uploads under ``uploads/``, renditions under ``products/``)
    product_images_bucket: str = "shop-local-000000000000-product-images"
    #: where browsers read the renditions; empty: the bucket's own URL (path style under AWS_ENDPOINT_URL)
    product_images_url: str | None = None
    #: seconds a presigned image upload stays valid
    image_upload_ttl_seconds: int = 300


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
