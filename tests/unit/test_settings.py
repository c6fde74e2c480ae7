"""The shop's and the local stack's settings: environment overrides, and bad values named by their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.settings import DEFAULT_PORTS, StackSettings
from shop.config import Settings


def test_shop_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOW_STOCK_THRESHOLD", "3")
    monkeypatch.setenv("OUTBOX_GRACE_SECONDS", "0.5")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s = Settings()
    assert (s.low_stock_threshold, s.outbox_grace_seconds, s.aws_endpoint_url, s.aws_region) == (
        3, 0.5, None, "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert Settings().aws_region == "eu-central-1"
    monkeypatch.setenv("OUTBOX_GRACE_SECONDS", "later")
    with pytest.raises(ValueError, match="OUTBOX_GRACE_SECONDS"):
        Settings()


def test_stack_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "AWS_ENDPOINT_URL", *(
            f"DEVSTACK_{n.upper()}_PORT" for n in DEFAULT_PORTS)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVSTACK_API_PORT", "4100")
    monkeypatch.setenv("DEVSTACK_SCHEDULE_INTERVAL", "0")
    monkeypatch.setenv("DEVSTACK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")
    s = StackSettings.from_env()
    assert s.ports == {**DEFAULT_PORTS, "api": 4100}
    assert (s.schedule_interval, s.data_dir, s.mongodb, s.kafka) == (
        None, tmp_path, "mongodb://127.0.0.1:1/", f"127.0.0.1:{DEFAULT_PORTS['kafka']}")
    free = StackSettings.from_env(free_ports=True, data_dir=tmp_path / "x")
    assert free.ports["api"] == 4100 and free.data_dir == tmp_path / "x"
    assert all(free.ports[n] != DEFAULT_PORTS[n] for n in DEFAULT_PORTS if n != "api")
    monkeypatch.setenv("DEVSTACK_KAFKA_PORT", "ninety")
    with pytest.raises(ValueError, match="DEVSTACK_KAFKA_PORT"):
        StackSettings.from_env()
