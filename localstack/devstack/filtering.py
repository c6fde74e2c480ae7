"""Lambda event filtering (``FilterCriteria``) for Kafka records, on the JSON ``value``.

Supports the rule syntax AWS documents for event filtering: exact values, ``prefix``,
``suffix``, ``anything-but``, ``numeric`` comparisons, ``exists`` and ``equals-ignore-case``.
A record passes when any filter matches; with no filters every record passes.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def compile_filters(filters: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    out = []
    for f in filters:
        pattern = f.get("Pattern", f)
        out.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
    return out


def record_passes(patterns: list[dict[str, Any]], value: bytes | None) -> bool:
    if not patterns:
        return True
    try:
        data: Any = json.loads(value) if value is not None else None
    except ValueError:
        data = value.decode(errors="replace") if value is not None else None
    document = {"value": data}
    return any(_match(p, document) for p in patterns)


def _match(pattern: Any, data: Any) -> bool:
    if isinstance(pattern, dict):
        if not isinstance(data, dict):
            return False
        return all(_match_field(rule, data.get(key, _MISSING)) for key, rule in pattern.items())
    return False


def _match_field(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        return value is not _MISSING and _match(rule, value)
    if not isinstance(rule, list):
        return False
    values = value if isinstance(value, list) else [value]
    return any(_leaf(cond, v) for cond in rule for v in values) or (
        value is _MISSING and any(isinstance(c, dict) and c.get("exists") is False for c in rule))


def _leaf(cond: Any, value: Any) -> bool:
    if value is _MISSING:
        return False
    if not isinstance(cond, dict):
        return bool(cond == value)
    if "exists" in cond:
        return bool(cond["exists"])
    if "prefix" in cond:
        return isinstance(value, str) and value.startswith(cond["prefix"])
    if "suffix" in cond:
        return isinstance(value, str) and value.endswith(cond["suffix"])
    if "equals-ignore-case" in cond:
        return isinstance(value, str) and value.lower() == str(cond["equals-ignore-case"]).lower()
    if "anything-but" in cond:
        excluded = cond["anything-but"]
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return value not in excluded
    if "numeric" in cond:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        ops = cond["numeric"]
        for op, bound in zip(ops[::2], ops[1::2], strict=True):
            ok = {"=": value == bound, ">": value > bound, ">=": value >= bound,
                  "<": value < bound, "<=": value <= bound}.get(op, False)
            if not ok:
                return False
        return True
    return False
