"""Clients built once per process (warm invocations reuse them) and injectable for tests."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from kafka import KafkaProducer
from pymongo import MongoClient
from pymongo.database import Database

from shop.config import get_settings

_lock = threading.Lock()
_mongo: MongoClient[dict[str, Any]] | None = None
_producer: KafkaProducer | None = None
_boto: dict[str, Any] = {}


def mongo_client() -> MongoClient[dict[str, Any]]:
    """The process-wide MongoDB client."""
    global _mongo
    if _mongo is None:
        with _lock:
            if _mongo is None:
                settings = get_settings()
                # A short server selection: with the database away, an HTTP request answers 503 in
                # about this long (shop.http) instead of hanging, and a consumer fails its attempt.
                _mongo = MongoClient(settings.mongodb_uri, tz_aware=True,
                                     serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms)
    return _mongo


def db() -> Database[dict[str, Any]]:
    """The shop database."""
    return mongo_client()[get_settings().mongodb_db]


def kafka_producer() -> KafkaProducer:
    """The process-wide Kafka producer (acks=all, idempotent keys, no linger)."""
    global _producer
    if _producer is None:
        with _lock:
            if _producer is None:
                _producer = KafkaProducer(
                    bootstrap_servers=get_settings().kafka_bootstrap_servers.split(","),
                    acks="all",
                    linger_ms=0,
                    retries=3,
                    request_timeout_ms=5000,
                    max_block_ms=5000,
                    # Reconnect fast when the broker restarts instead of backing off for up to 30 s.
                    reconnect_backoff_max_ms=1000,
                    metadata_max_age_ms=10000,
                    # The idempotent producer wedges (UnknownProducerId) when an in-memory broker
                    # restarts empty; consumers are idempotent on the event id instead.
                    enable_idempotence=False,
                )
    return _producer


def reset_kafka_producer() -> None:
    """Drop the producer after a failure, so the next publish starts from a fresh connection."""
    global _producer
    with _lock:
        producer, _producer = _producer, None
    if producer is not None:
        try:
            producer.close(timeout=1)
        except Exception:  # closing a broken producer may fail too; it is discarded either way
            pass


def aws_client(service: str) -> Any:
    """A boto3 client for ``service``; honours ``AWS_ENDPOINT_URL`` (moto or LocalStack locally)."""
    client = _boto.get(service)
    if client is None:
        s = get_settings()
        client = boto3.client(service, region_name=s.aws_region, endpoint_url=s.aws_endpoint_url)
        _boto[service] = client
    return client


def set_clients(*, mongo: MongoClient[dict[str, Any]] | None = None, producer: KafkaProducer | None = None) -> None:
    """Inject clients (tests, the local runtime)."""
    global _mongo, _producer
    if mongo is not None:
        _mongo = mongo
    if producer is not None:
        _producer = producer
