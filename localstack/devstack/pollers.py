"""``python -m devstack.pollers``: the event-source mappings' pollers, a process of their own.

As Lambda runs its Kafka pollers as a service apart from the functions, ``devstack up`` runs them
here and the watchdog restarts this process when it exits, like the relay. It reads with
librdkafka (:mod:`devstack.kafka_esm`), which can crash a process holding several clients across a
broker restart: here that costs a restart and a resume from the committed offsets, never the
supervisor. The functions still run in the supervisor's execution environments: each batch is
invoked through its Lambda ``Invoke`` API (:func:`devstack.supervisor.invoke_route`), which also
keeps the mappings' metrics.

Configuration comes as JSON in ``DEVSTACK_POLLERS`` (written by the supervisor). Exit code 3: the
reader gave up (a partition's log was replaced or removed); 0: asked to stop.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.kafka_esm import start_pollers
from devstack.lambda_runtime import InvocationError
from devstack.logfiles import ESM, JsonLog
from devstack.procutil import die_with_parent
from devstack.template import KafkaMapping, load_app

log = logging.getLogger("devstack.pollers")

#: header naming the mapping and attempt of an invocation (the supervisor keeps the mapping's metrics)
MAPPING_HEADER = "X-Devstack-Mapping"
ATTEMPT_HEADER = "X-Devstack-Attempt"
REQUEST_ID_HEADER = "X-Amz-Request-Id"
EXIT_READER_FAILED = 3


def invoke_path(function: str) -> str:
    return f"/2015-03-31/functions/{function}/invocations"


class HttpInvoker:
    """Invokes through the supervisor's Lambda ``Invoke`` API, one kept-alive connection per thread."""

    def __init__(self, url: str, timeout: float = 900.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def __call__(self, mapping: KafkaMapping, event: dict[str, Any], request_id: str, attempt: int) -> Any:
        conn = self._connection()
        headers = {"Content-Type": "application/json", MAPPING_HEADER: mapping.name,
                   ATTEMPT_HEADER: str(attempt), REQUEST_ID_HEADER: request_id}
        try:
            conn.request("POST", invoke_path(mapping.function), json.dumps(event).encode(), headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            raise InvocationError(mapping.function, "Runtime.InvokeFailed", f"the runtime did not answer: {exc}") \
                from exc
        if response.status != 200:
            raise InvocationError(mapping.function, "Runtime.InvokeFailed",
                                  f"HTTP {response.status}: {body[:300].decode(errors='replace')}")
        if response.getheader("X-Amz-Function-Error"):
            error = json.loads(body)
            raise InvocationError(mapping.function, str(error.get("errorType")), str(error.get("errorMessage")),
                                  list(error.get("stackTrace") or []))
        return json.loads(body) if body else None


def main() -> None:
    die_with_parent()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    config = json.loads(os.environ["DEVSTACK_POLLERS"])
    app = load_app(Path(config["template"]), parameters=config["parameters"], region=config["region"])
    invocation_log = JsonLog(Path(config["logDir"]) / f"{ESM}.log")
    done = threading.Event()
    failed: list[str] = []

    def reader_failed(reason: str) -> None:
        failed.append(reason)
        done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    pollers = start_pollers(app.kafka, HttpInvoker(config["invokeUrl"]), bootstrap=config["bootstrap"],
                            aws_endpoint_url=config["aws"], region=config["region"],
                            fetch_wait_ms=config["fetchWaitMs"], idle_rest_ms=config["idleRestMs"],
                            invocation_log=invocation_log, on_failure=reader_failed)
    log.info("pollers of %d mappings started", len(pollers))
    while not done.wait(1.0):
        pass
    for poller in pollers:
        poller.stop()
    if failed:
        log.error("exiting to be started again: %s", failed[0])
    else:
        for poller in pollers:  # a batch in flight finishes (and commits) if it can within this grace
            poller.join(max(0.1, 2.0 / max(1, len(pollers))))
    invocation_log.close()
    # Not through interpreter shutdown: librdkafka's clients may wait on a broker that is gone, and
    # what matters is already in the committed offsets.
    os._exit(EXIT_READER_FAILED if failed else 0)


if __name__ == "__main__":
    main()
