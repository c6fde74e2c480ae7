"""What the local S3 event source costs while idle, and how long an upload takes to become a picture.

Part 1 starts a moto server of its own and measures, over ``--seconds`` each, the CPU it and this
process spend while nothing is uploaded: with no reader (the baseline), with the runtime's reader
(one SQS long-poll of 20 s at a time, as ``devstack.s3_events`` does), and with the rejected
alternative (ListObjectsV2 every second). Then the time from a PutObject to its notification.

Part 2 (``--stack var/data/run/stack.json`` of a running stack) uploads ``--uploads`` PNGs to one
product as the admin does (presigned POST) and prints the time until the upload is ``ready``.

    python scripts/bench_s3_events.py --seconds 30 [--stack /path/to/stack.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from devstack.settings import free_port

# The local AWS emulator accepts any credentials.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(moto_pid: int, seconds: float, reader: Any) -> tuple[float, float]:
    """CPU seconds of moto and of this process over ``seconds`` while ``reader`` runs in a thread."""
    stop = threading.Event()
    thread = threading.Thread(target=reader, args=(stop,), daemon=True) if reader else None
    before_moto, before_self = cpu_seconds(moto_pid), time.process_time()
    if thread:
        thread.start()
    time.sleep(seconds)
    stop.set()
    return cpu_seconds(moto_pid) - before_moto, time.process_time() - before_self


def idle_costs(seconds: float) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        url = sqs.create_queue(QueueName="bench-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket="bench", NotificationConfiguration={"QueueConfigurations": [
            {"Id": "bench", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        sqs.purge_queue(QueueUrl=url)
        received: list[float] = []

        def long_poll(stop: threading.Event) -> None:
            client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
            while not stop.is_set():
                try:
                    got = client.receive_message(QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=10)
                    for m in got.get("Messages", []):
                        received.append(time.monotonic())
                        client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                except Exception:
                    if stop.is_set():  # moto stopped under a pending long-poll at the end
                        return
                    raise

        def list_every_second(stop: threading.Event) -> None:
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            while not stop.wait(1.0):
                client.list_objects_v2(Bucket="bench", Prefix="uploads/")

        print(f"idle for {seconds:.0f} s each (CPU seconds: moto / this process)")
        for label, reader in (("no reader", None), ("SQS long-poll 20 s (devstack)", long_poll),
                              ("ListObjectsV2 every 1 s", list_every_second)):
            moto_cpu, own_cpu = measure(moto.pid, seconds, reader)
            print(f"  {label:32s} {moto_cpu:6.2f} s / {own_cpu:5.2f} s  "
                  f"({100 * (moto_cpu + own_cpu) / seconds:.2f}% of a core)")
        stop = threading.Event()
        threading.Thread(target=long_poll, args=(stop,), daemon=True).start()
        time.sleep(1)
        delays = []
        for i in range(10):
            received.clear()
            sent = time.monotonic()
            s3.put_object(Bucket="bench", Key=f"uploads/{i}", Body=b"x")
            while not received and time.monotonic() - sent < 10:
                time.sleep(0.002)
            delays.append((received[0] - sent) * 1000 if received else float("nan"))
        stop.set()
        print(f"PutObject → notification received: p50 {statistics.median(delays):.0f} ms, "
              f"max {max(delays):.0f} ms (10 objects)")
    finally:
        moto.terminate()
        moto.wait(10)


def upload_latency(state_file: Path, uploads: int) -> None:
    import requests
    from PIL import Image

    state = json.loads(state_file.read_text())
    api = state["apiUrl"]
    token = requests.post(f"{api}/api/auth/login", json={"email": state.get("adminEmail", "admin@shop.local"),
                                                         "password": os.environ.get("ADMIN_PASSWORD",
                                                                                    "admin-password-123")}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    product_id = requests.get(f"{api}/api/products?limit=1").json()["items"][0]["id"]
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (30, 90, 160)).save(out, "PNG")
    data = out.getvalue()
    times = []
    for _ in range(uploads):
        started = time.monotonic()
        up = requests.post(f"{api}/api/products/{product_id}/image-uploads", headers=auth,
                           json={"contentType": "image/png", "size": len(data)}).json()
        requests.post(up["url"], data=up["fields"], files={"file": ("p.png", data, "image/png")}).raise_for_status()
        while True:
            status = requests.get(f"{api}/api/products/{product_id}/image-uploads/{up['uploadId']}",
                                  headers=auth).json()["status"]
            if status != "waiting":
                break
            time.sleep(0.02)
        times.append((time.monotonic() - started) * 1000)
    print(f"presign + upload of a 1600x1200 PNG ({len(data) // 1024} KiB) → ready: "
          f"first {times[0]:.0f} ms, then p50 {statistics.median(times[1:]):.0f} ms, max {max(times[1:]):.0f} ms "
          f"({uploads - 1} uploads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--stack", type=Path)
    parser.add_argument("--uploads", type=int, default=11)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    idle_costs(args.seconds)
    if args.stack:
        upload_latency(args.stack, args.uploads)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
