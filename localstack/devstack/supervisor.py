"""``devstack up``: start the services, bootstrap them, serve the functions, stop it all on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from devstack import bootstrap, s3_events
from devstack.apigateway import ApiGateway, trusted_networks
from devstack.kafka_esm import MappingStats
from devstack.lambda_runtime import InvocationError, LambdaRuntime
from devstack.logfiles import GATEWAY, JsonLog
from devstack.metrics import CONTENT_TYPE, RuntimeMetrics
from devstack.pollers import ATTEMPT_HEADER, MAPPING_HEADER, REQUEST_ID_HEADER, invoke_path
from devstack.procutil import die_with_parent, process_alive
from devstack.scheduler import Scheduler, scheduled_event
from devstack.services import Service, ServiceError, kafka_service, mongodb_service, moto_service
from devstack.settings import StackSettings
from devstack.template import App, load_app
from devstack.web import WebConfig, web_app
from shop.config import Settings

log = logging.getLogger("devstack")

#: Host variables a function's process inherits (everything else comes from the template).
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "VIRTUAL_ENV")


class StackError(RuntimeError):
    """The local stack could not start."""


#: The longest wait between two attempts to restart a service that keeps failing to start.
MAX_RESTART_DELAY = 5.0


@dataclass
class Restarts:
    """When to try again to start a dead service: at once, then backing off while the starts keep failing."""

    done: int = 0
    failures: int = 0
    next_at: float = 0.0

    def failed(self, now: float) -> float:
        self.failures += 1
        delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** (self.failures - 1))
        self.next_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.done += 1
        self.failures = 0
        self.next_at = 0.0


class Stack:
    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.services: dict[str, Service] = {}
        self.relay: subprocess.Popen[bytes] | None = None
        self.relay_restarts = 0
        self._relay_started = 0.0
        self._relay_quick_exits = 0
        self._relay_restart_at: float | None = None
        self.msk_arn = ""
        self.app: App | None = None
        self.runtime: LambdaRuntime | None = None
        self.mapping_stats: list[MappingStats] = []
        self.pollers_proc: subprocess.Popen[bytes] | None = None
        self.pollers_restarts = 0
        self._pollers_started = 0.0
        self._pollers_quick_exits = 0
        self._pollers_restart_at: float | None = None
        self._pollers_held = False  # stopped while the broker restarts (see _hold_pollers)
        self.scheduler: Scheduler | None = None
        self.broker_generation = 1
        self.restarts: dict[str, Restarts] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._started = time.monotonic()

    # --- services -----------------------------------------------------------------------------
    def _step(self, label: str) -> None:
        log.info("%-34s %.1fs", label, time.monotonic() - self._started)

    def start_services(self) -> None:
        s = self.s
        s.log_dir.mkdir(parents=True, exist_ok=True)
        wanted: list[Service] = []
        if not s.aws_endpoint_url:
            wanted.append(moto_service(s.ports["aws"], s.log_dir, s.services_host))
        if not s.mongodb_uri:
            wanted.append(mongodb_service(s.ports["mongodb"], s.data_dir, s.log_dir, s.services_host))
        if not s.kafka_bootstrap:
            wanted.append(kafka_service(s.ports["kafka"], s.log_dir, s.services_host))
        for service in wanted:
            self.services[service.name] = service
            service.start()
            self._step(f"✓ {service.name} :{service.port}")

    def _export_env(self) -> None:
        """Point this process (bootstrap, in-process seeding) at the stack's services."""
        s = self.s
        os.environ.update(self.service_env())
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        os.environ["AWS_REGION"] = s.region
        os.environ["AWS_DEFAULT_REGION"] = s.region

    def service_env(self) -> dict[str, str]:
        s = self.s
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka,
            "MONGODB_URI": s.mongodb,
            "AWS_ENDPOINT_URL": s.aws,
            "AWS_REGION": s.region,
            "AWS_DEFAULT_REGION": s.region,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "JWT_SECRET_ID": self.parameters().get("JwtSecretId", "shop/jwt-signing-key"),
        }
        return env

    def parameters(self) -> dict[str, str]:
        params = {"MongoDbUri": self.s.mongodb, "KafkaBootstrapServers": self.s.kafka, "AwsEndpointUrl": self.s.aws}
        if self.msk_arn:
            params["MskClusterArn"] = self.msk_arn
        return params

    def bootstrap(self) -> None:
        s = self.s
        self._export_env()
        template = load_app(s.root / "template.yaml", parameters=self.parameters(), region=s.region)
        self.msk_arn = bootstrap.ensure_msk_cluster(s.aws, s.region)
        secret_id = template.parameters.get("JwtSecretId", "shop/jwt-signing-key")
        bootstrap.ensure_secret(s.aws, s.region, secret_id, s.data_dir / "secrets" / "jwt-signing-key")
        bootstrap.ensure_queues(s.aws, s.region, template)
        self._step("✓ AWS resources (secret, MSK, SQS)")
        self.app = load_app(s.root / "template.yaml", parameters=self.parameters(), region=s.region)
        s3_events.ensure_buckets(s.aws, s.region, self.app)
        bootstrap.ensure_topics(s.kafka, bootstrap.topics_for(self.app))
        self._step("✓ Kafka topics")
        bootstrap.ensure_database()
        bootstrap.ensure_users_and_demo(s.admin_email, s.admin_password, seed_demo=s.seed_demo)
        self._step("✓ database, admin, demo data")

    # --- runtime ------------------------------------------------------------------------------
    def function_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
        env.update(self.service_env())
        return env

    async def serve(self) -> None:
        assert self.app is not None
        s = self.s
        loop = asyncio.get_running_loop()
        runtime = LambdaRuntime(self.app.functions, self.function_env(), hot_reload=s.hot_reload, log_dir=s.log_dir)
        self.runtime = runtime
        access_log = JsonLog(s.log_dir / f"{GATEWAY}.log")
        metrics = RuntimeMetrics(lambda: self.mapping_stats, s.kafka)
        # Explicit local overrides for every function (DEVSTACK_ENV_<NAME>=value) win over the template.
        overrides = {k.removeprefix("DEVSTACK_ENV_"): v for k, v in os.environ.items() if k.startswith("DEVSTACK_ENV_")}
        for pool in runtime.pools.values():
            pool.spec.environment.update(overrides)
        runtime.bind(loop)
        gateway = ApiGateway(self.app, runtime, access_log=access_log, metrics=metrics,
                             trusted_proxies=trusted_networks(s.trusted_proxies))
        runner = web.AppRunner(gateway.web_app(), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", s.ports["api"], reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise StackError(f"API Gateway: cannot listen on port {s.ports['api']}: {exc.strerror}. "
                             "Set DEVSTACK_API_PORT to use another port.") from exc
        self._step(f"✓ API Gateway :{s.ports['api']} ({len(self.app.routes)} routes)")
        self.mapping_stats = [MappingStats(m, alive=self.pollers_alive, record_age=metrics.record_age)
                              for m in self.app.kafka if m.enabled]
        metrics_runner = await self.serve_metrics(metrics, runtime)
        if self.mapping_stats:
            self._spawn_pollers()
        self._step(f"✓ Kafka event-source mappings ({len(self.mapping_stats)}, pollers pid "
                   f"{self.pollers_proc.pid if self.pollers_proc else '-'})")
        s3_source = s3_events.start(self.app, runtime, endpoint=s.aws, region=s.region)
        web_runner = await self.serve_web(runtime)
        if self.app.schedules:
            self.scheduler = Scheduler(self.app.schedules, runtime, interval_override=s.schedule_interval)
            self.scheduler.start()
            if "kafka" in (svc.kind for svc in self.services.values()):
                # The embedded broker always starts empty: what was in flight before is only in the database.
                self.nudge_schedules("brokerRestarted")
        if s.relay:
            self.start_relay()
        self.write_state(ready=True)
        self.print_summary()
        tasks = [asyncio.create_task(self.watchdog())]
        if s.prewarm:
            tasks.append(asyncio.create_task(runtime.prewarm(sorted(runtime.pools))))
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            if s3_source is not None:
                s3_source.stop()
            if self.scheduler:
                self.scheduler.stop()
            await asyncio.to_thread(self._stop_pollers)
            await web_runner.cleanup()
            await runner.cleanup()
            await metrics_runner.cleanup()
            await runtime.close()
            metrics.close()
            access_log.close()

    async def serve_metrics(self, metrics: RuntimeMetrics, runtime: LambdaRuntime) -> web.AppRunner:
        """The runtime's Prometheus page (scraping reads the lag from the broker, off the event loop), and
        Lambda's ``Invoke`` API for the pollers' process (local only, like the page)."""

        async def page(request: web.Request) -> web.Response:
            body = await asyncio.to_thread(metrics.exposition)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/metrics", page)
        app.router.add_post(invoke_path("{function}"), invoke_route(runtime, self.mapping_stats))
        return await self._listen(app, "metrics", "metrics")

    async def _listen(self, app: web.Application, port: str, what: str) -> web.AppRunner:
        """Serve ``app`` on the stack's ``port``, or fail naming the variable that moves it."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        number = self.s.ports[port]
        try:
            await web.TCPSite(runner, "127.0.0.1", number, reuse_address=True).start()
        except OSError as exc:
            await runner.cleanup()
            raise StackError(f"{what}: cannot listen on port {number}: {exc.strerror}. "
                             f"Set DEVSTACK_{port.upper()}_PORT to use another port.") from exc
        self._step(f"✓ {what} :{number}")
        return runner

    async def serve_web(self, runtime: LambdaRuntime) -> web.AppRunner:
        """The web client from ``web/``, with a ``config.json`` naming this stack's API and relay, and
        the tax rate the functions charge (their ``TAX_RATE_BPS``, else the shop's default)."""
        s = self.s
        envs = [pool.spec.environment for pool in runtime.pools.values()]
        rates = [env["TAX_RATE_BPS"] for env in envs if "TAX_RATE_BPS" in env]
        tax = rates[0] if rates else Settings.model_fields["tax_rate_bps"].default
        config = WebConfig(api_url=s.api_url, ws_url=s.ws_url, tax_rate_bps=int(tax), images_url=s.aws)
        return await self._listen(web_app(config), "web", "Web client")

    def start_relay(self) -> None:
        s = self.s
        if not (s.root / "realtime_relay" / "__main__.py").exists():
            log.info("realtime relay not present; skipped")
            return
        self._spawn_relay()
        relay = Service("Realtime relay", [], s.ports["relay"], s.log_dir / "relay.log")
        relay.proc = self.relay
        try:
            relay.wait_ready(60)
        except ServiceError as exc:
            raise StackError(str(exc)) from exc
        self._step(f"✓ Realtime relay :{s.ports['relay']}")

    def _spawn_relay(self) -> None:
        s = self.s
        env = dict(os.environ)
        env.update(self.service_env())
        env.update({"RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(s.ports["relay"]), "RELAY_INSTANCE_ID": "relay-1"})
        env.setdefault("RELAY_ALLOWED_ORIGINS", ",".join(s.web_origins))
        log_file = (s.log_dir / "relay.log").open("ab")
        self.relay = subprocess.Popen([sys.executable, "-m", "realtime_relay"], env=env, stdout=log_file,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                      cwd=str(s.root), preexec_fn=die_with_parent)
        log_file.close()
        self._relay_started = time.monotonic()

    def _watch_relay(self) -> None:
        """Restart the relay when it exits, as ECS restarts a stopped task; back off if it keeps crashing.

        Its clients reconnect with their cursor: the new process rebuilds the replay window from Kafka.
        """
        if self.relay is not None and self.relay.poll() is not None:
            ran = time.monotonic() - self._relay_started
            self._relay_quick_exits = self._relay_quick_exits + 1 if ran < 10 else 0
            delay = min(30.0, 0.5 * 2 ** self._relay_quick_exits)
            log.error("realtime relay exited with code %s after %.0fs; restarting it in %.1fs (see %s)",
                      self.relay.returncode, ran, delay, self.s.log_dir / "relay.log")
            self.relay = None
            self._relay_restart_at = time.monotonic() + delay
            self.write_state(ready=True)
        elif self.relay is None and self._relay_restart_at is not None and time.monotonic() >= self._relay_restart_at:
            self._relay_restart_at = None
            self._spawn_relay()
            self.relay_restarts += 1
            self.write_state(ready=True)
            log.info("realtime relay restarted (restart %d)", self.relay_restarts)

    async def watchdog(self) -> None:
        """Restart an embedded service that died (the broker comes back empty: topics are re-created), and the relay."""
        while True:
            await asyncio.sleep(0.5)
            for service in list(self.services.values()):
                if not service.alive():
                    await self._revive(service)
            self._watch_relay()
            self._watch_pollers()

    async def _revive(self, service: Service) -> None:
        """One attempt to start a dead service again, then what its return needs."""
        restarts = self.restarts.setdefault(service.name, Restarts())
        now = time.monotonic()
        if now < restarts.next_at:
            return
        if restarts.failures == 0:
            assert service.proc is not None
            log.warning("%s exited with code %s; restarting it%s", service.name, service.proc.returncode,
                        " (its log was in memory, so it comes back empty)" if service.kind == "kafka" else "")
        try:
            if service.kind == "kafka":
                await asyncio.to_thread(self._hold_pollers)
            await asyncio.to_thread(service.start, timeout=30)
            await asyncio.to_thread(self._after_restart, service)
        except Exception as exc:
            delay = restarts.failed(time.monotonic())
            log.error("could not restart %s (%s); trying again in %.1fs", service.name,
                      str(exc).splitlines()[0], delay)
            return
        restarts.succeeded()
        self.write_state(ready=True)
        log.info("%s is back (restart %d)", service.name, restarts.done)

    def _after_restart(self, service: Service) -> None:
        """Bring a restarted service back to what the stack expects of it."""
        if service.kind == "kafka":
            assert self.app is not None
            bootstrap.ensure_topics(self.s.kafka, bootstrap.topics_for(self.app))
            self.broker_generation += 1
            # New clients for a new broker (librdkafka's maintainers advise it; see devstack.kafka_esm),
            # once its topics exist: the watchdog starts them on the event loop's thread (a child dies
            # with the thread that started it, see procutil.die_with_parent).
            if self._pollers_held:
                self._pollers_held = False
                self._pollers_restart_at = time.monotonic()
            self.nudge_schedules("brokerRestarted")
        elif service.kind == "mongodb":
            # Consumers may have dead-lettered records while it was away: re-drive now, not after the saga timeout.
            self.nudge_schedules("databaseRestarted")
        elif service.kind == "aws":
            assert self.app is not None
            secret_id = self.parameters().get("JwtSecretId", "shop/jwt-signing-key")
            bootstrap.ensure_secret(self.s.aws, self.s.region, secret_id,
                                    self.s.data_dir / "secrets" / "jwt-signing-key")
            bootstrap.ensure_queues(self.s.aws, self.s.region, self.app)
            s3_events.ensure_buckets(self.s.aws, self.s.region, self.app)

    # --- the event-source pollers' process ---------------------------------------------------------
    def pollers_alive(self) -> bool:
        return self.pollers_proc is not None and self.pollers_proc.poll() is None

    def _spawn_pollers(self) -> None:
        s = self.s
        env = dict(os.environ)
        env.update(self.service_env())
        env["DEVSTACK_POLLERS"] = json.dumps({
            "template": str(s.root / "template.yaml"), "parameters": self.parameters(), "region": s.region,
            "bootstrap": s.kafka, "aws": s.aws, "logDir": str(s.log_dir),
            "invokeUrl": f"http://127.0.0.1:{s.ports['metrics']}",
            "fetchWaitMs": s.kafka_fetch_wait_ms, "idleRestMs": s.kafka_idle_rest_ms})
        log_file = (s.log_dir / "pollers.log").open("ab")
        self.pollers_proc = subprocess.Popen([sys.executable, "-m", "devstack.pollers"], env=env, stdout=log_file,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, cwd=str(s.root), preexec_fn=die_with_parent)
        log_file.close()
        self._pollers_started = time.monotonic()

    def _hold_pollers(self) -> None:
        """Stop the pollers before a new broker comes up, and keep them stopped until it has its topics.

        An old pollers' process that met the new broker could still commit the offset of a batch it
        was finishing into the new broker's (empty) consumer group, and its successor would resume
        there, skipping the first records of the new log: the events the outbox and the reconciler
        publish again right after the restart.
        """
        if self.pollers_proc is not None or self._pollers_restart_at is not None:
            self._stop_pollers()
            self._pollers_restart_at = None
            self._pollers_held = True

    def _stop_pollers(self) -> None:
        proc, self.pollers_proc = self.pollers_proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _watch_pollers(self) -> None:
        """Start the pollers' process again when it exits (a librdkafka crash, or its reader gave up);
        it resumes from the committed offsets. Back off if it keeps exiting at once."""
        proc = self.pollers_proc
        if proc is not None and proc.poll() is not None:
            ran = time.monotonic() - self._pollers_started
            self._pollers_quick_exits = self._pollers_quick_exits + 1 if ran < 10 else 0
            delay = min(10.0, 0.1 * 2 ** self._pollers_quick_exits)
            log.warning("event-source pollers exited with code %s after %.0fs; starting them again in %.1fs "
                        "(see %s)", proc.returncode, ran, delay, self.s.log_dir / "pollers.log")
            self.pollers_proc = None
            self._pollers_restart_at = time.monotonic() + delay
        elif proc is None and self._pollers_restart_at is not None and time.monotonic() >= self._pollers_restart_at:
            self._pollers_restart_at = None
            self._spawn_pollers()
            self.pollers_restarts += 1
            self.write_state(ready=True)
            log.info("event-source pollers started again (restart %d)", self.pollers_restarts)

    def nudge_schedules(self, reason: str) -> None:
        """Run every scheduled function now, with ``detail: {reason: true}`` (thread-safe).

        The local stand-in for a durable broker: when the broker came back empty (or the database came
        back), the outbox sweeper and the saga reconciler run at once instead of at their next tick.
        """
        loop = self.runtime.loop if self.runtime is not None else None
        if loop is None or self.app is None:
            return
        for rule in self.app.schedules:
            if not rule.enabled:
                continue
            event = scheduled_event(rule, self.s.region)
            event["detail"] = {reason: True}
            loop.call_soon_threadsafe(self._spawn_nudge, rule.function, event, reason)

    def _spawn_nudge(self, function: str, event: dict[str, object], reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._invoke_nudge(function, event, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _invoke_nudge(self, function: str, event: dict[str, object], reason: str) -> None:
        assert self.runtime is not None
        try:
            await self.runtime.invoke(function, event)
        except Exception as exc:  # the regular schedule runs it again soon
            log.warning("%s (run at once: %s) failed: %s", function, reason, exc)

    def request_stop(self) -> None:
        self._stop.set()

    # --- state --------------------------------------------------------------------------------
    def write_state(self, *, ready: bool) -> None:
        s = self.s
        state = {
            "pid": os.getpid(),
            "ready": ready,
            "webUrl": s.web_url,
            "apiUrl": s.api_url,
            "wsUrl": s.ws_url if self.relay is not None else None,
            "metricsUrl": s.metrics_url,
            "relayMetricsUrl": s.relay_metrics_url if self.relay is not None else None,
            "logDir": str(s.log_dir),
            "kafkaBootstrapServers": s.kafka,
            "mongodbUri": s.mongodb,
            "awsEndpointUrl": s.aws,
            "mskClusterArn": self.msk_arn,
            "env": self.service_env(),
            "brokerGeneration": self.broker_generation,
            "restarts": {name: r.done for name, r in self.restarts.items()},
            "pids": {name: svc.proc.pid for name, svc in self.services.items() if svc.proc},
            "relayPid": self.relay.pid if self.relay else None,
            "relayRestarts": self.relay_restarts,
            "pollersPid": self.pollers_proc.pid if self.pollers_proc else None,
            "pollersRestarts": self.pollers_restarts,
            "adminEmail": s.admin_email,
            "startupSeconds": round(time.monotonic() - self._started, 2),
        }
        s.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = s.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(s.state_file)

    def print_summary(self) -> None:
        s = self.s
        password = "(ADMIN_PASSWORD)" if os.environ.get("ADMIN_PASSWORD") else s.admin_password
        rows = [
            ("Web client", s.web_url),
            ("API Gateway", s.api_url + "/api"),
            ("Realtime relay", s.ws_url if self.relay else "(not running)"),
            ("Kafka (MSK)", s.kafka + ("" if s.kafka_bootstrap else "  [embedded Tansu]")),
            ("MongoDB", s.mongodb + ("" if s.mongodb_uri else "  [embedded nx-27017]")),
            ("AWS APIs", s.aws + ("" if s.aws_endpoint_url else "  [embedded moto]")),
            ("Admin login", f"{s.admin_email} / {password}"),
            ("Metrics", s.metrics_url + "  (Prometheus; the relay's: " + s.relay_metrics_url + ")"),
            ("Data folder", str(s.data_dir)),
            ("Logs", f"{s.log_dir}  (python3 dev.py logs --follow)"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        print("\nThe shop is running (Ctrl-C stops everything):\n" + "\n".join(lines)
              + f"\n  started in {time.monotonic() - self._started:.1f}s\n", flush=True)

    def stop_all(self) -> None:
        # Close the seeding producer while its broker is still up (its exit hook would wait on a dead one).
        from shop import clients

        clients.reset_kafka_producer()
        self._stop_pollers()
        if self.relay is not None and self.relay.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.relay.pid, signal.SIGTERM)
            try:
                self.relay.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.relay.pid, signal.SIGKILL)
        for service in reversed(list(self.services.values())):
            service.stop()
        with contextlib.suppress(FileNotFoundError):
            self.s.state_file.unlink()


def invoke_route(runtime: LambdaRuntime, stats: list[MappingStats]) -> Any:
    """``POST /2015-03-31/functions/{function}/invocations`` as Lambda answers it: the result, or the
    error with ``X-Amz-Function-Error``. An invocation from a mapping (``X-Devstack-Mapping``) counts
    in that mapping's metrics."""
    by_key = {(st.mapping.function, st.mapping.name): st for st in stats}

    async def invoke(request: web.Request) -> web.Response:
        function = request.match_info["function"]
        event = await request.json()
        mapping = by_key.get((function, request.headers.get(MAPPING_HEADER, "")))
        attempt = int(request.headers.get(ATTEMPT_HEADER, "1"))
        if mapping is not None:
            mapping.started(event, attempt, time.time())
        try:
            result = await runtime.invoke(function, event, request_id=request.headers.get(REQUEST_ID_HEADER))
        except InvocationError as exc:
            if mapping is not None:
                mapping.ended(event, exc)
            return web.json_response({"errorType": exc.error_type, "errorMessage": exc.error_message,
                                      "stackTrace": exc.trace}, headers={"X-Amz-Function-Error": exc.kind})
        if mapping is not None:
            mapping.ended(event, None)
        return web.json_response(result.result)

    return invoke


def running_pid(state_file: Path) -> int | None:
    """The pid of the stack that wrote ``state_file``, if it still runs (a killed one's file is stale)."""
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None
    return pid if process_alive(pid) else None


def setup_logging(settings: StackSettings, *, verbose: bool) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(settings.log_dir / "devstack.log")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s" if not verbose else "%(asctime)s %(name)s: %(message)s"))

    class _Console(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if verbose:
                return True
            if record.levelno >= logging.WARNING:
                return not record.name.startswith("kafka")
            return record.name in ("devstack", "devstack.bootstrap")

    console.addFilter(_Console())
    root.addHandler(console)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def run_up(settings: StackSettings, *, verbose: bool = False) -> int:
    """Start everything and block until Ctrl-C / SIGTERM. Returns the exit code."""
    pid = running_pid(settings.state_file)
    if pid is not None:
        print(f"a stack is already running from {settings.data_dir} (pid {pid}); `devstack stop` stops it",
              file=sys.stderr)
        return 1
    setup_logging(settings, verbose=verbose)
    stack = Stack(settings)
    log.info("starting the local stack (data in %s)", settings.data_dir)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack.start_services()
        stack.bootstrap()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stack.request_stop)
            await stack.serve()

        asyncio.run(main())
        return 0
    except (ServiceError, StackError) as exc:
        log.error("✗ %s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        log.info("stopping the local stack")
        stack.stop_all()
        log.info("stopped")
