"""Structured log files: writing, reading back in time order, filtering, following, rendering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devstack import logfiles
from devstack.logfiles import Entry, JsonLog, Query


def _line(ts: str, message: str, **extra: object) -> str:
    return json.dumps({"level": "INFO", "message": message, "timestamp": ts, **extra})


def test_sources_are_merged_in_time_order_and_non_json_lines_keep_the_previous_time(tmp_path: Path) -> None:
    """Lines from several files come back sorted by timestamp; a plain-text line inherits its predecessor's time."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "gateway.log").write_text(_line("2026-12-01T10:00:00.300+00:00", "request") + "\n")
    (tmp_path / "functions" / "CreateOrderFunction.log").write_text(
        _line("2026-12-01T10:00:00.100+00:00", "event published") + "\nTraceback (most recent call last)\n"
        + _line("2026-12-01T10:00:00.500+00:00", "later") + "\n")
    entries = logfiles.read(tmp_path)
    assert [(e.source, e.message) for e in entries] == [
        ("CreateOrderFunction", "event published"),
        ("CreateOrderFunction", "Traceback (most recent call last)"),
        ("gateway", "request"),
        ("CreateOrderFunction", "later"),
    ]
    assert entries[1].at == entries[0].at


def test_select_sources_accepts_short_function_names(tmp_path: Path) -> None:
    """`logs CreateOrder` finds CreateOrderFunction's file, case-insensitively."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "CreateOrderFunction.log").write_text("")
    (tmp_path / "esm.log").write_text("")
    assert list(logfiles.select_sources(tmp_path, ["createorder", "ESM"])) == ["CreateOrderFunction", "esm"]
    assert set(logfiles.select_sources(tmp_path, None)) == {"CreateOrderFunction", "esm"}


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("15", 15)])
def test_parse_since(text: str, seconds: float) -> None:
    """--since takes s/m/h/d suffixes."""
    assert logfiles.parse_since(text) == seconds


def test_parse_since_rejects_garbage() -> None:
    """A bad --since names the value."""
    with pytest.raises(ValueError, match="'ten minutes'"):
        logfiles.parse_since("ten minutes")


def test_query_filters_by_time_text_and_correlation_id() -> None:
    """Each filter narrows; the correlation id matches Powertools' key and the envelope's."""
    a = logfiles.parse_line("f", _line("2026-12-01T10:00:00+00:00", "charged", correlation_id="c-1"), 0)
    b = logfiles.parse_line("f", _line("2026-12-01T10:05:00+00:00", "Refunded", correlationId="c-2"), 0)
    assert a is not None and b is not None
    assert [e.message for e in (a, b) if Query(correlation_id="c-2").matches(e)] == ["Refunded"]
    assert [e.message for e in (a, b) if Query(text="refund").matches(e)] == ["Refunded"]
    assert [e.message for e in (a, b) if Query(since=b.at).matches(e)] == ["Refunded"]


def test_json_log_is_safe_across_threads(tmp_path: Path) -> None:
    """Concurrent writers never interleave inside a line."""
    out = JsonLog(tmp_path / "esm.log")
    threads = [threading.Thread(target=lambda i=i: [out.write("x", n=i, pad="y" * 500) for _ in range(200)])
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    lines = (tmp_path / "esm.log").read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["message"] == "x" for line in lines)


def test_as_json_line_wraps_plain_output() -> None:
    """print() output becomes a JSON line; JSON objects pass unchanged."""
    assert logfiles.as_json_line('{"a": 1}', source="F") == '{"a": 1}'
    wrapped = json.loads(logfiles.as_json_line("hello\n", source="F"))
    assert wrapped["message"] == "hello" and wrapped["source"] == "F" and logfiles.parse_time(wrapped["timestamp"])


def test_follow_yields_appended_lines(tmp_path: Path) -> None:
    """follow() skips what was there and yields what is appended later."""
    path = tmp_path / "gateway.log"
    path.write_text(_line("2026-12-01T10:00:00+00:00", "old") + "\n")
    stop = threading.Event()
    got: list[Entry] = []

    lines = logfiles.follow({"gateway": path}, from_start=False, interval=0.02, stop=stop)

    def reader() -> None:
        for entry in lines:
            got.append(entry)
            stop.set()

    t = threading.Thread(target=reader)
    t.start()
    with path.open("a") as fh:
        fh.write(_line("2026-12-01T10:00:01+00:00", "new") + "\n")
    t.join(5)
    stop.set()
    assert [e.message for e in got] == ["new"]


def test_render_plain_and_coloured() -> None:
    """The readable form shows time, source, level, message, the correlation id and other keys."""
    entry = logfiles.parse_line("ChargePaymentFunction", _line("2026-12-01T10:00:00.250+00:00", "charged",
                                                                correlation_id="c-9", orderId="o-1"), 0)
    assert entry is not None
    plain = logfiles.render(entry, color=False)
    assert plain.startswith("10:00:00.250 ChargePaymentFunction") and "charged [c-9] orderId=o-1" in plain
    assert "\033[" in logfiles.render(entry, color=True) and "\033[" not in plain
