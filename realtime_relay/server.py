"""The WebSocket and HTTP side: websockets' asyncio server, health endpoints, fan-out with eviction.

One process serves its own clients from its own Kafka reader; several processes run side by side
behind a load balancer with no shared state (the cursor is derived from Kafka positions).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import socket
import time
from collections.abc import Collection, Sequence
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from realtime_relay import prometheus
from realtime_relay.anonymous import AnonymousCap
from realtime_relay.cursor import epoch_of
from realtime_relay.event_log import EventLogReader
from realtime_relay.hub import Hub, Record, per_connection
from realtime_relay.kafka_source import KafkaSource
from realtime_relay.mapping import TOPICS
from realtime_relay.monitor import LoopMonitor, freeze_startup_heap
from realtime_relay.retention import ReplayStatus
from realtime_relay.session import (
    CLOSE_SLOW,
    CLOSE_TOO_MANY_ANONYMOUS,
    CLOSE_UNAUTHENTICATED,
    Close,
    Reply,
    Session,
    Subscribe,
    Unsubscribe,
)
from realtime_relay.settings import RelaySettings
from shop.auth import tokens
from shop.config import get_settings
from shop.forwarded import source_ip, trusted_networks

log = logging.getLogger("realtime_relay")

WS_PATH = "/ws"


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def memory_kib() -> dict[str, int]:
    """This process's current and peak resident memory, from /proc (KiB)."""
    out = {"rss_kib": 0, "peak_rss_kib": 0}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    out["rss_kib"] = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    out["peak_rss_kib"] = int(line.split()[1])
    except OSError:
        pass
    return out


class Relay:
    """The relay service: owns the hub, the Kafka source's status and every live connection."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self._backfill_scheduled = False
        shop = get_settings()
        self.event_log = EventLogReader(
            shop.mongodb_uri, shop.mongodb_db, TOPICS, timeout_ms=settings.log_timeout_ms,
            max_rows=settings.log_max_events) if settings.event_log else None
        self.hub: Hub[ServerConnection] = Hub(
            self._send,
            retention_per_partition=settings.retention_per_partition,
            dedupe_ids=settings.dedupe_ids,
            low_stock_threshold=shop.low_stock_threshold,
            on_event=self._delivered,
            log_reader=self.event_log.since if self.event_log is not None else None,
            log_window=settings.log_window,
            log_max_age=settings.log_max_age,
        )
        self.log_seeded = self.event_log is None
        self._seeding: asyncio.Task[None] | None = None
        self.source: KafkaSource | None = None
        self.prometheus = prometheus.registry(self.metrics, self.lag)
        self.sessions: dict[ServerConnection, Session] = {}
        self.anonymous = AnonymousCap(settings.anonymous_per_address)
        self._anonymous_from: dict[ServerConnection, str] = {}  # anonymous socket → its counted address
        self._identity_deadline: dict[ServerConnection, asyncio.TimerHandle] = {}
        self.trusted_proxies = trusted_networks(settings.trusted_proxies)
        self.anonymous_refused = 0
        self.secret_loaded = False
        self.kafka_connected = False
        self.caught_up = False
        self.evictions = 0
        self.auth_failures = 0
        self.keepalive_timeouts = 0
        self._pongs: dict[ServerConnection, asyncio.Future[float]] = {}
        self._expiry: dict[ServerConnection, tuple[int, asyncio.TimerHandle]] = {}
        self.started = time.time()
        self.monitor = LoopMonitor()
        self._heap_frozen = False

    @property
    def ready(self) -> bool:
        """Ready to serve: the signing key is loaded, Kafka is connected and caught up, and what the
        event log already held is known (:meth:`seed_from_log`)."""
        return self.secret_loaded and self.kafka_connected and self.caught_up and self.log_seeded

    # --- Kafka side (called on the loop thread) ----------------------------------------------

    def on_assign(self, topic: str, topic_id: object, starts: dict[int, tuple[int, bool]]) -> None:
        """Partitions about to be read (see :meth:`Hub.assign`).

        The source hands over every topic of a refresh in one drain of the loop, so a back-fill
        scheduled with ``call_soon`` runs once after all of them: a broker that came back empty
        (every topic new) blocks the loop for one read of the event log, not one per topic.
        """
        self.hub.assign(topic, epoch_of(topic_id), starts, defer_backfill=True)
        if self.hub.backfill_after is not None and not self._backfill_scheduled:
            self._backfill_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_backfill)

    def _flush_backfill(self) -> None:
        self._backfill_scheduled = False
        self.hub.flush_backfill()

    def on_records(self, records: list[Record]) -> None:
        """A batch of records, in partition order."""
        self.hub.ingest_batch(records)

    def on_status(self, connected: bool, caught_up: bool) -> None:
        """The Kafka source's health."""
        self.kafka_connected = connected
        self.caught_up = self.caught_up or caught_up
        if self.caught_up and not self.log_seeded and self._seeding is None:
            self._seeding = asyncio.get_running_loop().create_task(self.seed_from_log())
        self._on_ready()

    async def seed_from_log(self) -> None:
        """Once the history in Kafka is read: remember the ids the event log already holds, retrying
        until the database answers. Events published again after a restart (outbox, reconciler) are
        then not sent live a second time; clients get them by replay with their cursor."""
        assert self.event_log is not None
        reader = self.event_log
        delay = 0.2
        while True:
            try:
                ids = await asyncio.to_thread(reader.recent_ids, self.settings.dedupe_ids)
                break
            except Exception as exc:  # the database is not up yet
                log.warning("event log not available yet: %s", exc.__class__.__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.hub.seed(ids)
        self.log_seeded = True
        log.info("event log read: %d event ids already delivered or replayable", len(ids))
        self._on_ready()

    def _delivered(self, topic: str, partition: int, offset: int, envelope: dict[str, Any], deliveries: int) -> None:
        """Log each live event with how many clients got it (not the history read at start-up)."""
        if not self.caught_up:
            return
        log.info("event delivered", extra={
            "eventId": envelope.get("id"), "eventType": envelope.get("type"), "topic": topic, "partition": partition,
            "offset": offset, "deliveries": deliveries, "correlation_id": envelope.get("correlationId")})

    def lag(self) -> dict[tuple[str, int], int]:
        """Per partition, how far the relay's reader is behind the broker."""
        return self.source.lag() if self.source is not None else {}

    def _on_ready(self) -> None:
        """The first time the relay is ready, freeze its start-up heap (see :mod:`monitor`)."""
        if self.ready and not self._heap_frozen:
            self._heap_frozen = True
            freeze_startup_heap()

    async def load_secret(self) -> None:
        """Fetch the JWT signing key from Secrets Manager, retrying until it is there."""
        delay = 0.2
        while not self.secret_loaded:
            try:
                await asyncio.to_thread(tokens.signing_key)
                self.secret_loaded = True
                log.info("signing key loaded")
                self._on_ready()
            except Exception as exc:  # moto or Secrets Manager not up yet
                log.warning("signing key not available yet: %s", exc.__class__.__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def keepalive(self) -> None:
        """Ping every connection once per ``ping_interval``, spread evenly, from one task.

        One sweep instead of websockets' task per connection (two timers and two wake-ups per
        ping each): with 10k idle connections that per-connection machinery cost more CPU than
        the deliveries. A connection whose previous ping is still unanswered when its next one
        is due (``ping_interval`` later) is closed with 1011.
        """
        interval = self.settings.ping_interval
        tick = min(0.25, interval)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            conns = list(self.sessions)
            # Spread the sweep over the whole interval, however few connections there are: each is
            # pinged once per interval and has the interval to answer.
            per_tick = max(1, math.ceil(len(conns) * tick / interval))
            for start in range(0, len(conns), per_tick):
                await asyncio.sleep(tick)
                for ws in conns[start : start + per_tick]:
                    if ws.state is not State.OPEN:
                        continue
                    pending = self._pongs.get(ws)
                    if pending is not None and not pending.done():
                        self.keepalive_timeouts += 1
                        asyncio.get_running_loop().create_task(ws.close(1011, "keepalive ping timeout"))
                        continue
                    try:
                        self._pongs[ws] = cast("asyncio.Future[float]", await ws.ping())
                    except ConnectionClosed:
                        pass
            await asyncio.sleep(max(tick, interval - (loop.time() - started)))

    # --- fan-out ------------------------------------------------------------------------------

    def _send(self, batch: Sequence[tuple[Collection[ServerConnection], bytes]]) -> None:
        """Write a batch of frames, each to its connections; evict those whose unsent bytes exceed the limit.

        Like websockets' ``broadcast()`` (no backpressure), but each frame is serialized once for
        everyone (a server's text frame is the same bytes on every connection when compression is
        off), every connection gets all of its frames of the batch in one write (one system call
        instead of one per frame), and the per-client bound is checked in the same pass.
        """
        for conn, data in per_connection(batch, text_frame):
            self._write(conn, data)

    def _write(self, conn: ServerConnection, data: bytes) -> bool:
        """Write ready-made frames to one connection unless its unsent bytes already exceed the bound.

        The one bound on what waits for a client (``client_queue_bytes``, live and replayed frames
        alike): a client already past it is evicted (4429) instead, so it holds at most the bound
        plus one batch. Never awaits, so no client can slow the others. False once evicted.
        """
        transport = conn.transport
        if transport.get_write_buffer_size() > self.settings.client_queue_bytes:
            self._evict(conn)
            return False
        if conn.protocol.state is State.OPEN and conn.send_in_progress is None:
            transport.write(data)
        return True

    def _evict(self, conn: ServerConnection) -> None:
        if conn not in self.sessions:  # already evicted or gone
            return
        self.evictions += 1
        self._forget(conn)
        log.info("evicting a slow client (%d bytes unsent)", conn.transport.get_write_buffer_size())
        asyncio.get_running_loop().create_task(conn.close(CLOSE_SLOW, "client too slow"))

    def _forget(self, conn: ServerConnection) -> None:
        self._no_longer_anonymous(conn)
        deadline = self._identity_deadline.pop(conn, None)
        if deadline is not None:
            deadline.cancel()
        pending = self._pongs.pop(conn, None)
        if pending is not None:
            pending.cancel()
        expiry = self._expiry.pop(conn, None)
        if expiry is not None:
            expiry[1].cancel()
        session = self.sessions.pop(conn, None)
        if session is not None:
            for channel in session.channels:
                self.hub.unsubscribe(conn, channel, session.user_id)

    def _arm_expiry(self, conn: ServerConnection, session: Session) -> None:
        """Close ``conn`` with 4401 when its token expires; a fresh ``auth`` moves the deadline."""
        claims = session.claims
        armed = self._expiry.get(conn)
        if claims is None or conn not in self.sessions or (armed is not None and armed[0] == claims.expires_at):
            return
        if armed is not None:
            armed[1].cancel()
        delay = max(0.0, claims.expires_at - time.time())
        self._expiry[conn] = (claims.expires_at, asyncio.get_running_loop().call_later(delay, self._expire, conn))

    def _no_longer_anonymous(self, conn: ServerConnection) -> None:
        address = self._anonymous_from.pop(conn, None)
        if address is not None:
            self.anonymous.release(address)

    def _track_identity(self, conn: ServerConnection, session: Session) -> None:
        """After each frame: an authenticated socket leaves its address's anonymous count; one that
        needs an identity (anonymous, on no public channel) is closed with 4401 ``auth_timeout``
        after it came to need one, unless it authenticates or subscribes first."""
        if not session.anonymous:
            self._no_longer_anonymous(conn)
        armed = self._identity_deadline.get(conn)
        if session.needs_identity and conn in self.sessions:
            if armed is None:
                self._identity_deadline[conn] = asyncio.get_running_loop().call_later(
                    self.settings.auth_timeout, self._identity_timeout, conn)
        elif armed is not None:
            armed.cancel()
            del self._identity_deadline[conn]

    def _identity_timeout(self, conn: ServerConnection) -> None:
        self._identity_deadline.pop(conn, None)
        if conn not in self.sessions:
            return
        self.auth_failures += 1
        asyncio.get_running_loop().create_task(conn.close(CLOSE_UNAUTHENTICATED, "authentication timeout"))

    def client_address(self, ws: ServerConnection) -> str:
        """The source address the anonymous cap counts: the TCP peer, or the client a trusted proxy names."""
        peer = ws.remote_address[0] if ws.remote_address else ""
        forwarded = ws.request.headers.get("X-Forwarded-For") if ws.request is not None else None
        return source_ip(str(peer), forwarded, self.trusted_proxies)

    def _expire(self, conn: ServerConnection) -> None:
        """The token ran out with no fresh ``auth``: no more events, close with 4401."""
        if conn not in self.sessions:
            return
        self._forget(conn)
        log.info("closing a connection whose token expired")
        asyncio.get_running_loop().create_task(conn.close(CLOSE_UNAUTHENTICATED, "token expired"))

    # --- HTTP side ----------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Health endpoints on the same port; the WebSocket only once ready."""
        path = urlsplit(request.path).path
        if path == "/healthz":
            return self._json(connection, HTTPStatus.OK, {"status": "ok", "instance": self.settings.instance_id})
        if path == "/readyz":
            status = HTTPStatus.OK if self.ready else HTTPStatus.SERVICE_UNAVAILABLE
            return self._json(connection, status, self.readiness())
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, prometheus.exposition(self.prometheus).decode())
            response.headers["Content-Type"] = prometheus.CONTENT_TYPE
            return response
        if path == "/stats":
            return self._json(connection, HTTPStatus.OK, self.metrics())
        if path != WS_PATH:
            return self._json(connection, HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": path}})
        if not self.ready:
            return self._json(connection, HTTPStatus.SERVICE_UNAVAILABLE, self.readiness())
        return None

    @staticmethod
    def _json(connection: ServerConnection, status: HTTPStatus, body: dict[str, Any]) -> Response:
        response = connection.respond(status, _dumps(body) + "\n")
        response.headers["Content-Type"] = "application/json"
        return response

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports."""
        return {"ready": self.ready, "secretLoaded": self.secret_loaded, "kafkaConnected": self.kafka_connected,
                "caughtUp": self.caught_up, "eventLogRead": self.log_seeded, "instance": self.settings.instance_id}

    def metrics(self) -> dict[str, Any]:
        """Counters for operators and the benchmark (``/stats``; ``/metrics`` has them for Prometheus)."""
        s = self.hub.stats
        return {
            "instance": self.settings.instance_id,
            "connections": len(self.sessions),
            "anonymousConnections": len(self._anonymous_from),
            "anonymousRefused": self.anonymous_refused,
            "inventorySubscribers": len(self.hub.inventory),
            "adminSubscribers": len(self.hub.admins),
            "records": s.records, "duplicates": s.duplicates, "malformed": s.malformed,
            "deliveries": s.deliveries, "epochs": s.epochs, "evictions": self.evictions,
            "backfilled": s.backfilled, "logReplays": s.log_replays, "logFailures": s.log_failures,
            "authFailures": self.auth_failures, "keepaliveTimeouts": self.keepalive_timeouts,
            "cursor": self.hub.cursor(),
            **memory_kib(),
            **self.monitor.snapshot(),
        }

    # --- one connection -----------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        """Authenticate (``?token=``) or count the socket as anonymous, then serve auth, subscribe,
        unsubscribe and ping until closed."""
        session = Session(tokens.verify)
        self.sessions[ws] = session
        if self.settings.socket_sndbuf > 0:  # a fixed kernel send buffer bounds a slow client tighter
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.socket_sndbuf)
        try:
            token = _query_token(ws.request.path if ws.request else "")
            if token is not None:
                if not await self._apply(ws, session, session.authenticate(token)):
                    return
            else:
                address = self.client_address(ws)
                if not self.anonymous.admit(address):
                    self.anonymous_refused += 1
                    await ws.close(CLOSE_TOO_MANY_ANONYMOUS, "too many anonymous sockets from this address")
                    return
                self._anonymous_from[ws] = address
                self._track_identity(ws, session)
            async for message in ws:
                if not await self._apply(ws, session, session.receive(message)):
                    return
        except ConnectionClosed:
            pass
        finally:
            self._forget(ws)

    async def _apply(self, ws: ServerConnection, session: Session, actions: list[Any]) -> bool:
        """Carry out a session's actions; False once the connection is closing."""
        self._track_identity(ws, session)  # before any await: a subscribe in progress keeps the socket
        for action in actions:
            if isinstance(action, Reply):
                await ws.send(_dumps(action.body))
            elif isinstance(action, Close):
                if action.code == CLOSE_UNAUTHENTICATED:
                    self.auth_failures += 1
                await ws.close(action.code, action.reason)
                return False
            elif isinstance(action, Subscribe):
                await self._subscribe(ws, session, action)
            elif isinstance(action, Unsubscribe):
                self.hub.unsubscribe(ws, action.channel, session.user_id)
        self._arm_expiry(ws, session)
        self._track_identity(ws, session)
        if ws not in self.sessions and ws.state is State.OPEN:  # evicted or expired meanwhile: let its
            await ws.wait_closed()  # close (4429/4401) go out; returning now would close with 1000 first
        return ws.state is State.OPEN

    async def _subscribe(self, ws: ServerConnection, session: Session, action: Subscribe) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.replay_wait
        while True:
            if ws not in self.sessions:  # evicted or gone meanwhile
                return
            replay = self.hub.subscribe(ws, action.channel, session.user_id, action.since)
            if replay.status is not ReplayStatus.BEHIND:
                break
            if loop.time() >= deadline:  # the cursor is ahead of everything this relay will read
                replay = self.hub.subscribe(ws, action.channel, session.user_id, None)
                replay.status = ReplayStatus.GAP
                break
            await asyncio.sleep(0.05)
        # No await from registration to the last replayed frame: live events queue behind them.
        frames = replay.frames
        size = sum(len(payload) for payload in frames)
        if size > self.settings.client_queue_bytes:  # could never fit the client's bound: refetch over HTTP
            frames = []
            replay.status = ReplayStatus.GAP
            replay.reason = (f"the {len(replay.frames)} missed events ({size} bytes) exceed this client's bound of "
                             f"{self.settings.client_queue_bytes} bytes; refetch over HTTP")
        out: list[bytes] = []
        if replay.status is ReplayStatus.GAP:
            out.append(_dumps({"type": "gap", "channel": action.channel, "reason": replay.reason}).encode())
        out.extend(frames)
        out.append(_dumps({"type": "subscribed", "channel": action.channel,
                           "cursor": self.hub.cursor_for(action.channel, session.user_id),
                           "replayed": len(frames)}).encode())
        self._write(ws, b"".join(text_frame(payload) for payload in out))


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame (server → client, no extensions)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def _query_token(path: str) -> str | None:
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


async def run(settings: RelaySettings) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    relay = Relay(settings)
    secret_task = loop.create_task(relay.load_secret())
    keepalive_task = loop.create_task(relay.keepalive()) if settings.ping_interval > 0 else None
    relay.monitor.install()
    monitor_task = loop.create_task(relay.monitor.run())
    source = KafkaSource(
        get_settings().kafka_bootstrap_servers,
        TOPICS,
        dispatch=loop.call_soon_threadsafe,
        on_assign=relay.on_assign,
        on_records=relay.on_records,
        on_status=relay.on_status,
        retention_per_partition=settings.retention_per_partition,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_rest_ms=settings.idle_rest_ms,
        metadata_refresh_ms=settings.metadata_refresh_ms,
    )
    relay.source = source
    source.start()
    origins: list[str | None] | None = [*settings.allowed_origins, None] if settings.allowed_origins else None
    quiet = logging.getLogger("websockets")  # never echo request paths (they may hold ?token=)
    quiet.setLevel(logging.WARNING)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        relay.handler,
        settings.host,
        settings.port,
        process_request=relay.process_request,
        origins=origins,  # type: ignore[arg-type]
        compression=None,  # required by text_frame(): frames are shared bytes, never per-connection
        max_size=settings.max_frame_bytes,
        max_queue=8,
        ping_interval=None,  # one shared sweep: Relay.keepalive()
        close_timeout=settings.close_timeout,
        logger=quiet,
        server_header=None,
        backlog=settings.backlog,
    ):
        log.info("relay %s listening on %s:%d", settings.instance_id, settings.host, settings.port)
        await stop.wait()
    secret_task.cancel()
    monitor_task.cancel()
    relay.monitor.uninstall()
    if keepalive_task is not None:
        keepalive_task.cancel()
    source.stop()
    if relay.event_log is not None:
        relay.event_log.close()
