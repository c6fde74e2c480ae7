"""Orders: pricing, the status state machine, the order saga and their storage.

Decisions where the contract is silent (the API's users may rely on them):

- ``POST /api/orders`` is for customers only: an admin token gets 403 (admins are not buyers).
- Lines are priced from the catalog; a client-sent price is a 400 (unknown field). An unknown or
  inactive product is a 400 ``unknown_product``, a mix of currencies a 400 ``mixed_currency``,
  a product listed twice a 400, more than the visible ``available`` stock a 409
  ``insufficient_stock`` whose details name each short line.
- Tax is ``TAX_RATE_BPS`` basis points of the subtotal (default 800 = 8 %), rounded half up.
- ``Idempotency-Key`` is scoped per customer. A retry with the same key and body answers 201
  with the original order; the same key with another body is a 409 ``idempotency_key_reused``.
- ``cancelReason``: the client's ``reason`` if given, else ``customer_request`` / ``admin_request``;
  the saga uses ``payment_declined`` and ``out_of_stock``.
- An admin may move ``pending → paid`` by hand (an offline payment); that also sets
  ``paymentStatus`` to ``paid``, and later payment events never undo it.
- ``paymentStatus`` only moves forward (``pending → paid | failed``, ``paid → refunded``); a
  change of ``paymentStatus`` alone publishes ``order.updated`` with ``status == previousStatus``.
- The payment token stays in the order document and off the events (they reach WebSocket clients).
- Lists are newest first (order ids are UUIDv7); the cursor is opaque, a foreign one is a 400.
"""
