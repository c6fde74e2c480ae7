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
                _mongo = MongoClient(get_settings().mongodb_uri, serverSelectionTimeoutMS=5000, tz_aware=True)
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
                )
    return _producer


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
