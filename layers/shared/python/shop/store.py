"""Compare-and-swap writes on whole documents.

Every state change in the shop is read → compute (pure domain function) → replace guarded by
the document's ``version``. One document is always written atomically, so the state change
and the events it produces (the embedded outbox, see :mod:`shop.outbox`) land together.
We deliberately avoid multi-document transactions and array update operators: the local
MongoDB stand-in (nx-27017) does not isolate concurrent transactions and stores documents
pushed with ``$push`` as strings, while whole-document replaces behave identically on
nx-27017, MongoDB, DocumentDB and Atlas.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shop.errors import ConcurrentUpdate

Doc = dict[str, Any]

MAX_ATTEMPTS = 50

DUPLICATE_KEY = 11000


def mutate(
    collection: Collection[Doc],
    doc_id: str,
    change: Callable[[Doc | None], Doc | None],
    *,
    attempts: int = MAX_ATTEMPTS,
    known: Doc | None = None,
    absent: bool = False,
) -> tuple[Doc | None, bool]:
    """Apply ``change`` to the current document (``None`` if absent) until the write wins.

    ``change`` gets a private copy and returns the new document, or ``None`` to leave it as is
    (it may also raise a domain error, which propagates and writes nothing). Returns the
    resulting document and whether this call wrote it. ``known`` is the document as the caller
    has just written or read it: the first attempt starts from it instead of reading (if someone
    wrote in between, that attempt loses its compare-and-swap and the next one reads afresh).
    ``absent`` says the document most likely does not exist yet (it is keyed by an order just
    created): the first attempt inserts without reading, and only a clash on ``_id`` (or a change
    that wants to write nothing) reads it.
    """
    for attempt in range(attempts):
        guessed = attempt == 0 and absent
        if guessed:
            current = None
        else:
            current = known if attempt == 0 and known is not None else collection.find_one({"_id": doc_id})
        new = change(copy.deepcopy(current) if current is not None else None)
        if new is None:
            if guessed:
                continue  # decided on a guess: read the document and decide again
            return current, False
        new["_id"] = doc_id
        if current is None:
            new["version"] = 1
            try:
                collection.insert_one(new)
            except DuplicateKeyError as exc:
                if _is_id_clash(exc):
                    continue
                raise
            return new, True
        version = int(current.get("version", 0))
        new["version"] = version + 1
        result = collection.replace_one({"_id": doc_id, "version": version}, new)
        if result.matched_count == 1:
            return new, True
    raise ConcurrentUpdate(f"too many concurrent updates of {collection.name} {doc_id}")


def insert_new(collection: Collection[Doc], docs: list[Doc]) -> int:
    """Insert ``docs`` in one round trip, leaving those whose ``_id`` is already there as they are.

    For append-only records keyed by an event id (redelivery inserts nothing). Returns how many were new.
    """
    if not docs:
        return 0
    try:
        return len(collection.insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(err.get("code") != DUPLICATE_KEY for err in errors):
            raise
        return int(exc.details.get("nInserted", 0))


def _is_id_clash(exc: DuplicateKeyError) -> bool:
    """Whether the insert lost a race on ``_id`` (retry) rather than on another unique index (propagate).

    MongoDB names the index in ``keyPattern``; nx-27017 only in ``errmsg``
    ("UNIQUE constraint failed: <collection>._id" versus "... index 'idx_<collection>_<field>'").
    """
    details = exc.details or {}
    key_pattern = details.get("keyPattern")
    if key_pattern:
        return "_id" in key_pattern
    message = str(details.get("errmsg", exc))
    return message.rstrip().endswith("._id") or "_id_ dup key" in message or "index: _id_" in message


def public(doc: Doc) -> Doc:
    """The document without its bookkeeping fields (``_id`` becomes ``id``)."""
    out = {k: v for k, v in doc.items() if k not in _PRIVATE}
    out = {"id": doc["_id"], **out}
    return out


_PRIVATE = frozenset({"_id", "version", "outbox", "outboxPending", "outboxSince", "appliedEvents"})
