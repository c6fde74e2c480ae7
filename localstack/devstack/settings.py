"""The local stack's configuration: ports, data folder, and which services are external."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PORTS = {"api": 3008, "relay": 3009, "kafka": 9092, "mongodb": 27017, "aws": 4566}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class StackSettings:
    """What ``devstack up`` runs and where."""

    root: Path = ROOT
    data_dir: Path = ROOT / "var" / "data"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    kafka_bootstrap: str | None = None  # set → use that broker, start none
    mongodb_uri: str | None = None  # set → use that database, start none
    aws_endpoint_url: str | None = None  # set → use that endpoint (LocalStack/AWS), start no moto
    region: str = "us-east-1"
    admin_email: str = "admin@shop.local"
    admin_password: str = "admin-password-123"
    seed_demo: bool = True
    schedule_interval: float | None = 10.0
    hot_reload: bool = True
    prewarm: bool = True
    relay: bool = True

    @classmethod
    def from_env(cls, *, free_ports: bool = False, data_dir: Path | None = None) -> StackSettings:
        s = cls()
        env = os.environ
        if data_dir is not None:
            s.data_dir = data_dir
        elif env.get("DEVSTACK_DATA_DIR"):
            s.data_dir = Path(env["DEVSTACK_DATA_DIR"])
        if free_ports:
            s.ports = {name: free_port() for name in DEFAULT_PORTS}
        for name in DEFAULT_PORTS:
            override = env.get(f"DEVSTACK_{name.upper()}_PORT")
            if override:
                s.ports[name] = int(override)
        s.kafka_bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS") or None
        s.mongodb_uri = env.get("MONGODB_URI") or None
        s.aws_endpoint_url = env.get("AWS_ENDPOINT_URL") or None
        s.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or s.region
        s.admin_email = env.get("ADMIN_EMAIL", s.admin_email)
        s.admin_password = env.get("ADMIN_PASSWORD", s.admin_password)
        if env.get("DEVSTACK_SCHEDULE_INTERVAL"):
            value = float(env["DEVSTACK_SCHEDULE_INTERVAL"])
            s.schedule_interval = value if value > 0 else None
        return s

    @property
    def kafka(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.ports['kafka']}"

    @property
    def mongodb(self) -> str:
        return self.mongodb_uri or f"mongodb://127.0.0.1:{self.ports['mongodb']}/?directConnection=true"

    @property
    def aws(self) -> str:
        return self.aws_endpoint_url or f"http://127.0.0.1:{self.ports['aws']}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['relay']}/ws"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "run" / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"
