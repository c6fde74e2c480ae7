"""Shared fixtures: ``stack`` is one real local stack (broker, database, AWS emulator, gateway, relay) per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.testing import Stack, remove_data, start_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start the whole local stack on free ports for this test session."""
    s = start_stack()
    try:
        yield s
    finally:
        s.close()
        remove_data(s)
