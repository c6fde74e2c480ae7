"""Fails every invocation while ``BROKEN`` is true (a bug); once fixed, applies each record once.

Tests "fix" it by rewriting ``BROKEN`` in a copy of this file: the runtime reloads changed code,
as a deployment would. The effect is idempotent on the record's coordinates, like the shop's
consumers are on the event id, so a redelivery or a redrive never applies a record twice.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError

BROKEN = True

_applied = pymongo.MongoClient(os.environ["MONGODB_URI"])["shop"][os.environ["RECORD_COLLECTION"] + "_applied"]


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    records = [r for rs in event["records"].values() for r in rs]
    if BROKEN:
        raise RuntimeError(f"flaky: broken on purpose ({len(records)} record(s))")
    applied = 0
    for r in records:
        try:
            _applied.insert_one({"_id": f"{r['topic']}-{r['partition']}@{r['offset']}",
                                 "value": base64.b64decode(r.get("value", "")).decode(), "at": time.time()})
            applied += 1
        except DuplicateKeyError:
            pass
    print(json.dumps({"level": "INFO", "message": "applied", "applied": applied, "records": len(records)}))
    return {"applied": applied}
