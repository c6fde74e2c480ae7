"""Warm worker processes per function: the local equivalent of Lambda's execution environments.

Each function gets its own pool of ``python -m devstack.worker`` processes, started on demand
(a cold start) with that function's environment, code directory and layers, and reused while
warm. A pool never runs more invocations at once than the function's concurrency limit. An
invocation past the function's ``Timeout`` kills its worker. When a ``.py`` file under the
function's code or layers changes, workers are recycled, so edits apply without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.logfiles import JsonLog, as_json_line, function_log
from devstack.template import FunctionSpec

log = logging.getLogger("devstack.lambda")

DEFAULT_CONCURRENCY = 8
INIT_TIMEOUT = 60.0
CODE_SCAN_INTERVAL = 1.0


class InvocationError(Exception):
    """The function did not return a result."""

    kind = "Unhandled"

    def __init__(self, function: str, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.error_message = message
        self.trace = trace or []


class FunctionError(InvocationError):
    """The handler raised."""


class FunctionTimeout(InvocationError):
    """The handler ran past the function's Timeout."""

    kind = "Timeout"


class FunctionCrashed(InvocationError):
    """The worker process died (or could not start)."""

    kind = "Crashed"


@dataclass
class Invocation:
    result: Any
    duration_ms: float
    cold: bool
    request_id: str


def code_stamp(dirs: tuple[Path, ...]) -> float:
    """Newest modification time of any Python file under ``dirs``."""
    newest = 0.0
    for root in dirs:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            for name in filenames:
                if name.endswith(".py"):
                    with contextlib.suppress(OSError):
                        newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest


@dataclass(eq=False)
class _Worker:
    proc: asyncio.subprocess.Process
    proto: asyncio.StreamReader
    stamp: float
    invocations: int = 0
    log_task: asyncio.Task[None] | None = field(default=None)

    def alive(self) -> bool:
        return self.proc.returncode is None

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self.log_task is not None:
            self.log_task.cancel()


class FunctionPool:
    """The execution environments of one function."""

    def __init__(self, spec: FunctionSpec, runtime_env: dict[str, str], *, concurrency: int | None = None,
                 hot_reload: bool = True, log_dir: Path | None = None) -> None:
        self.spec = spec
        self.log = JsonLog(function_log(log_dir, spec.name)) if log_dir is not None else None
        self.runtime_env = runtime_env
        self.limit = concurrency or spec.reserved_concurrency or DEFAULT_CONCURRENCY
        self.hot_reload = hot_reload
        self._slots = asyncio.Semaphore(self.limit)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._stamp = 0.0
        self._stamp_at = 0.0
        self._ids = itertools.count(1)
        self.cold_starts = 0

    def _current_stamp(self) -> float:
        now = time.monotonic()
        if now - self._stamp_at >= CODE_SCAN_INTERVAL or not self._stamp_at:
            self._stamp = code_stamp((self.spec.code_dir, *self.spec.layer_dirs))
            self._stamp_at = now
        return self._stamp

    def _env(self) -> dict[str, str]:
        spec = self.spec
        env = dict(self.runtime_env)
        env.update(spec.environment)
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "DEVSTACK_LAYER_PATHS": os.pathsep.join(str(p) for p in spec.layer_dirs),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    async def _start(self) -> _Worker:
        stamp = self._current_stamp() if self.hot_reload else 0.0
        read_fd, write_fd = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devstack.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=write_fd,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
            cwd=str(self.spec.code_dir),
            start_new_session=True,
        )
        os.close(write_fd)
        loop = asyncio.get_running_loop()
        proto = asyncio.StreamReader(limit=64 * 1024 * 1024, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(proto), os.fdopen(read_fd, "rb", 0))
        worker = _Worker(proc=proc, proto=proto, stamp=stamp)
        worker.log_task = asyncio.create_task(self._pump_logs(proc))
        self._all.add(worker)
        try:
            line = await asyncio.wait_for(proto.readline(), INIT_TIMEOUT)
        except TimeoutError as exc:
            await self._discard(worker)
            raise FunctionCrashed(self.spec.name, "Runtime.InitTimeout", "worker did not start in time") from exc
        if not line:
            await self._discard(worker)
            raise FunctionCrashed(self.spec.name, "Runtime.ExitError", "worker exited during init")
        ready = json.loads(line)
        if ready.get("initError"):
            log.error("%s init error: %s", self.spec.name, ready["initError"].get("errorMessage"))
        self.cold_starts += 1
        return worker

    async def _pump_logs(self, proc: asyncio.subprocess.Process) -> None:
        """The function's stdout and stderr, as JSON lines in its own log file (like its CloudWatch log group)."""
        assert proc.stderr is not None
        flog = logging.getLogger(f"fn.{self.spec.name}")
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace")
            if self.log is not None:
                self.log.write_raw(as_json_line(text, source=self.spec.name))
            else:
                flog.info("%s", text.rstrip())

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        await worker.kill()

    async def _acquire(self) -> tuple[_Worker, bool]:
        stamp = self._current_stamp() if self.hot_reload else 0.0
        while self._idle:
            worker = self._idle.pop()
            if worker.alive() and worker.stamp >= stamp:
                return worker, False
            await self._discard(worker)
        return await self._start(), True

    async def invoke(self, event: Any, *, request_id: str | None = None, timeout: float | None = None) -> Invocation:
        """Run the handler on ``event``; raise an :class:`InvocationError` if it gives no result."""
        rid = request_id or str(uuid.uuid4())
        limit = float(timeout if timeout is not None else self.spec.timeout)
        async with self._slots:
            started = time.perf_counter()
            worker, cold = await self._acquire()
            deadline = time.time() + limit
            assert worker.proc.stdin is not None
            payload = json.dumps({"event": event, "requestId": rid, "deadline": deadline}, default=str)
            try:
                worker.proc.stdin.write(payload.encode() + b"\n")
                await worker.proc.stdin.drain()
                line = await asyncio.wait_for(worker.proto.readline(), limit)
            except TimeoutError as exc:
                await self._discard(worker)
                raise FunctionTimeout(self.spec.name, "Sandbox.Timedout",
                                      f"Task timed out after {limit:.2f} seconds") from exc
            except (BrokenPipeError, ConnectionResetError) as exc:
                await self._discard(worker)
                raise FunctionCrashed(self.spec.name, "Runtime.ExitError", "worker process died") from exc
            if not line:
                await self._discard(worker)
                raise FunctionCrashed(self.spec.name, "Runtime.ExitError", "worker process exited")
            worker.invocations += 1
            self._idle.append(worker)
            duration = (time.perf_counter() - started) * 1000
            out = json.loads(line)
            if not out.get("ok"):
                raise FunctionError(self.spec.name, str(out.get("errorType")), str(out.get("errorMessage")),
                                    list(out.get("stackTrace") or []))
            return Invocation(result=out.get("result"), duration_ms=duration, cold=cold, request_id=rid)

    async def prewarm(self) -> None:
        """Start one execution environment ahead of the first request (like provisioned concurrency)."""
        if not self._all:
            self._idle.append(await self._start())

    async def close(self) -> None:
        for worker in list(self._all):
            await self._discard(worker)
        if self.log is not None:
            self.log.close()


class LambdaRuntime:
    """All functions of the app, by logical id."""

    def __init__(self, functions: dict[str, FunctionSpec], runtime_env: dict[str, str], *,
                 hot_reload: bool = True, concurrency: int | None = None, log_dir: Path | None = None) -> None:
        self.pools = {name: FunctionPool(spec, runtime_env, hot_reload=hot_reload, concurrency=concurrency,
                                         log_dir=log_dir)
                      for name, spec in functions.items()}
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def invoke(self, function: str, event: Any, *, timeout: float | None = None,
                     request_id: str | None = None) -> Invocation:
        pool = self.pools.get(function)
        if pool is None:
            raise FunctionCrashed(function, "ResourceNotFoundException", f"no function named {function!r}")
        return await pool.invoke(event, timeout=timeout, request_id=request_id)

    def invoke_blocking(self, function: str, event: Any, *, request_id: str | None = None) -> Invocation:
        """Invoke from another thread (the Kafka pollers, the scheduler)."""
        assert self.loop is not None, "runtime not bound to an event loop"
        future = asyncio.run_coroutine_threadsafe(self.invoke(function, event, request_id=request_id), self.loop)
        return future.result()

    async def prewarm(self, names: list[str], parallel: int = 2) -> None:
        gate = asyncio.Semaphore(parallel)

        async def one(name: str) -> None:
            async with gate:
                try:
                    await self.pools[name].prewarm()
                except InvocationError as exc:
                    log.warning("prewarm of %s failed: %s", name, exc)

        await asyncio.gather(*(one(n) for n in names))

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()
