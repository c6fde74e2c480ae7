"""Stores every aws:s3 invocation it gets (one document per attempt); fails on keys containing "poison"."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

import pymongo

_records = pymongo.MongoClient(os.environ["MONGODB_URI"])["shop"][os.environ["RECORD_COLLECTION"] + "_s3"]


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    keys = [unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"]]
    _records.insert_one({"_id": str(uuid.uuid4()), "keys": keys, "event": json.dumps(event), "at": time.time()})
    if any("poison" in k for k in keys):
        raise ValueError(f"poison object {keys}")
    return {"count": len(keys)}
