"""Returns the event it got, its environment greeting and its process id."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

VERSION = "v1"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.dumps({"event": event, "greeting": os.environ.get("GREETING"), "version": VERSION,
                       "pid": os.getpid(), "remainingMs": context.get_remaining_time_in_millis(),
                       "functionName": context.function_name})
    if (event.get("queryStringParameters") or {}).get("binary") == "1":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01binary").decode(), "isBase64Encoded": True}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": body}
