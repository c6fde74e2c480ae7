"""Benchmark of the realtime relay: connections, memory, fan-out, throughput and latency.

Starts its own Tansu broker + moto (or uses ``--kafka`` / ``--aws-endpoint``), one relay process
(``python -m realtime_relay``) and several load-generator processes of asyncio websockets clients,
then measures and prints:

1. N concurrent authenticated connections (each subscribed to a channel) and the relay's memory
   per connection (RSS growth / N, from /proc);
2. one inventory event fanned out to F subscribers: time until every copy arrived;
3. sustained deliveries per second at a publish rate R to the same F subscribers;
4. Kafka record → client latency (p50/p99) at light load (one subscriber, a few events/s), and the
   same records' latency to a bare consumer in the benchmark process (the baseline: broker, fetch
   wait and client library without the relay);
5. the relay's peak RSS (VmHWM).

Figures only; nothing is asserted. Example: ``python scripts/bench_relay.py --connections 10000``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["order.created", "order.updated", "order.cancelled", "order.shipped", "order.delivered",
          "inventory.updated", "product.created", "product.updated"]
SECRET = "bench-signing-key-0123456789abcdef0123456789"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- load generator (one process) ------------------------------------------------------------

def _masked_text(text: bytes) -> bytes:
    """A client → server text frame (clients must mask)."""
    key = os.urandom(4)
    n = len(text)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    keys = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(text, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big") if n else b""
    return head + key + body


class RawClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455 framing only), cheap enough that the load generator
    does not eat the CPU the relay is being measured on. Answers pings, records latencies."""

    def __init__(self, host: str, token: str, channel: str, state: dict[str, Any], done: asyncio.Future[None]) -> None:
        self.host, self.token, self.channel, self.state, self.done = host, token, channel, state, done
        self.buf = bytearray()
        self.handshaken = False
        self.stage = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(f"GET /ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("closed during setup"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end]:
                self.done.set_exception(ConnectionError(bytes(buf[:40]).decode(errors="replace")))
                return
            del buf[: end + 4]
            self.handshaken = True
            self._send(json.dumps({"type": "auth", "token": self.token}).encode())
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            off = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, off = int.from_bytes(buf[pos + 2: pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, off = int.from_bytes(buf[pos + 2: pos + 10], "big"), pos + 10
            if size < off + n:
                break
            opcode = b0 & 0x0F
            if opcode == 1:
                self._text(buf, off, off + n)
            elif opcode == 9:  # ping → pong
                payload = bytes(buf[off: off + n])
                assert self.transport is not None
                frame = bytearray(_masked_text(payload))
                frame[0] = 0x8A
                self.transport.write(bytes(frame))
            elif opcode == 8:
                assert self.transport is not None
                self.transport.close()
            pos = off + n
        if pos:
            del buf[:pos]

    def _send(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_masked_text(text))

    def _text(self, buf: bytearray, start: int, end: int) -> None:
        now = time.time()
        if self.stage == 2:
            i = buf.find(b'"sentAt":', start, end)
            if i < 0:
                return
            j = buf.find(b",", i, end)
            k = buf.find(b'"label":"', j, end)
            label = bytes(buf[k + 9: buf.find(b'"', k + 9, end)]).decode()
            self.state["samples"].append((label, now - float(buf[i + 9: j])))
        elif self.stage == 0:
            self.stage = 1
            self._send(json.dumps({"type": "subscribe", "channel": self.channel}).encode())
        elif buf.find(b'"subscribed"', start, end) >= 0:
            self.stage = 2
            if not self.done.done():
                self.done.set_result(None)


async def _client(url: str, token: str, channel: str, state: dict[str, Any], gate: asyncio.Semaphore) -> None:
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    loop = asyncio.get_running_loop()
    for attempt in range(5):
        try:
            async with gate:  # bounded concurrent handshakes
                done: asyncio.Future[None] = loop.create_future()
                await loop.create_connection(lambda d=done: RawClient(host, token, channel, state, d),  # type: ignore[misc]
                                             host, int(port))
                await asyncio.wait_for(done, 60)
            state["connected"] += 1
            return
        except Exception:
            await asyncio.sleep(0.5 + attempt)
    state["failed"] += 1


async def _worker_main(pipe: Connection, url: str, specs: list[tuple[str, str]]) -> None:
    state: dict[str, Any] = {"connected": 0, "failed": 0, "samples": []}
    gate = asyncio.Semaphore(50)
    tasks = [asyncio.create_task(_client(url, token, channel, state, gate)) for token, channel in specs]
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "status":
            pipe.send({"connected": state["connected"], "failed": state["failed"]})
        elif command == "take":
            taken = list(state["samples"])
            state["samples"].clear()
            pipe.send(taken)
        elif command == "stop":
            for t in tasks:
                t.cancel()
            pipe.send("bye")
            return


def worker(pipe: Connection, url: str, specs: list[tuple[str, str]]) -> None:
    raise_fd_limit()
    asyncio.run(_worker_main(pipe, url, specs))


# --- services ----------------------------------------------------------------------------------

class Services:
    def __init__(self, kafka: str | None, aws: str | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
        self.owned: list[Any] = []
        from devstack.services import kafka_service, mongodb_service, moto_service
        from devstack.settings import free_port

        if kafka is None:
            svc = kafka_service(free_port(), self.tmp)
            svc.start()
            self.owned.append(svc)
            kafka = f"127.0.0.1:{svc.port}"
        if aws is None:
            svc = moto_service(free_port(), self.tmp)
            svc.start()
            self.owned.append(svc)
            aws = f"http://127.0.0.1:{svc.port}"
        # The relay reads the shop's event log at start (and for replays memory cannot serve).
        svc = mongodb_service(free_port(), self.tmp, self.tmp)
        svc.start()
        self.owned.append(svc)
        self.mongodb = f"mongodb://127.0.0.1:{svc.port}/?directConnection=true"
        self.kafka, self.aws = kafka, aws
        self.secret_id = f"bench/jwt-{uuid.uuid4().hex[:6]}"
        import boto3
        from kafka.admin import KafkaAdminClient, NewTopic

        sm = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        sm.create_secret(Name=self.secret_id, SecretString=SECRET)
        admin = KafkaAdminClient(bootstrap_servers=kafka)
        missing = [t for t in TOPICS if t not in set(admin.list_topics())]
        if missing:
            admin.create_topics([NewTopic(t, 3, 1) for t in missing])
        admin.close()

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka, "AWS_ENDPOINT_URL": self.aws, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "JWT_SECRET_ID": self.secret_id,
                "MONGODB_URI": self.mongodb, "MONGODB_DB": "bench"}

    def close(self) -> None:
        for svc in reversed(self.owned):
            svc.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class BareConsumer:
    """A confluent-kafka consumer (the relay's library, same fetch wait) timing records by sentAt."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        import threading

        from confluent_kafka import OFFSET_END, Consumer, TopicPartition

        self.latencies: list[float] = []
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-bare", "enable.auto.commit": False,
                                  "fetch.wait.max.ms": 10, "fetch.queue.backoff.ms": 20})
        parts = self.consumer.list_topics(topic, timeout=5).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        self.consumer.poll(1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            now = time.time()
            self.latencies.append((now - json.loads(msg.value() or b"{}")["data"]["sentAt"]) * 1000)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(5)
        self.consumer.close()
        return self.latencies


def relay_metrics(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=120) as resp:
        return dict(json.loads(resp.read()))


def relay_status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(relay_pid: int, services: Services, workers: list[int]) -> dict[str, float]:
    """CPU seconds so far of each part of the benchmark: who competes with the relay for the 2 cores."""
    broker = [svc.proc.pid for svc in services.owned if svc.name.startswith("Kafka") and svc.proc is not None]
    t = os.times()
    return {"relay": cpu_seconds(relay_pid), "broker": sum(cpu_seconds(p) for p in broker),
            "clients": sum(cpu_seconds(p) for p in workers), "producer": t.user + t.system}


def cpu_shares(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    return ", ".join(f"{k} {(after[k] - before[k]) / seconds:.0%}" for k in after)


def load_average() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=2000, help="concurrent authenticated connections")
    ap.add_argument("--fanout", type=int, default=1000, help="inventory subscribers among them")
    ap.add_argument("--fanout-events", type=int, default=20, help="single events for the fan-out figure")
    ap.add_argument("--rate", type=float, default=60.0, help="inventory events/s in the throughput phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the throughput phase")
    ap.add_argument("--light-events", type=int, default=200, help="events for the light-load latency")
    ap.add_argument("--workers", type=int, default=4, help="load-generator processes")
    ap.add_argument("--kafka", help="use this broker instead of starting one")
    ap.add_argument("--aws-endpoint", help="use this AWS endpoint (moto) instead of starting one")
    args = ap.parse_args()
    raise_fd_limit()
    sys.path[:0] = [str(ROOT / "localstack"), str(ROOT / "layers/shared/python"), str(ROOT)]
    from kafka import KafkaProducer

    from devstack.settings import free_port
    from shop.auth import tokens

    services = Services(args.kafka, args.aws_endpoint)
    port = free_port()
    log_path = services.tmp / "relay.log"
    env = {**os.environ, **services.env(), "RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(port),
           "RELAY_INSTANCE_ID": "bench", "RELAY_LOG_LEVEL": "WARNING"}
    relay = subprocess.Popen([sys.executable, "-m", "realtime_relay"], cwd=ROOT, env=env,
                             stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    workers: list[tuple[BaseProcess, Connection]] = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or relay.poll() is not None:
                raise SystemExit(f"relay did not become ready:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        time.sleep(1)
        base = relay_status(relay.pid)["VmRSS"]
        url = f"ws://127.0.0.1:{port}/ws"
        users = [f"bench-{i}" for i in range(args.connections)]
        specs = [(tokens.issue(u, "customer", f"{u}@bench", secret=SECRET, ttl=3600),
                  "inventory" if i < args.fanout else "orders") for i, u in enumerate(users)]
        # user bench-{fanout} (first `orders` subscriber) is the light-load client; keep it in worker 0.
        chunks: list[list[tuple[str, str]]] = [[] for _ in range(args.workers)]
        for i, spec in enumerate(specs):
            chunks[i % args.workers].append(spec)
        light_user = users[args.fanout] if args.fanout < args.connections else users[0]
        t0 = time.time()
        ctx = mp.get_context("spawn")
        for chunk in chunks:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(child, url, chunk), daemon=True)
            proc.start()
            workers.append((proc, parent))

        def ask(command: str) -> list[Any]:
            for _, pipe in workers:
                pipe.send(command)
            return [pipe.recv() for _, pipe in workers]

        while True:
            status = ask("status")
            connected = sum(s["connected"] for s in status)
            failed = sum(s["failed"] for s in status)
            if connected + failed >= args.connections or time.time() - t0 > 600:
                break
            time.sleep(1)
        open_seconds = time.time() - t0
        time.sleep(2)
        m = relay_metrics(port)
        mem = relay_status(relay.pid)
        per_conn = (mem["VmRSS"] - base) / max(1, connected)
        print(f"connections: {connected} authenticated+subscribed ({failed} failed) in {open_seconds:.1f}s; "
              f"relay reports {m['connections']}")
        print(f"memory: relay RSS {base / 1024:.1f} MiB idle -> {mem['VmRSS'] / 1024:.1f} MiB "
              f"= {per_conn:.1f} KiB per connection")

        producer = KafkaProducer(bootstrap_servers=services.kafka, linger_ms=0, acks=1)

        def publish(topic: str, label: str, data: dict[str, Any], key: str) -> None:
            eid = str(uuid.uuid4())
            body = {"sentAt": time.time(), "label": label, **data}
            envelope = {"id": eid, "type": topic, "version": 1, "occurredAt": "", "source": "bench",
                        "correlationId": eid, "data": body}
            producer.send(topic, key=key.encode(), value=json.dumps(envelope, separators=(",", ":")).encode())

        stock = {"productId": "p-1", "sku": "BENCH-1", "stock": 500, "previousStock": 501, "reserved": 0,
                 "available": 500}
        # warm-up
        publish("inventory.updated", "warm", stock, "p-1")
        producer.flush()
        time.sleep(2)
        ask("take")

        # 2. fan-out of single events
        phases: dict[str, tuple[float, float]] = {}
        phase_start = time.time()
        c0 = cpu_seconds(relay.pid)
        d0 = relay_metrics(port)["deliveries"]
        for n in range(args.fanout_events):
            publish("inventory.updated", f"f{n}", stock, "p-1")
            producer.flush()
            time.sleep(0.3)
        time.sleep(2)
        samples = [s for batch in ask("take") for s in batch]
        phases["fan-out"] = (phase_start, time.time())
        fan_cpu = cpu_seconds(relay.pid) - c0
        fan_deliveries = relay_metrics(port)["deliveries"] - d0
        per_event: dict[str, list[float]] = {}
        for label, lat in samples:
            per_event.setdefault(label, []).append(lat)
        last_copy = [max(v) * 1000 for v in per_event.values()]
        copies = [len(v) for v in per_event.values()]
        all_copies = [lat * 1000 for _, lat in samples]
        print(f"fan-out: {len(per_event)} events x {min(copies) if copies else 0}..{max(copies) if copies else 0} "
              f"copies; time until the LAST copy arrived: p50 {statistics.median(last_copy):.1f} ms, "
              f"max {max(last_copy):.1f} ms; per copy p50 {pct(all_copies, 50):.1f} / p99 {pct(all_copies, 99):.1f} ms")
        print(f"relay CPU: {fan_cpu * 1e6 / max(1, fan_deliveries):.1f} us per delivery "
              f"({fan_deliveries} deliveries, {fan_cpu:.2f} s CPU)")

        # 3. sustained throughput
        d0 = relay_metrics(port)["deliveries"]
        c0 = cpu_seconds(relay.pid)
        worker_pids = [p.pid for p, _ in workers if p.pid is not None]
        roles0 = cpu_by_role(relay.pid, services, worker_pids)
        t_start = time.time()
        n = 0
        while time.time() - t_start < args.seconds:
            target = int((time.time() - t_start) * args.rate)
            while n < target:
                publish("inventory.updated", f"t{n}", stock, "p-1")
                n += 1
            time.sleep(0.005)
        producer.flush()
        publish_seconds = time.time() - t_start
        expected = n * args.fanout
        received = 0
        lats: list[float] = []
        last_change, last_received = time.time(), -1
        while received < expected and time.time() - last_change < 20:
            time.sleep(1)
            batch = [s for b in ask("take") for s in b]
            received += len(batch)
            lats += [lat * 1000 for _, lat in batch]
            if received != last_received:
                last_change, last_received = time.time(), received
        drain_seconds = (max(lats) / 1000 if lats else 0) + publish_seconds
        phases["throughput"] = (t_start, t_start + drain_seconds)
        d1 = relay_metrics(port)["deliveries"]
        cpu = cpu_seconds(relay.pid) - c0
        roles = cpu_shares(roles0, cpu_by_role(relay.pid, services, worker_pids), time.time() - t_start)
        print(f"throughput: {n} events x {args.fanout} subscribers published over {publish_seconds:.1f}s "
              f"(offered {expected / publish_seconds:,.0f} deliveries/s); relay pushed {d1 - d0}, clients "
              f"received {received} by {drain_seconds:.1f}s = {received / max(drain_seconds, 1e-9):,.0f} "
              f"deliveries/s; latency p50 {pct(lats, 50):.1f} / p99 {pct(lats, 99):.1f} / "
              f"max {max(lats) if lats else float('nan'):.1f} ms")
        print(f"relay CPU: {cpu * 1e6 / max(1, d1 - d0):.1f} us per delivery; it got {cpu / drain_seconds:.0%} "
              f"of one core on average (load average {load_average()})")
        print(f"CPU while publishing and draining (share of one core): {roles}")

        # 4. light-load latency: one owner, a few events per second. Baseline: a bare consumer in
        # this process (same client library and fetch wait as the relay) reading the same records.
        bare = BareConsumer(services.kafka, "order.created")
        phase_start = time.time()
        for n in range(args.light_events):
            publish("order.created", f"l{n}", {"orderId": f"o{n}", "buyerId": light_user}, light_user)
            producer.flush()
            time.sleep(0.05)
        time.sleep(2)
        lats = [lat * 1000 for label, lat in (s for batch in ask("take") for s in batch) if label.startswith("l")]
        phases["light load"] = (phase_start, time.time())
        bare_lats = bare.stop()
        print(f"light load: {len(lats)} events Kafka record -> client: p50 {pct(lats, 50):.1f} ms, "
              f"p99 {pct(lats, 99):.1f} ms, max {max(lats) if lats else float('nan'):.1f} ms")
        print(f"  baseline, the same {len(bare_lats)} records -> a bare consumer in this process: "
              f"p50 {pct(bare_lats, 50):.1f} ms, "
              f"p99 {pct(bare_lats, 99):.1f} ms; relay / bare: p50 x{pct(lats, 50) / pct(bare_lats, 50):.2f}, "
              f"p99 x{pct(lats, 99) / pct(bare_lats, 99):.2f}")
        mem = relay_status(relay.pid)
        print(f"load average now {load_average()} on {os.cpu_count()} CPUs")
        final = relay_metrics(port)
        print(f"relay peak RSS (VmHWM): {mem['VmHWM'] / 1024:.1f} MiB; now {mem['VmRSS'] / 1024:.1f} MiB; "
              f"evictions {final['evictions']}")
        lag, gcs = final["loopLagMs"], final["gc"]
        print(f"relay event loop lag: max {lag['max']} ms over the run (last minute p99 {lag['p99Recent']} ms); "
              f"GC collections per generation {gcs['collections']}, longest pause per generation "
              f"{gcs['pauseMaxMs']} ms, {gcs['frozen']} objects frozen at start-up")
        for name, (start, end) in phases.items():
            full = [ms for at, ms in gcs["fullCollections"] if start <= at <= end]
            print(f"  full (generation 2) collections during the {name} phase: {len(full)}"
                  + (f", pauses {full} ms" if full else ""))
        producer.close()
        ask("stop")
    finally:
        for p, _ in workers:
            p.join(5)
            if p.is_alive():
                p.kill()
        relay.terminate()
        try:
            relay.wait(10)
        except subprocess.TimeoutExpired:
            relay.kill()
        services.close()


if __name__ == "__main__":
    main()
