"""Every setting of the relay, read once from the environment; each has a local default."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from shop.config import env_float, env_int


@dataclass(frozen=True)
class RelaySettings:
    """The relay's configuration; build it with :func:`load_settings`."""

    host: str = "0.0.0.0"
    port: int = 3009
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    allowed_origins: tuple[str, ...] = ()
    instance_id: str = "relay"
    auth_timeout: float = 5.0
    client_queue_bytes: int = 256 * 1024
    max_frame_bytes: int = 8 * 1024
    retention_per_partition: int = 2000
    dedupe_ids: int = 100_000
    low_stock_threshold: int = 10
    ping_interval: float = 30.0
    close_timeout: float = 5.0
    replay_wait: float = 2.0
    fetch_max_wait_ms: int = 10
    metadata_refresh_ms: int = 2000
    log_level: str = "INFO"
    backlog: int = 1024
    socket_sndbuf: int = 0


def parse_origins(raw: str | None) -> tuple[str, ...]:
    """The allow-list of ``RELAY_ALLOWED_ORIGINS``; empty means every origin is allowed."""
    items = tuple(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip())
    return () if "*" in items else items


def load_settings(env: dict[str, str] | None = None) -> RelaySettings:
    """Build settings from ``env`` (default: ``os.environ``)."""
    e = dict(os.environ) if env is None else env
    d = RelaySettings()
    return RelaySettings(
        host=e.get("RELAY_HOST") or d.host,
        port=env_int(e, "RELAY_PORT", d.port),
        kafka_bootstrap_servers=e.get("KAFKA_BOOTSTRAP_SERVERS") or d.kafka_bootstrap_servers,
        allowed_origins=parse_origins(e.get("RELAY_ALLOWED_ORIGINS")),
        instance_id=e.get("RELAY_INSTANCE_ID") or f"{socket.gethostname()}-{os.getpid()}",
        auth_timeout=env_float(e, "RELAY_AUTH_TIMEOUT", d.auth_timeout),
        client_queue_bytes=env_int(e, "RELAY_CLIENT_QUEUE_BYTES", d.client_queue_bytes),
        max_frame_bytes=env_int(e, "RELAY_MAX_FRAME_BYTES", d.max_frame_bytes),
        retention_per_partition=env_int(e, "RELAY_RETENTION_PER_PARTITION", d.retention_per_partition),
        dedupe_ids=env_int(e, "RELAY_DEDUPE_IDS", d.dedupe_ids),
        low_stock_threshold=env_int(e, "LOW_STOCK_THRESHOLD", d.low_stock_threshold),
        ping_interval=env_float(e, "RELAY_PING_INTERVAL", d.ping_interval),
        close_timeout=env_float(e, "RELAY_CLOSE_TIMEOUT", d.close_timeout),
        replay_wait=env_float(e, "RELAY_REPLAY_WAIT", d.replay_wait),
        fetch_max_wait_ms=env_int(e, "RELAY_FETCH_MAX_WAIT_MS", d.fetch_max_wait_ms),
        metadata_refresh_ms=env_int(e, "RELAY_METADATA_REFRESH_MS", d.metadata_refresh_ms),
        log_level=(e.get("RELAY_LOG_LEVEL") or d.log_level).upper(),
        backlog=env_int(e, "RELAY_BACKLOG", d.backlog),
        socket_sndbuf=env_int(e, "RELAY_SOCKET_SNDBUF", d.socket_sndbuf),
    )
