"""Emulated S3 event notifications: a bucket's ``Type: S3`` events invoke their function asynchronously.

How the runtime learns of new objects: from the AWS emulator's own bucket notifications, not by
listing. At bootstrap every bucket that a ``Type: S3`` event names is created with a notification
configuration holding one queue configuration per event (its ``Events`` and key filter, ``Id`` =
``<Function>-<Event>``) that targets an internal SQS queue of the same emulator
(``devstack-s3-events``); moto sends a record there for every matching PutObject, POST upload,
copy or completed multipart upload. One thread long-polls that queue (20 s; moto answers as soon
as a message arrives), so an idle stack costs one request every 20 s.

Each record becomes the exact ``aws:s3`` record Lambda receives (:func:`event_record`: moto's
record has no ``userIdentity``, ``requestParameters``, ``responseElements``, ``ownerIdentity`` or
``sequencer``, and encodes ``/`` in keys), and the function is invoked the way Lambda invokes
asynchronously: on an error it is retried ``MaximumRetryAttempts`` times (Lambda waits about
1 and 2 minutes; here :data:`RETRY_DELAYS`), an event older than ``MaximumEventAgeInSeconds`` is
not tried again, and a given-up event goes to the ``EventInvokeConfig`` on-failure destination as
Lambda's invocation record. The queue message is deleted only once the function succeeded or the
record reached the destination; until then its visibility timeout covers every attempt, so an
event whose delivery was cut short (the stack stopped) is delivered again: nothing accepted is lost.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from devstack.lambda_runtime import InvocationError, LambdaRuntime
from devstack.template import ACCOUNT_ID, App, S3Notification

log = logging.getLogger("devstack.s3")

QUEUE_NAME = "devstack-s3-events"
#: Waits before the first and the second retry (Lambda: about one and two minutes).
RETRY_DELAYS = (1.0, 2.0)
LONG_POLL_SECONDS = 20
#: Invocations running at once (Lambda scales asynchronous invocations out; a bound keeps this machine usable).
CONCURRENCY = 4


def _client(service: str, endpoint: str, region: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def ensure_buckets(endpoint: str, region: str, app: App, *, queue_name: str = QUEUE_NAME) -> None:
    """Create every notifying bucket with its template policy, and point its notifications at the
    runtime's queue (idempotent). Its ``CorsConfiguration`` is not applied: the emulator answers
    every origin's cross-origin request (moto's global CORS)."""
    if not app.s3:
        return
    s3 = _client("s3", endpoint, region)
    sqs = _client("sqs", endpoint, region)
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for bucket in sorted({n.bucket for n in app.s3}):
        try:
            if region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        if bucket in app.bucket_policies:  # the emulator enforces it: anonymous reads need its Allow
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(app.bucket_policies[bucket]))
        configs = [queue_configuration(n, arn) for n in app.s3 if n.bucket == bucket]
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration={"QueueConfigurations": configs})
    log.info("S3 notifications of %s → %s", ", ".join(sorted({n.bucket for n in app.s3})), queue_name)


def queue_configuration(n: S3Notification, queue_arn: str) -> dict[str, Any]:
    """The bucket's queue configuration for one ``Type: S3`` event."""
    config: dict[str, Any] = {"Id": n.configuration_id, "QueueArn": queue_arn, "Events": list(n.events)}
    rules = [{"Name": name, "Value": value} for name, value in (("prefix", n.prefix), ("suffix", n.suffix)) if value]
    if rules:
        config["Filter"] = {"Key": {"FilterRules": rules}}
    return config


def encode_key(key: str) -> str:
    """An object key as S3 writes it in events: URL-encoded, a space as ``+``, ``/`` kept."""
    return quote_plus(key, safe="/")


def event_record(*, region: str, event_name: str, event_time: str, configuration_id: str, bucket: str, key: str,
                 size: int, etag: str, sequencer: str, request_id: str | None = None,
                 source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """One record of the ``aws:s3`` event (``eventVersion`` 2.1) as Lambda receives it; ``key`` unencoded."""
    request_id = request_id or uuid.uuid4().hex[:16].upper()
    host_id = base64.b64encode(hashlib.sha256(request_id.encode()).digest() * 2).decode()[:76]
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name.removeprefix("s3:"),
        "userIdentity": {"principalId": f"AWS:{ACCOUNT_ID}"},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": ACCOUNT_ID}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": encode_key(key), "size": size, "eTag": etag, "sequencer": sequencer},
        },
    }


def from_emulator(record: dict[str, Any], *, sequencer: str) -> dict[str, Any]:
    """:func:`event_record` from the record the AWS emulator put on the queue."""
    s3 = record["s3"]
    return event_record(region=record.get("awsRegion", "us-east-1"), event_name=record["eventName"],
                        event_time=record["eventTime"], configuration_id=s3["configurationId"],
                        bucket=s3["bucket"]["name"], key=unquote_plus(s3["object"]["key"]),
                        size=int(s3["object"].get("size") or 0), etag=str(s3["object"].get("eTag", "")),
                        sequencer=sequencer)


def failure_record(n: S3Notification, event: dict[str, Any], error: InvocationError, attempts: int, *,
                   region: str, condition: str) -> dict[str, Any]:
    """The invocation record Lambda sends to an asynchronous invocation's on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{n.function}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error.error_type, "errorMessage": error.error_message,
                            "stackTrace": error.trace},
    }


def _age_seconds(event_time: str) -> float:
    try:
        stamp = calendar.timegm(time.strptime(event_time[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - stamp)


class S3EventSource(threading.Thread):
    """Delivers the bucket notifications of ``notifications`` to their functions."""

    def __init__(self, notifications: list[S3Notification], runtime: LambdaRuntime, *, endpoint: str,
                 region: str, retry_delays: tuple[float, ...] = RETRY_DELAYS, queue_name: str = QUEUE_NAME) -> None:
        super().__init__(name="s3-events", daemon=True)
        self.by_id = {n.configuration_id: n for n in notifications}
        self.runtime = runtime
        self.endpoint = endpoint
        self.region = region
        self.retry_delays = retry_delays
        self.queue_name = queue_name
        self._sqs = _client("sqs", endpoint, region)
        self._halt = threading.Event()
        self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="s3-event")
        self._sequence = 0
        self._lock = threading.Lock()
        self.invocations = 0
        self.failures = 0
        self.given_up = 0

    def stop(self) -> None:
        self._halt.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _visibility(self) -> int:
        """Long enough for every attempt of the slowest function, its retry waits and some slack."""
        longest = max((self.runtime.pools[n.function].spec.timeout * (n.max_retry_attempts + 1)
                       for n in self.by_id.values() if n.function in self.runtime.pools), default=60.0)
        return int(longest + sum(self.retry_delays) + 30)

    def run(self) -> None:
        url: str | None = None
        while not self._halt.is_set():
            try:
                url = url or self._sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
                got = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=LONG_POLL_SECONDS, VisibilityTimeout=self._visibility())
            except Exception as exc:  # the emulator restarting: its queue comes back with the bootstrap
                if not self._halt.is_set():
                    log.warning("S3 event queue unavailable (%s); retrying", type(exc).__name__)
                url = None
                self._halt.wait(1.0)
                continue
            for message in got.get("Messages", []):
                try:
                    self._pool.submit(self._handle, url, message)
                except RuntimeError:  # stopping: the pool is shut down; the message stays in the queue
                    return            # and is received again once its visibility timeout ends

    def _next_sequencer(self) -> str:
        with self._lock:
            self._sequence += 1
            return f"{time.time_ns() // 1000:014X}{self._sequence % 0x10000:04X}"

    def _handle(self, url: str, message: dict[str, Any]) -> None:
        try:
            body = json.loads(message["Body"])
            done = all(self._deliver(record) for record in body.get("Records", []))  # a TestEvent has none
        except Exception:
            log.exception("S3 event message %s could not be handled; it comes back after its visibility timeout",
                          message.get("MessageId"))
            return
        if done:
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _deliver(self, raw: dict[str, Any]) -> bool:
        """Invoke the record's function until it succeeds or is given up; False leaves the message queued."""
        n = self.by_id.get(raw.get("s3", {}).get("configurationId", ""))
        if n is None:
            log.warning("S3 event for an unknown configuration %s; dropped", raw.get("s3", {}).get("configurationId"))
            return True
        event = {"Records": [from_emulator(raw, sequencer=self._next_sequencer())]}
        attempts = 0
        while not self._halt.is_set():
            attempts += 1
            started = time.monotonic()
            try:
                self.runtime.invoke_blocking(n.function, event)
                self.invocations += 1
                log.info("%s ← s3 %s %s (attempt %d, %.0f ms, ok)", n.function, raw["eventName"],
                         event["Records"][0]["s3"]["object"]["key"], attempts, (time.monotonic() - started) * 1000)
                return True
            except InvocationError as exc:
                self.invocations += 1
                self.failures += 1
                log.warning("%s ← s3 %s (attempt %d) failed: %s", n.function,
                            event["Records"][0]["s3"]["object"]["key"], attempts, exc)
                too_old = _age_seconds(raw["eventTime"]) > n.max_event_age_seconds
                if attempts > n.max_retry_attempts or too_old:
                    return self._give_up(n, event, exc, attempts,
                                         "EventAgeExceeded" if too_old else "RetriesExhausted")
                self._halt.wait(self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)])
        return False

    def _give_up(self, n: S3Notification, event: dict[str, Any], exc: InvocationError, attempts: int,
                 condition: str) -> bool:
        self.given_up += 1
        if n.on_failure is None:
            log.error("%s gave up on an S3 event after %d attempt(s) (%s); no on-failure destination: dropped",
                      n.function, attempts, condition)
            return True
        if not n.on_failure.startswith("arn:aws:sqs:"):
            log.error("%s: on-failure destination %s is not emulated; the event stays queued", n.function,
                      n.on_failure)
            return False
        name = n.on_failure.rsplit(":", 1)[-1]
        try:
            dest = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self._sqs.send_message(QueueUrl=dest, MessageBody=json.dumps(
                failure_record(n, event, exc, attempts, region=self.region, condition=condition)))
        except Exception:
            log.exception("%s: could not write to %s; the event stays queued", n.function, n.on_failure)
            return False
        log.error("%s gave up on an S3 event after %d attempt(s) (%s) → %s", n.function, attempts, condition,
                  n.on_failure)
        return True


def start(app: App, runtime: LambdaRuntime, *, endpoint: str, region: str, queue_name: str = QUEUE_NAME,
          retry_delays: tuple[float, ...] = RETRY_DELAYS) -> S3EventSource | None:
    """Start delivering the template's S3 notifications (None when it declares none)."""
    if not app.s3:
        return None
    source = S3EventSource(app.s3, runtime, endpoint=endpoint, region=region, retry_delays=retry_delays,
                           queue_name=queue_name)
    source.start()
    return source
