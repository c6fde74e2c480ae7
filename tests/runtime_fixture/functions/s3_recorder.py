"""Stores every aws:s3 invocation it gets (one document per attempt); fails on keys containing "poison"
unless the key is listed in the ``<collection>_s3_cured`` collection (the fix a redrive follows)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

import pymongo

_records = pymongo.MongoClient(os.environ["MONGODB_URI"])["shop"][os.environ["RECORD_COLLECTION"] + "_s3"]
_cured = _records.database[os.environ["RECORD_COLLECTION"] + "_s3_cured"]


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    keys = [unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"]]
    _records.insert_one({"_id": str(uuid.uuid4()), "keys": keys, "event": json.dumps(event), "at": time.time()})
    if any("poison" in k and _cured.find_one({"_id": k}) is None for k in keys):
        raise ValueError(f"poison object {keys}")
    return {"count": len(keys)}
