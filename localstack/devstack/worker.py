"""The process one warm Lambda "container" runs: import the handler once, then serve invocations.

Protocol with :mod:`devstack.lambda_runtime`: one JSON object per line. The worker writes
``{"ready": true}`` (or an init error) once, then reads ``{"event", "requestId", "deadline"}``
lines from stdin and answers each on its private protocol pipe. The handler's own stdout and
stderr go to the function's log, as in Lambda.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

from devstack.procutil import die_with_parent


class LambdaContext:
    """The subset of Lambda's context object that handlers (and Powertools) use."""

    def __init__(self, request_id: str, deadline: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{name}"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": kind or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def main() -> None:
    die_with_parent()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() in a handler goes to the function log, not the protocol
    sys.stdout = sys.stderr
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    layer_paths = [p for p in os.environ.get("DEVSTACK_LAYER_PATHS", "").split(os.pathsep) if p]
    sys.path[:0] = [task_root, *layer_paths]
    module_name, _, fn_name = os.environ["_HANDLER"].rpartition(".")
    handler: Any = None
    init_error: dict[str, Any] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), fn_name)
    except Exception as exc:  # reported on every invocation, like Lambda's init errors
        init_error = _error(exc, "Runtime.ImportModuleError")
    proto.write(json.dumps({"ready": True, "initError": init_error}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            proto.write(json.dumps(init_error) + "\n")
            continue
        context = LambdaContext(request["requestId"], request["deadline"])
        try:
            result = handler(request["event"], context)
            out = json.dumps({"ok": True, "result": result})
        except Exception as exc:
            out = json.dumps(_error(exc))
        except BaseException as exc:  # SystemExit in a handler kills the sandbox in Lambda
            proto.write(json.dumps(_error(exc, "Runtime.ExitError")) + "\n")
            raise
        proto.write(out + "\n")


if __name__ == "__main__":
    main()
