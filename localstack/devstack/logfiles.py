"""The local stack's structured logs: one JSON object per line, one file per source.

Layout under ``<data>/logs``: ``functions/<FunctionName>.log`` (what each function's execution
environments write: Powertools' JSON lines, and any other output wrapped into one), and
``gateway.log`` (one line per API request), ``esm.log`` (one line per event-source mapping
invocation) and ``relay.log`` (the relay's own lines). ``devstack logs`` and ``devstack trace``
read them back, merged in time order.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

FUNCTIONS_DIR = "functions"
GATEWAY = "gateway"
ESM = "esm"
RELAY = "relay"
#: Sources written by the runtime itself (files ``<name>.log``); every other source is a function.
RUNTIME_SOURCES = (GATEWAY, ESM, RELAY)


def now_iso(at: float | None = None) -> str:
    """A timestamp in the format Powertools writes with ``utc=True, use_rfc3339=True``."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    return moment.isoformat(timespec="milliseconds")


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of a log line's ``timestamp``, or ``None`` if it has none we can read."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(",", "."))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def function_log(log_dir: Path, function: str) -> Path:
    return log_dir / FUNCTIONS_DIR / f"{function}.log"


class JsonLog:
    """An append-only JSON-lines file, safe to write from several threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._fh: TextIO = path.open("a", buffering=1, encoding="utf-8")

    def write(self, message: str, *, level: str = "INFO", **fields: Any) -> None:
        line = {"level": level, "message": message, "timestamp": now_iso(), **fields}
        self.write_raw(json.dumps(line, default=str, separators=(",", ":")))

    def write_raw(self, line: str) -> None:
        with self._lock:
            self._fh.write(line.rstrip("\n") + "\n")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def as_json_line(text: str, *, source: str) -> str:
    """A line of output as a JSON log line: JSON objects unchanged, anything else wrapped."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            if isinstance(json.loads(stripped), dict):
                return stripped
        except ValueError:
            pass
    return json.dumps({"level": "INFO", "message": text.rstrip(), "timestamp": now_iso(), "source": source},
                      separators=(",", ":"))


# --- reading ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One log line and where it came from."""

    source: str
    data: dict[str, Any]
    at: float = 0.0
    line: str = field(default="", repr=False)

    @property
    def message(self) -> str:
        return str(self.data.get("message", ""))

    @property
    def level(self) -> str:
        return str(self.data.get("level", "INFO")).upper()

    @property
    def correlation_id(self) -> str | None:
        value = self.data.get("correlation_id") or self.data.get("correlationId")
        return str(value) if value else None

    @property
    def correlation_ids(self) -> set[str]:
        """The line's own correlation id and those of the records it describes (a poller's batch)."""
        out = {self.correlation_id} if self.correlation_id else set()
        records = self.data.get("records")
        if isinstance(records, list):
            out.update(str(r["correlationId"]) for r in records if isinstance(r, dict) and r.get("correlationId"))
        return out


def sources(log_dir: Path) -> dict[str, Path]:
    """Every log file by source name: the runtime's own and one per function."""
    found = {name: log_dir / f"{name}.log" for name in RUNTIME_SOURCES if (log_dir / f"{name}.log").exists()}
    fn_dir = log_dir / FUNCTIONS_DIR
    if fn_dir.is_dir():
        found.update({p.stem: p for p in sorted(fn_dir.glob("*.log"))})
    return found


def parse_line(source: str, line: str, last_at: float) -> Entry | None:
    """One line of a log file as an :class:`Entry` (lines that are not JSON keep the previous time)."""
    text = line.strip()
    if not text:
        return None
    data: dict[str, Any] | None = None
    if text.startswith("{"):
        try:
            value = json.loads(text)
            data = value if isinstance(value, dict) else None
        except ValueError:
            data = None
    if data is None:
        data = {"level": "INFO", "message": text}
    at = parse_time(str(data.get("timestamp", ""))) or last_at
    return Entry(source=source, data=data, at=at, line=text)


def read_file(source: str, path: Path) -> list[Entry]:
    out: list[Entry] = []
    last = 0.0
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                entry = parse_line(source, line, last)
                if entry is not None:
                    last = entry.at
                    out.append(entry)
    except OSError:
        return []
    return out


def read(log_dir: Path, names: Iterable[str] | None = None) -> list[Entry]:
    """Every line of the chosen sources (all when ``names`` is empty), in time order."""
    wanted = select_sources(log_dir, names)
    entries = [e for name, path in wanted.items() for e in read_file(name, path)]
    entries.sort(key=lambda e: e.at)
    return entries


def select_sources(log_dir: Path, names: Iterable[str] | None) -> dict[str, Path]:
    """The log files of ``names`` (case-insensitive; a function's name without ``Function`` works too)."""
    every = sources(log_dir)
    chosen = [n for n in (names or []) if n]
    if not chosen:
        return every
    out: dict[str, Path] = {}
    lowered = {k.lower(): k for k in every}
    for name in chosen:
        key = lowered.get(name.lower()) or lowered.get(f"{name.lower()}function")
        if key is None:
            path = function_log(log_dir, name)
            out[name] = path  # not written yet: followed once it appears
        else:
            out[key] = every[key]
    return out


_SINCE = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_since(text: str) -> float:
    """``"10m"`` → 600.0 seconds (s, m, h, d; a bare number is seconds)."""
    match = _SINCE.match(text.strip().lower())
    if not match:
        raise ValueError(f"--since must look like 30s, 10m, 2h or 1d, not {text!r}")
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * factor


@dataclass(frozen=True)
class Query:
    """Which lines ``devstack logs`` shows."""

    since: float | None = None  # epoch seconds
    text: str | None = None
    correlation_id: str | None = None

    def matches(self, entry: Entry) -> bool:
        if self.since is not None and entry.at < self.since:
            return False
        if self.correlation_id is not None and self.correlation_id not in entry.correlation_ids:
            return False
        return not (self.text and self.text.lower() not in entry.line.lower())


def follow(paths: dict[str, Path], *, from_start: bool, interval: float = 0.25,
           stop: threading.Event | None = None) -> Iterator[Entry]:
    """Yield lines as they are appended to ``paths`` (like ``tail -F``, across every file).

    Without ``from_start``, what the files hold when it is called is skipped.
    """
    offsets: dict[str, int] = {}
    for name, path in paths.items():
        offsets[name] = 0 if from_start or not path.exists() else path.stat().st_size
    return _tail(paths, offsets, interval, stop)


def _tail(paths: dict[str, Path], offsets: dict[str, int], interval: float,
          stop: threading.Event | None) -> Iterator[Entry]:
    last: dict[str, float] = {}
    while stop is None or not stop.is_set():
        batch: list[Entry] = []
        for name, path in paths.items():
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offsets[name]:  # truncated or replaced: start over
                offsets[name] = 0
            if size == offsets[name]:
                continue
            with path.open("rb") as fh:
                fh.seek(offsets[name])
                chunk = fh.read(size - offsets[name])
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offsets[name] += len(complete)
            for raw in complete.decode("utf-8", errors="replace").splitlines():
                entry = parse_line(name, raw, last.get(name, time.time()))
                if entry is not None:
                    last[name] = entry.at
                    batch.append(entry)
        batch.sort(key=lambda e: e.at)
        yield from batch
        if not batch:
            time.sleep(interval)


# --- rendering --------------------------------------------------------------------------------

_COLORS = {"DEBUG": "\033[2m", "INFO": "", "WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[1;31m"}
_SOURCE_COLOR = "\033[36m"
_DIM = "\033[2m"
_RESET = "\033[0m"
#: Keys every line has, or that the readable form shows in its own column.
_SHOWN = {"level", "message", "timestamp", "location", "service", "function_name", "function_arn",
          "function_memory_size", "sampling_rate", "xray_trace_id", "correlation_id", "source",
          "function_request_id", "cold_start"}


def render(entry: Entry, *, color: bool) -> str:
    """One readable line: time, source, level, message, correlation id, other keys."""
    clock = datetime.fromtimestamp(entry.at, tz=UTC).strftime("%H:%M:%S.%f")[:-3] if entry.at else "--:--:--.---"
    extras = {k: v for k, v in entry.data.items() if k not in _SHOWN and v not in (None, "", [], {})}
    tail = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in extras.items())
    cid = entry.correlation_id
    if entry.data.get("cold_start") is True:
        tail = ("cold_start " + tail).strip()
    parts = [clock, entry.source.ljust(24), entry.level.ljust(7), entry.message]
    if not color:
        return " ".join(parts + ([f"[{cid}]"] if cid else []) + ([tail] if tail else []))
    lvl = _COLORS.get(entry.level, "")
    text = (f"{_DIM}{clock}{_RESET} {_SOURCE_COLOR}{entry.source.ljust(24)}{_RESET} "
            f"{lvl}{entry.level.ljust(7)} {entry.message}{_RESET}")
    if cid:
        text += f" {_DIM}[{cid}]{_RESET}"
    if tail:
        text += f" {_DIM}{tail}{_RESET}"
    return text
