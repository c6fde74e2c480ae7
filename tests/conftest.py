"""Shared fixtures: ``stack`` is one real local stack (broker, database, AWS emulator, gateway, relay) per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
