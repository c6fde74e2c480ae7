"""Runs ``Type: Schedule`` events: each rule invokes its function with EventBridge's scheduled event."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from devstack.lambda_runtime import InvocationError, LambdaRuntime
from devstack.template import ScheduleRule

log = logging.getLogger("devstack.schedule")


def scheduled_event(rule: ScheduleRule, region: str = "us-east-1", now: float | None = None) -> dict[str, Any]:
    ts = time.time() if now is None else now
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/{rule.function}-{rule.name}"],
        "detail": {},
    }


class Scheduler(threading.Thread):
    """Fires every enabled rule at its rate (or at ``interval_override`` seconds locally)."""

    def __init__(self, rules: list[ScheduleRule], runtime: LambdaRuntime, *, interval_override: float | None) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.rules = [r for r in rules if r.enabled]
        self.runtime = runtime
        self.interval_override = interval_override
        self._halt = threading.Event()
        self.fired = 0

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        due = {r: time.monotonic() + self._interval(r) for r in self.rules}
        while not self._halt.is_set() and due:
            rule, when = min(due.items(), key=lambda item: item[1])
            if self._halt.wait(max(0.0, when - time.monotonic())):
                return
            try:
                self.runtime.invoke_blocking(rule.function, scheduled_event(rule))
                self.fired += 1
            except InvocationError as exc:
                log.error("scheduled %s failed: %s", rule.function, exc)
            except Exception:
                log.exception("scheduled %s could not run", rule.function)
            due[rule] = time.monotonic() + self._interval(rule)

    def _interval(self, rule: ScheduleRule) -> float:
        return self.interval_override if self.interval_override else rule.interval_seconds
