"""When a Kafka reader should fetch: continuously while records flow, in short bursts once idle. No I/O.

The local broker holds a fetch until its wait ends (it seldom answers early when a record arrives),
and its cost is per fetch request and partition: a reader over 27-36 partitions at a 10 ms wait
keeps it at ~13% of a core when nothing happens, at 500 ms at ~1.3% but then every record waits up
to half a second. So a reader fetches with a short wait while records flow (``hot_for`` seconds
after the last one), and once idle it pauses every partition and fetches only in a burst of
``burst`` seconds every ``rest`` seconds. None is lost (a paused partition keeps its position), but
the first record after an idle spell waits longer than ``rest``: with the local broker a resumed
partition often misses several bursts (1.5-9.3 s measured for an order after 8 s of quiet; see
docs/decisions.md, ADR 5). ``rest`` 0 turns resting off. Both Kafka readers use it: the
relay and the local stack's event-source pollers (confluent-kafka's ``pause``/``resume`` each).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FetchPacer:
    """Decides, after each poll, whether the reader rests (all partitions paused) and for how long."""

    def __init__(self, *, hot_for: float = 2.0, rest: float = 0.25, burst: float = 0.03,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hot_for = hot_for
        self.rest = rest
        self.burst = burst
        self._clock = clock
        now = clock()
        self._last_record = now
        self._woke = now
        self.rests = 0

    def records(self) -> None:
        """Records came: stay hot."""
        self._last_record = self._clock()

    def should_rest(self) -> bool:
        """Idle for ``hot_for`` and the current burst is over: pause for ``rest`` seconds now."""
        if self.rest <= 0:
            return False
        now = self._clock()
        return now - self._last_record >= self.hot_for and now - self._woke >= self.burst

    def woke(self) -> None:
        """The rest is over and the partitions resumed: a burst of fetches begins."""
        self._woke = self._clock()
        self.rests += 1
