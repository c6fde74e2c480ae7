"""The relay's live path in one process: what ``Hub.ingest_batch`` costs per Kafka record. No sockets.

20,000 records (half ``order.created`` for ``--customers`` buyers, half ``inventory.updated``, one
product in ten low on stock so ``admin:alert`` frames are made too) go through a hub with
``--connections`` connections subscribed to ``inventory`` and ``admin`` and every buyer on ``orders``;
the injected ``send`` only counts bytes. Prints microseconds per record (best of ``--repeat``) and
the mean frame size per channel, which is what the cursors' log marks cost on the live path.
Nothing is asserted. Example: ``python scripts/bench_relay_hub.py --customers 200``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure the tree this script is in

from realtime_relay.cursor import epoch_of
from realtime_relay.hub import Hub


def records(n: int, customers: int) -> list[tuple[str, int, int, dict[str, Any]]]:
    out: list[tuple[str, int, int, dict[str, Any]]] = []
    for i in range(n):
        if i % 2 == 0:
            data: dict[str, Any] = {"orderId": f"o-{i}", "buyerId": f"u-{(i // 2) % customers}", "status": "pending",
                                    "totalCents": 1000, "items": [{"productId": "p", "quantity": 1}]}
            out.append(("order.created", i % 3, i // 2, {"id": f"e-{i}", "type": "order.created", "data": data}))
        else:
            available = 5 if i % 20 == 1 else 500
            data = {"productId": f"p-{i % 50}", "sku": f"S-{i % 50}", "stock": available + 3, "reserved": 3,
                    "available": available, "reason": "reserved", "orderId": f"o-{i - 1}"}
            out.append(("inventory.updated", i % 3, i // 2, {"id": f"e-{i}", "type": "inventory.updated",
                                                                "data": data}))
    return out


def run(args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    sizes: dict[str, list[int]] = defaultdict(list)

    def send(batch: Sequence[tuple[Collection[object], bytes]]) -> None:
        for _targets, payload in batch:
            sizes[json.loads(payload)["event"].split(":")[0]].append(len(payload))

    hub: Hub[object] = Hub(send, log_reader=lambda after: [], clock=time.time)
    for topic in ("order.created", "inventory.updated"):
        hub.assign(topic, epoch_of(topic), {p: (0, True) for p in range(3)})
    for c in range(args.connections):
        conn = object()
        hub.subscribe(conn, "inventory", f"watcher-{c}")
        hub.subscribe(conn, "admin", f"watcher-{c}")
    for u in range(args.customers):
        hub.subscribe(object(), "orders", f"u-{u}")
    recs = records(args.records, args.customers)
    started = time.perf_counter()
    for i in range(0, len(recs), args.batch):
        hub.ingest_batch(recs[i : i + args.batch])
    per_record = (time.perf_counter() - started) / len(recs) * 1e6
    return per_record, {k: sum(v) / len(v) for k, v in sizes.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=10_000, help="distinct buyers of the order records")
    ap.add_argument("--connections", type=int, default=200, help="connections on inventory and admin")
    ap.add_argument("--batch", type=int, default=20, help="records per ingest_batch")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    results = [run(args) for _ in range(args.repeat)]
    best = min(r[0] for r in results)
    sizes = results[0][1]
    print(f"Hub.ingest_batch: {best:.1f} us per record (best of {args.repeat}; all: "
          f"{', '.join(f'{r[0]:.1f}' for r in results)}); {args.records} records, {args.customers} buyers, "
          f"{args.connections} connections on inventory+admin")
    print("mean frame bytes per event family: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(sizes.items())))


if __name__ == "__main__":
    main()
