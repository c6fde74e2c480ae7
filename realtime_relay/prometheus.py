"""The relay's figures in the Prometheus text format (``prometheus-client``), for ``GET /metrics``.

The counters are the ones ``GET /stats`` reports as JSON (one source: :meth:`Relay.stats`), plus
the consumer lag of each partition the relay reads: the partition's high watermark minus the
next offset the relay will hand to its clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: ``stats`` key → (metric name, help, kind); counters get ``_total`` from the library.
_SCALARS: dict[str, tuple[str, str, str]] = {
    "connections": ("relay_connections", "Open WebSocket connections", "gauge"),
    "anonymousConnections": ("relay_anonymous_connections", "Connections that have not authenticated", "gauge"),
    "anonymousRefused": ("relay_anonymous_refused", "Anonymous connections closed over their address's cap (4408)",
                         "counter"),
    "inventorySubscribers": ("relay_inventory_subscribers", "Connections subscribed to inventory", "gauge"),
    "adminSubscribers": ("relay_admin_subscribers", "Admin connections subscribed to every order", "gauge"),
    "records": ("relay_records", "Kafka records read", "counter"),
    "duplicates": ("relay_duplicate_records", "Records skipped as already delivered (same event id)", "counter"),
    "malformed": ("relay_malformed_records", "Records that were not an event envelope", "counter"),
    "deliveries": ("relay_deliveries", "Frames written to clients", "counter"),
    "evictions": ("relay_evictions", "Slow clients disconnected", "counter"),
    "authFailures": ("relay_auth_failures", "Connections refused for a bad or missing token", "counter"),
    "keepaliveTimeouts": ("relay_keepalive_timeouts", "Connections closed for an unanswered ping", "counter"),
    "rss_kib": ("relay_resident_memory_kib", "Resident memory (KiB)", "gauge"),
    "peak_rss_kib": ("relay_peak_resident_memory_kib", "Peak resident memory (KiB)", "gauge"),
}


class RelayCollector(Collector):
    """Reads ``stats()`` and ``lag()`` at every scrape."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]],
                 lag: Callable[[], Mapping[tuple[str, int], int]]) -> None:
        self._stats = stats
        self._lag = lag

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        instance = str(s.get("instance", ""))
        for key, (name, doc, kind) in _SCALARS.items():
            family: GaugeMetricFamily | CounterMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, doc, labels=["instance"])
            else:
                family = GaugeMetricFamily(name, doc, labels=["instance"])
            family.add_metric([instance], float(s.get(key, 0) or 0))
            yield family
        loop = s.get("loopLagMs", {})
        lag_ms = GaugeMetricFamily("relay_event_loop_lag_ms", "How late a 50 ms timer fires on the event loop",
                                   labels=["instance", "window"])
        lag_ms.add_metric([instance, "p99_recent"], float(loop.get("p99Recent", 0.0)))
        lag_ms.add_metric([instance, "max"], float(loop.get("max", 0.0)))
        yield lag_ms
        gc = s.get("gc", {})
        collections = CounterMetricFamily("relay_gc_collections", "Garbage collections by generation",
                                          labels=["instance", "generation"])
        for generation, count in enumerate(gc.get("collections", [])):
            collections.add_metric([instance, str(generation)], float(count))
        yield collections
        offset_lag = GaugeMetricFamily("relay_kafka_offset_lag",
                                       "High watermark minus the relay's next offset, per partition",
                                       labels=["instance", "topic", "partition"])
        for (topic, partition), value in sorted(self._lag().items()):
            offset_lag.add_metric([instance, topic, str(partition)], float(value))
        yield offset_lag


def registry(stats: Callable[[], Mapping[str, Any]],
             lag: Callable[[], Mapping[tuple[str, int], int]]) -> CollectorRegistry:
    """A registry holding only the relay's collector (no process/platform collectors of the default one)."""
    reg = CollectorRegistry()
    reg.register(RelayCollector(stats, lag))
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
