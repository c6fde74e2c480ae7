"""Every setting of the relay, read once from ``RELAY_*`` variables; each has a local default.

The relay also reads the shop's settings (``shop.config``): the Kafka address, the JWT secret
and the low-stock threshold are the functions' own variables, read in that one place.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated

from pydantic import AfterValidator, AliasGenerator, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shop.forwarded import trusted_networks


def parse_origins(raw: object) -> tuple[str, ...]:
    """The allow-list of ``RELAY_ALLOWED_ORIGINS``; empty means every origin is allowed."""
    items = tuple(o.strip().rstrip("/") for o in str(raw or "").split(",") if o.strip())
    return () if "*" in items else items


def parse_proxies(raw: object) -> tuple[str, ...]:
    """``RELAY_TRUSTED_PROXIES``: a comma list of addresses or CIDR blocks, each checked."""
    items = tuple(item.strip() for item in str(raw or "").split(",") if item.strip())
    trusted_networks(items)  # a bad entry fails here, named by its variable
    return items


class RelaySettings(BaseSettings):
    """The relay's configuration; a bad value fails with an error naming its ``RELAY_*`` variable."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True,
                                      alias_generator=AliasGenerator(validation_alias=lambda n: f"RELAY_{n.upper()}"))

    host: str = "0.0.0.0"
    port: int = 3009
    allowed_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_origins)] = ()
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    #: Seconds a socket may stay open without authenticating or subscribing to a public channel (4401).
    auth_timeout: float = 5.0
    #: Anonymous (not yet authenticated) sockets one source address may hold; one more is closed with 4408.
    anonymous_per_address: int = Field(default=64, ge=1)
    #: Proxies whose X-Forwarded-For names the client (comma list of addresses or CIDR blocks, e.g. the
    #: load balancer's subnets); none by default: the source address is the TCP peer.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_proxies)] = ()
    client_queue_bytes: int = 256 * 1024
    max_frame_bytes: int = 8 * 1024
    retention_per_partition: int = 2000
    dedupe_ids: int = 100_000
    #: Read the shop's event log (``MONGODB_URI``/``MONGODB_DB``, as the functions) for replays memory
    #: cannot serve and for what a broker lost (docs/RELAY.md, "Replay from the event log").
    event_log: bool = True
    #: Seconds of an owner's sent events an ``orders`` cursor names (bounds the publish-to-log lag tolerated).
    log_window: float = 10.0
    #: Oldest cursor (seconds) replayed from the log; older ones get ``gap``.
    log_max_age: float = 900.0
    #: Most log entries one replay reads; more is a ``gap``.
    log_max_events: int = 20_000
    log_timeout_ms: int = 1000
    ping_interval: float = 30.0
    close_timeout: float = 5.0
    replay_wait: float = 2.0
    fetch_max_wait_ms: int = 10
    #: once idle, every partition pauses and the logs' ends are checked every this many ms (0: never rest)
    idle_rest_ms: int = 100
    metadata_refresh_ms: int = 2000
    log_level: Annotated[str, AfterValidator(str.upper)] = "INFO"
    backlog: int = 1024
    socket_sndbuf: int = 0
