"""``devstack status``: what runs where, and how each event-source mapping and the relay are doing.

Everything comes from the stack's own pages: the runtime's ``/metrics`` (per mapping: state,
invocations, errors, last error, ``OffsetLag`` per partition) and the relay's ``/metrics``
(connections, lag per partition), both in the Prometheus text format.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from devstack.metrics import samples


@dataclass
class MappingRow:
    function: str
    mapping: str
    state: str = "?"
    topics: str = ""
    group: str = ""
    invocations: int = 0
    errors: int = 0
    records: int = 0
    last_error: str = ""
    last_error_at: str = ""
    lag: dict[str, int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def as_json(self) -> dict[str, Any]:
        return {"function": self.function, "mapping": self.mapping, "state": self.state, "topics": self.topics,
                "consumerGroup": self.group, "invocations": self.invocations, "errors": self.errors,
                "records": self.records, "lastError": self.last_error or None,
                "lastErrorAt": self.last_error_at or None, "offsetLag": self.total_lag, "lagByPartition": self.lag}


@dataclass
class RelayRow:
    instance: str = ""
    connections: int = 0
    deliveries: int = 0
    lag: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "connections": self.connections, "deliveries": self.deliveries,
                "offsetLag": sum(self.lag.values()), "lagByPartition": self.lag}


def fetch(url: str, timeout: float = 30.0) -> str | None:
    """A metrics page, or ``None`` when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return str(resp.read().decode())
    except (OSError, urllib.error.URLError):
        return None


def mapping_rows(text: str) -> list[MappingRow]:
    rows: dict[tuple[str, str], MappingRow] = {}

    def row(labels: dict[str, str]) -> MappingRow:
        key = (labels.get("function", ""), labels.get("mapping", ""))
        if key not in rows:
            rows[key] = MappingRow(*key)
        return rows[key]

    for name, labels, value in samples(text):
        if not name.startswith("devstack_esm_"):
            continue
        r = row(labels)
        if name == "devstack_esm_mapping_info":
            r.state, r.topics, r.group = labels.get("state", "?"), labels.get("topics", ""), labels.get("group", "")
        elif name == "devstack_esm_invocations_total":
            r.invocations = int(value)
        elif name == "devstack_esm_errors_total":
            r.errors = int(value)
        elif name == "devstack_esm_records_total":
            r.records = int(value)
        elif name == "devstack_esm_last_error_info":
            r.last_error, r.last_error_at = labels.get("error", ""), labels.get("at", "")
        elif name == "devstack_esm_offset_lag":
            r.lag[f"{labels.get('topic')}-{labels.get('partition')}"] = int(value)
    return sorted(rows.values(), key=lambda r: (r.function, r.mapping))


def relay_row(text: str) -> RelayRow:
    out = RelayRow()
    for name, labels, value in samples(text):
        if name == "relay_connections":
            out.instance, out.connections = labels.get("instance", ""), int(value)
        elif name == "relay_deliveries_total":
            out.deliveries = int(value)
        elif name == "relay_kafka_offset_lag":
            out.lag[f"{labels.get('topic')}-{labels.get('partition')}"] = int(value)
    return out


def _lag_text(lag: dict[str, int]) -> str:
    behind = {k: v for k, v in lag.items() if v}
    if not behind:
        return f"0 ({len(lag)} partitions)"
    return f"{sum(behind.values())} (" + ", ".join(f"{k}: {v}" for k, v in sorted(behind.items())) + ")"


def render(state: dict[str, Any], mappings: list[MappingRow] | None, relay: RelayRow | None) -> str:
    lines = [
        f"stack       running (pid {state.get('pid')}), started in {state.get('startupSeconds')}s",
        f"API         {state.get('apiUrl')}/api",
        f"relay       {state.get('wsUrl') or '(not running)'}",
        f"Kafka       {state.get('kafkaBootstrapServers')} (broker generation {state.get('brokerGeneration')})",
        f"MongoDB     {state.get('mongodbUri')}",
        f"AWS APIs    {state.get('awsEndpointUrl')}",
        f"metrics     {state.get('metricsUrl') or '-'}",
        "",
    ]
    if mappings is None:
        lines.append("event-source mappings: the runtime's metrics page did not answer")
    else:
        lines.append("event-source mappings")
        width = max((len(f"{r.function}/{r.mapping}") for r in mappings), default=10)
        lines.append(f"  {'function/mapping'.ljust(width)}  {'state':8} {'invocations':>11} {'errors':>6}  offset lag")
        for r in mappings:
            lines.append(f"  {f'{r.function}/{r.mapping}'.ljust(width)}  {r.state:8} {r.invocations:>11} "
                         f"{r.errors:>6}  {_lag_text(r.lag)}")
            if r.last_error:
                lines.append(f"  {''.ljust(width)}  last error {r.last_error_at}: {r.last_error}")
    lines.append("")
    if relay is None:
        lines.append("relay: its metrics page did not answer" if state.get("wsUrl") else "relay: not running")
    else:
        lines.append(f"relay {relay.instance}: {relay.connections} connection(s), {relay.deliveries} deliveries, "
                     f"lag {_lag_text(relay.lag)}")
    return "\n".join(lines)
