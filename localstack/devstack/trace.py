"""One order's (or one correlation id's) path through the system, rebuilt from the structured logs.

What it reads (see :mod:`devstack.logfiles`): the gateway's request lines, the functions' ``event
published`` lines (topic, partition, offset), the pollers' ``batch invoked`` / ``batch sent to the
on-failure destination`` lines, the relay's ``event delivered`` lines, and every warning or error
a function logged with the same correlation id. Starting from an order id, it collects the
correlation ids of every line that names the order (its requests, its events), then every line
carrying one of them, in time order; then it checks each published event against the mappings
subscribed to its topic and says where the story stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.logfiles import ESM, GATEWAY, RELAY, Entry, parse_time

PUBLISHED = "event published"
INVOKED = "batch invoked"
GAVE_UP = "batch sent to the on-failure destination"
DELIVERED = "event delivered"
REQUEST = "request"


@dataclass
class Hop:
    """One step of the story."""

    at: float
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self, previous: float | None) -> dict[str, Any]:
        return {"at": datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="milliseconds"),
                "sincePreviousMs": None if previous is None else round((self.at - previous) * 1000, 1),
                "kind": self.kind, "text": self.text, **self.data}


@dataclass
class Trace:
    target: str
    correlation_ids: list[str]
    hops: list[Hop]
    stopped: list[str]

    def as_json(self) -> dict[str, Any]:
        hops = []
        previous: float | None = None
        for hop in self.hops:
            hops.append(hop.as_json(previous))
            previous = hop.at
        return {"target": self.target, "correlationIds": self.correlation_ids, "hops": hops, "stopped": self.stopped}

    def render(self) -> str:
        if not self.hops:
            return f"nothing in the logs mentions {self.target}"
        lines = [f"trace of {self.target} (correlation ids: {', '.join(self.correlation_ids) or '-'})"]
        previous: float | None = None
        for hop in self.hops:
            clock = datetime.fromtimestamp(hop.at, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
            gap = "" if previous is None else f"+{(hop.at - previous) * 1000:.0f} ms"
            lines.append(f"{clock} {gap:>10}  {hop.kind:<9} {hop.text}")
            previous = hop.at
        total = (self.hops[-1].at - self.hops[0].at) * 1000
        lines.append(f"{len(self.hops)} hops in {total:.0f} ms")
        if self.stopped:
            lines.extend(f"STOPPED: {s}" for s in self.stopped)
        else:
            lines.append("every event reached every subscribed function")
        return "\n".join(lines)


def _records(entry: Entry) -> list[dict[str, Any]]:
    value = entry.data.get("records")
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _where(data: Mapping[str, Any]) -> str:
    return f"{data.get('topic')}-{data.get('partition')}@{data.get('offset')}"


def _mentions(entry: Entry, target: str) -> bool:
    """Whether a line is about ``target``: its event, its key, or a request that changed it (reads don't)."""
    d = entry.data
    if target in (d.get("key"), d.get("orderId"), d.get("eventId")):
        return True
    if entry.source == GATEWAY:
        return d.get("method") not in ("GET", "HEAD", "OPTIONS") and target in str(d.get("path", "")).split("/")
    return any(target in (r.get("key"), r.get("eventId")) for r in _records(entry))


def _correlations(entry: Entry) -> set[str]:
    out = {r["correlationId"] for r in _records(entry) if r.get("correlationId")}
    if entry.correlation_id:
        out.add(entry.correlation_id)
    return out


def _seed_ids(entry: Entry, target: str) -> set[str]:
    """The correlation ids a line ties to ``target`` (in a batch, only those of the target's records)."""
    records = _records(entry)
    if records:
        return {r["correlationId"] for r in records
                if target in (r.get("key"), r.get("eventId")) and r.get("correlationId")}
    return {entry.correlation_id} if entry.correlation_id and _mentions(entry, target) else set()


def related(entries: Iterable[Entry], target: str) -> tuple[list[str], list[Entry]]:
    """The correlation ids of ``target`` (an order id, an event id or a correlation id) and its lines."""
    entries = list(entries)
    ids: set[str] = set()
    for e in entries:
        ids |= _seed_ids(e, target)
    if not ids:
        ids = {target}
    chosen = [e for e in entries if _correlations(e) & ids or _mentions(e, target)]
    ordered = sorted(ids, key=lambda c: min((e.at for e in chosen if c in _correlations(e)), default=0.0))
    return ordered, chosen


def _ms(value: Any) -> str:
    try:
        return f"{float(value):.0f} ms"
    except (TypeError, ValueError):
        return "? ms"


def hop_of(entry: Entry, ids: set[str], target: str) -> Hop | None:
    """The hop a log line stands for, or ``None`` if it is not one."""
    d = entry.data
    message = entry.message
    if entry.source == GATEWAY and message == REQUEST:
        text = (f"{d.get('method')} {d.get('path')} → {d.get('status')} "
                f"({d.get('function')}, {_ms(d.get('durationMs'))})")
        return Hop(entry.at, "http", text, {"function": d.get("function"), "status": d.get("status"),
                                            "correlationId": entry.correlation_id})
    if message == PUBLISHED:
        fn = d.get("function_name") or entry.source
        # The producer's record time, not the log line's (written after the broker's acknowledgement).
        sent = d.get("sentAt")
        at = float(sent) / 1000 if isinstance(sent, int | float) and sent > 0 else entry.at
        written = parse_time(str(d.get("occurredAt", ""))) if d.get("occurredAt") else None
        stored = f" ({(at - written) * 1000:.0f} ms after it was stored)" if written is not None else ""
        text = f"{fn} published {d.get('eventType')} → {_where(d)}{stored}"
        return Hop(at, "published", text, {"function": fn, "eventType": d.get("eventType"),
                                                 "eventId": d.get("eventId"), "topic": d.get("topic"),
                                                 "partition": d.get("partition"), "offset": d.get("offset")})
    if entry.source == ESM and message in (INVOKED, GAVE_UP):
        mine = [r for r in _records(entry)
                if r.get("correlationId") in ids or target in (r.get("key"), r.get("eventId"))]
        if not mine:
            return None
        what = ", ".join(f"{r.get('eventType') or '?'} {_where(r)}" for r in mine)
        fn = d.get("function")
        common = {"function": fn, "batchSize": d.get("batchSize"), "attempt": d.get("attempt"),
                  "records": [_where(r) for r in mine],
                  "events": {_where(r): [r.get("topic"), r.get("eventType")] for r in mine}}
        if message == GAVE_UP:
            return Hop(entry.at, "dlq", f"{fn} gave up on {what} after {d.get('attempt')} attempt(s): "
                                        f"{d.get('error')} → {d.get('destination')}", {**common, "outcome": "dlq"})
        outcome = str(d.get("outcome", "ok"))
        detail = f"batch of {d.get('batchSize')}, {_ms(d.get('durationMs'))}, {outcome}"
        if int(d.get("attempt") or 1) > 1:
            detail += f", attempt {d.get('attempt')}"
        if outcome != "ok":
            detail += f": {d.get('error')}"
        return Hop(entry.at, "invoked", f"{fn} consumed {what} ({detail})", {**common, "outcome": outcome,
                                                                             "durationMs": d.get("durationMs")})
    if entry.source == RELAY and message == DELIVERED:
        text = f"relay delivered {d.get('eventType')} {_where(d)} to {d.get('deliveries')} client(s)"
        return Hop(entry.at, "relay", text, {"eventType": d.get("eventType"), "deliveries": d.get("deliveries")})
    if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.source not in (GATEWAY, ESM, RELAY):
        first_line = message.splitlines()[0] if message else ""
        return Hop(entry.at, entry.level.lower(), f"{entry.source}: {first_line}", {"function": entry.source})
    return None


def _events(hops: list[Hop]) -> dict[str, tuple[str, str]]:
    """Every event the story touched: ``where`` → (topic, type), published or consumed."""
    out: dict[str, tuple[str, str]] = {}
    for hop in hops:
        if hop.kind == "published":
            where = f"{hop.data.get('topic')}-{hop.data.get('partition')}@{hop.data.get('offset')}"
            out[where] = (str(hop.data.get("topic")), str(hop.data.get("eventType")))
        for where, (topic, event_type) in (hop.data.get("events") or {}).items():
            out.setdefault(where, (str(topic), str(event_type)))
    return out


def stopped(hops: list[Hop], subscribers: Mapping[str, list[str]]) -> list[str]:
    """Each event that a subscribed function has not consumed successfully, and why."""
    out = []
    for where, (topic, event_type) in _events(hops).items():
        for fn in subscribers.get(topic, []):
            tries = [h for h in hops if h.kind in ("invoked", "dlq") and h.data.get("function") == fn
                     and where in h.data.get("records", [])]
            if any(h.kind == "invoked" and h.data.get("outcome") == "ok" for h in tries):
                continue
            if any(h.kind == "dlq" for h in tries):
                out.append(f"{event_type} {where} went to {fn}'s on-failure destination (`devstack dlq` lists it)")
            elif tries:
                out.append(f"{event_type} {where} is still failing in {fn}: {tries[-1].text}")
            else:
                out.append(f"{event_type} {where} has not reached {fn} yet (see `devstack status`)")
    return out


def build(entries: Iterable[Entry], target: str, subscribers: Mapping[str, list[str]]) -> Trace:
    """The trace of ``target`` from log ``entries``; ``subscribers`` maps a topic to its mapped functions."""
    ids, chosen = related(entries, target)
    idset = set(ids)
    hops = sorted((h for e in chosen if (h := hop_of(e, idset, target)) is not None), key=lambda h: h.at)
    return Trace(target=target, correlation_ids=ids, hops=hops, stopped=stopped(hops, subscribers))
