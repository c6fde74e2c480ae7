"""Shared fixtures: ``stack`` is one real local stack (broker, database, AWS emulator, gateway, relay) per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from kafka import KafkaProducer

from devstack.testing import Stack, remove_data, start_stack

# The local AWS emulator accepts any credentials; real ones are never needed by the tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

#: The product pictures' bucket of the local stack (``shop.config``'s default).
IMAGES_BUCKET = "shop-local-000000000000-product-images"


def product_image_keys(stack: Stack, product_id: str) -> list[str]:
    """Every object of the pictures' bucket that belongs to the product (uploads and renditions)."""
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    keys = []
    for prefix in (f"uploads/{product_id}/", f"products/{product_id}/"):
        keys += [o["Key"] for o in s3.list_objects_v2(Bucket=IMAGES_BUCKET, Prefix=prefix).get("Contents", [])]
    return keys


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``disruptive`` (they restart shared services) run after all the others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start the whole local stack on free ports for this test session, its functions warmed up."""
    s = start_stack()
    try:
        s.warm_up()
        yield s
    finally:
        s.close()
        remove_data(s)


@pytest.fixture(scope="module")
def producer(stack: Stack) -> Iterator[KafkaProducer]:
    """A real kafka-python producer on the stack's broker (large enough for the relay's oversized records)."""
    p = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all", linger_ms=0,
                      max_request_size=2 * 1024 * 1024)
    try:
        yield p
    finally:
        p.close(5)
