"""Stores every Kafka invocation it gets; fails on records whose value contains "poison"."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any

import pymongo

_db = pymongo.MongoClient(os.environ["MONGODB_URI"])["shop"]
_records = _db[os.environ["RECORD_COLLECTION"]]


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    values = [base64.b64decode(r["value"]).decode() for rs in event["records"].values() for r in rs if "value" in r]
    if any("poison" in v for v in values):
        raise ValueError("poison record in batch")
    _records.insert_one({"_id": str(uuid.uuid4()), "event": json.dumps(event), "count": len(values),
                        "receivedAt": time.time()})
    return {"count": len(values)}
