"""`devstack up` as a user runs it: clean shutdown, persistence across restarts, reset, clear startup errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from devstack.testing import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def launch(data_dir: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI",
                                                          "AWS_ENDPOINT_URL")}
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, "-m", "devstack", "up", "--free-ports", "--no-demo", "--no-prewarm",
                             "--data-dir", str(data_dir)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen[str], data_dir: Path) -> Stack:
    state = data_dir / "run" / "stack.json"

    def ready() -> bool:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return bool(json.loads(state.read_text()).get("ready"))
        except (OSError, ValueError):
            return False

    wait_for(ready, timeout=180, interval=0.3, message="the stack to be ready")
    return Stack(state, data_dir=data_dir)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


def test_ctrl_c_stops_everything_and_data_survives_a_restart(tmp_path: Path) -> None:
    """Ctrl-C leaves no process behind; users and the signing key persist; `reset` wipes the data."""
    data_dir = tmp_path / "data"
    proc = launch(data_dir)
    stack = wait_ready(proc, data_dir)
    email = f"persist-{uuid.uuid4().hex[:8]}@example.com"
    token = stack.register(email, "persistent-password")
    stack.http("GET", "/api/health")  # start at least one function worker
    state = stack.state()
    pids = [*state["pids"].values(), *children_of(proc.pid)]
    assert len(pids) >= 4
    out = stop(proc)
    assert proc.returncode == 0, out
    wait_for(lambda: not any(alive(p) for p in pids), timeout=20, message="every child to exit")
    assert not (data_dir / "run" / "stack.json").exists()

    proc = launch(data_dir)
    try:
        stack = wait_ready(proc, data_dir)
        assert stack.http("GET", "/api/auth/me", token=token).status == 200  # same key, same user
        stack.login(email, "persistent-password")
    finally:
        stop(proc)
    reset = subprocess.run([sys.executable, "-m", "devstack", "reset", "--data-dir", str(data_dir)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stderr
    assert not data_dir.exists()


def test_port_taken_fails_with_a_message_naming_the_service(tmp_path: Path) -> None:
    """A taken broker port stops startup with a message that names Kafka and the port, and cleans up."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = launch(tmp_path / "data", {"DEVSTACK_KAFKA_PORT": str(port)})
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"Kafka (Tansu): port {port} is already taken" in out
    time.sleep(0.5)
    assert "MongoDB" in out and "stopped" in out


def test_a_crashed_relay_is_restarted_and_serves_again(tmp_path: Path) -> None:
    """Like ECS for a stopped task: the supervisor starts a new relay, which authenticates clients again."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    data_dir = tmp_path / "data"
    proc = launch(data_dir)
    try:
        stack = wait_ready(proc, data_dir)
        token = stack.customer_token("relay-restart")
        first = stack.state()
        url = first["wsUrl"]
        assert url and first["relayPid"] and first["relayRestarts"] == 0
        os.kill(first["relayPid"], signal.SIGKILL)

        def back() -> bool:
            state = stack.state()
            return bool(state["relayPid"]) and state["relayPid"] != first["relayPid"] and state["wsUrl"] == url

        wait_for(back, timeout=30, interval=0.2, message="a new relay process")
        assert stack.state()["relayRestarts"] == 1

        def serves() -> bool:
            try:
                with connect(url, open_timeout=5) as ws:
                    ws.send(json.dumps({"type": "auth", "token": token}))
                    hello = json.loads(ws.recv(timeout=5))
                    ws.send(json.dumps({"type": "subscribe", "channel": "orders"}))
                    ack = json.loads(ws.recv(timeout=5))
                    return hello["type"] == "authenticated" and ack["type"] == "subscribed"
            except (OSError, TimeoutError, InvalidStatus) as exc:  # refused, then 503 until it has caught up
                print("relay not serving yet:", exc)
                return False

        wait_for(serves, timeout=60, interval=0.5, message="the restarted relay to serve")
    finally:
        out = stop(proc)
    assert "realtime relay exited with code -9" in (data_dir / "logs" / "devstack.log").read_text(), out
