"""The local runtime's metrics in the Prometheus text format (``prometheus-client``).

Served by ``devstack up`` at ``http://127.0.0.1:<DEVSTACK_METRICS_PORT>/metrics``: API requests
by function and status with their durations, and per event-source mapping what CloudWatch shows
for one in AWS: its state, invocations, errors, records handed over, the last error, the
``OffsetLag`` of every partition (read from the broker at scrape time, see :mod:`devstack.lag`), and
how long each record waited between its Kafka timestamp and the invocation that carried it.
``devstack status`` reads the same page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from devstack.lag import LagReader
from devstack.template import KafkaMapping

log = logging.getLogger("devstack.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: fine at the low end, where the pollers' fetch wait shows
RECORD_AGE_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, float("inf"))


class MappingState(Protocol):
    """What a poller exposes about its mapping (see :class:`devstack.kafka_esm.KafkaPoller`)."""

    mapping: KafkaMapping
    invocations: int
    failures: int
    records: int
    last_error: str | None
    last_error_at: float | None

    def is_alive(self) -> bool: ...


def mapping_state(poller: MappingState) -> str:
    """AWS's words for a mapping's state: ``Enabled`` while its poller runs."""
    if not poller.mapping.enabled:
        return "Disabled"
    return "Enabled" if poller.is_alive() else "Disabling"


class MappingCollector(Collector):
    """Per-mapping counters from the pollers, and the lag of each partition from the broker."""

    def __init__(self, pollers: Callable[[], Sequence[MappingState]], bootstrap: str) -> None:
        self._pollers = pollers
        self._bootstrap = bootstrap
        self._reader: LagReader | None = None
        self._lock = threading.Lock()

    def _lag(self, mapping: KafkaMapping) -> list[Any]:
        with self._lock:
            try:
                if self._reader is None:
                    self._reader = LagReader(self._bootstrap, timeout_ms=3000)
                return self._reader.lag(mapping.consumer_group_id, mapping.topics)
            except Exception as exc:  # the broker may be restarting; report no lag rather than fail the page
                log.warning("could not read the lag of %s: %s", mapping.consumer_group_id, exc)
                if self._reader is not None:
                    self._reader.close()
                self._reader = None
                return []

    def collect(self) -> Iterator[Metric]:
        labels = ["function", "mapping"]
        info = InfoMetricFamily("devstack_esm_mapping", "Event-source mapping configuration and state",
                                labels=labels)
        invocations = CounterMetricFamily("devstack_esm_invocations", "Function invocations by the mapping",
                                          labels=labels)
        errors = CounterMetricFamily("devstack_esm_errors", "Failed invocations (each retry counts)", labels=labels)
        records = CounterMetricFamily("devstack_esm_records", "Records handed to the function", labels=labels)
        last_error = InfoMetricFamily("devstack_esm_last_error", "The mapping's most recent invocation error",
                                      labels=labels)
        lag = GaugeMetricFamily("devstack_esm_offset_lag",
                                "End offset minus the consumer group's committed offset (AWS OffsetLag)",
                                labels=[*labels, "topic", "partition"])
        for poller in self._pollers():
            m = poller.mapping
            values = [m.function, m.name]
            info.add_metric(values, {"state": mapping_state(poller), "topics": ",".join(m.topics),
                                     "group": m.consumer_group_id, "batch_size": str(m.batch_size),
                                     "batching_window_seconds": f"{m.batching_window_seconds:g}",
                                     "on_failure": m.on_failure or ""})
            invocations.add_metric(values, poller.invocations)
            errors.add_metric(values, poller.failures)
            records.add_metric(values, poller.records)
            if poller.last_error:
                at = poller.last_error_at or 0.0
                last_error.add_metric(values, {"error": poller.last_error[:300],
                                               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))})
            for part in self._lag(m):
                lag.add_metric([*values, part.topic, str(part.partition)], part.lag)
        yield from (info, invocations, errors, records, last_error, lag)

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


class RuntimeMetrics:
    """The registry of one running stack."""

    def __init__(self, pollers: Callable[[], Sequence[MappingState]], bootstrap: str) -> None:
        self.registry = CollectorRegistry()
        self.api_requests = Counter("devstack_api_requests", "API Gateway requests", ["function", "status"],
                                    registry=self.registry)
        self.api_latency = Histogram("devstack_api_request_duration_seconds",
                                     "API Gateway request duration, authorizer and function included", ["function"],
                                     registry=self.registry)
        self.record_age = Histogram("devstack_esm_record_age_seconds",
                                    "Kafka record timestamp to the start of the invocation that carries it",
                                    ["function", "mapping"], registry=self.registry, buckets=RECORD_AGE_BUCKETS)
        self.mappings = MappingCollector(pollers, bootstrap)
        self.registry.register(self.mappings)

    def observe_request(self, function: str, status: int, seconds: float) -> None:
        self.api_requests.labels(function, str(status)).inc()
        self.api_latency.labels(function).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def close(self) -> None:
        self.mappings.close()


# --- reading a scraped page (``devstack status``) ----------------------------------------------


def samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """``(sample name, labels, value)`` of a Prometheus text page."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), float(sample.value)
