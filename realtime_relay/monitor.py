"""How responsive the relay's event loop is, and what the garbage collector costs it, for /metrics.

Every delivery, subscribe and keepalive runs on the one event loop thread, so the loop's lag (how
late a short timer fires) is the delay every client sees on top of Kafka's. A full (generation
2) collection stops the loop for a time that grows with the number of live objects, about 5 KiB
of them per connection, which is why the relay freezes what it holds at start-up (see
:func:`freeze_startup_heap`).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any


class LoopMonitor:
    """Samples the loop's lag every ``interval`` and times every garbage collection."""

    def __init__(self, interval: float = 0.05, window: float = 60.0) -> None:
        self.interval = interval
        self.lags: deque[float] = deque(maxlen=max(1, int(window / interval)))
        self.lag_max_ms = 0.0
        self.gc_collections = [0, 0, 0]
        self.gc_pause_max_ms = [0.0, 0.0, 0.0]
        self.gc_pause_total_ms = 0.0
        self.full_collections: deque[tuple[float, float]] = deque(maxlen=50)  # (unix time, pause ms)
        self._gc_started = 0.0

    def install(self) -> None:
        """Start timing garbage collections (process-wide)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        """Stop timing garbage collections."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        generation = info["generation"]
        pause = (time.perf_counter() - self._gc_started) * 1000
        self.gc_collections[generation] += 1
        self.gc_pause_total_ms += pause
        if pause > self.gc_pause_max_ms[generation]:
            self.gc_pause_max_ms[generation] = pause
        if generation == 2:
            self.full_collections.append((time.time(), round(pause, 1)))

    async def run(self) -> None:
        """Measure the loop's lag until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, (loop.time() - before - self.interval) * 1000)
            self.lags.append(lag)
            if lag > self.lag_max_ms:
                self.lag_max_ms = lag

    def snapshot(self) -> dict[str, Any]:
        """The figures /metrics reports."""
        recent = sorted(self.lags)
        p99 = recent[min(len(recent) - 1, round(0.99 * (len(recent) - 1)))] if recent else 0.0
        return {
            "loopLagMs": {"p99Recent": round(p99, 1), "maxRecent": round(recent[-1], 1) if recent else 0.0,
                          "max": round(self.lag_max_ms, 1)},
            "gc": {"collections": list(self.gc_collections),
                   "pauseMaxMs": [round(p, 1) for p in self.gc_pause_max_ms],
                   "pauseTotalMs": round(self.gc_pause_total_ms, 1), "frozen": gc.get_freeze_count(),
                   "fullCollections": [list(c) for c in self.full_collections]},
        }


def freeze_startup_heap() -> None:
    """Move everything alive now out of the collector's sight (``gc.freeze``).

    Called once the relay is ready: modules, the Kafka client, the replay window rebuilt from
    Kafka. None of it is garbage, and a full collection would otherwise walk it again each time.
    """
    gc.collect()
    gc.freeze()
