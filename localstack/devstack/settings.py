"""The local stack's configuration: ports, data folder, and which services are external."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AliasChoices, AliasGenerator, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PORTS = {"web": 3000, "api": 3008, "relay": 3009, "metrics": 3010, "kafka": 9092, "mongodb": 27017, "aws": 4566}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _comma_list(raw: object) -> tuple[str, ...]:
    return tuple(item.strip() for item in str(raw or "").split(",") if item.strip())


class StackSettings(BaseSettings):
    """What ``devstack up`` runs and where; a bad value fails with an error naming its variable.

    ``DEVSTACK_*`` variables (``DEVSTACK_API_PORT``, ``DEVSTACK_DATA_DIR``, ...), plus the
    services' own addresses: a set ``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI`` or
    ``AWS_ENDPOINT_URL`` means "use that one, start none".
    """

    model_config = SettingsConfigDict(
        env_ignore_empty=True, alias_generator=AliasGenerator(validation_alias=lambda n: f"DEVSTACK_{n.upper()}"))

    root: ClassVar[Path] = ROOT
    data_dir: Path = ROOT / "var" / "data"
    web_port: int = DEFAULT_PORTS["web"]
    api_port: int = DEFAULT_PORTS["api"]
    relay_port: int = DEFAULT_PORTS["relay"]
    metrics_port: int = DEFAULT_PORTS["metrics"]
    kafka_port: int = DEFAULT_PORTS["kafka"]
    mongodb_port: int = DEFAULT_PORTS["mongodb"]
    aws_port: int = DEFAULT_PORTS["aws"]
    #: the address the embedded database, broker and AWS emulator listen on and advertise; the
    #: default keeps them on loopback, ``dev.py up --for-containers`` sets the Docker bridge's
    #: gateway so that a ``sam local invoke`` container reaches them too (see devstack.sam)
    services_host: str = "127.0.0.1"
    kafka_bootstrap: str | None = Field(default=None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    mongodb_uri: str | None = Field(default=None, validation_alias="MONGODB_URI")
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    admin_email: str = Field(default="admin@shop.local", validation_alias="ADMIN_EMAIL")
    admin_password: str = Field(default="admin-password-123", validation_alias="ADMIN_PASSWORD")
    #: seconds between scheduled invocations; 0 or less → the template's own schedules
    schedule_interval: Annotated[float | None, AfterValidator(lambda v: v if v is None or v > 0 else None)] = 10.0
    #: the pollers' Kafka fetch wait while records flow: it bounds the trigger latency (see devstack.kafka_esm)
    kafka_fetch_wait_ms: int = 10
    #: once idle, the pollers pause and check the logs' ends every this many ms (shop.kafka_pacing; 0: never rest)
    kafka_idle_rest_ms: int = 100
    #: proxies whose X-Forwarded-For the gateway believes (comma list of addresses or CIDR blocks);
    #: none by default: sourceIp is the TCP peer (see devstack.apigateway.source_ip)
    trusted_proxies: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)] = ()
    seed_demo: bool = True
    hot_reload: bool = True
    prewarm: bool = True
    relay: bool = True

    @classmethod
    def from_env(cls, *, free_ports: bool = False, data_dir: Path | None = None) -> StackSettings:
        """The environment's settings; ``free_ports`` picks free ports for those not set."""
        s = cls()
        if data_dir is not None:
            s.data_dir = data_dir
        for name in DEFAULT_PORTS if free_ports else ():
            if f"{name}_port" not in s.model_fields_set:
                setattr(s, f"{name}_port", free_port())
        return s

    @property
    def ports(self) -> dict[str, int]:
        return {name: getattr(self, f"{name}_port") for name in DEFAULT_PORTS}

    @property
    def kafka(self) -> str:
        return self.kafka_bootstrap or f"{self.services_host}:{self.ports['kafka']}"

    @property
    def mongodb(self) -> str:
        return self.mongodb_uri or f"mongodb://{self.services_host}:{self.ports['mongodb']}/?directConnection=true"

    @property
    def aws(self) -> str:
        return self.aws_endpoint_url or f"http://{self.services_host}:{self.ports['aws']}"

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.ports['web']}"

    @property
    def web_origins(self) -> tuple[str, ...]:
        """The origins a browser shows for the site (the relay's allow-list accepts them)."""
        return (self.web_url, f"http://127.0.0.1:{self.ports['web']}")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics']}/metrics"

    @property
    def relay_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['relay']}/metrics"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['relay']}/ws"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "run" / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"
