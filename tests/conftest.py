"""Shared fixtures: ``stack`` is one real local stack (broker, database, AWS emulator, gateway, relay) per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer

from devstack.testing import Stack, remove_data, start_stack

# The local AWS emulator accepts any credentials; real ones are never needed by the tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


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
