"""Misbehaves on purpose: raise, return garbage, run past the timeout, or sleep briefly."""

from __future__ import annotations

import json
import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> Any:
    mode = event["pathParameters"]["mode"]
    if mode == "raise":
        raise RuntimeError("boom on purpose")
    if mode == "garbage":
        return "not a proxy response"
    if mode == "hang":
        time.sleep(30)
    started = time.time()
    time.sleep(0.4)
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid(), "start": started, "end": time.time()})}
