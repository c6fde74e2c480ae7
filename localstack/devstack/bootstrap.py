"""Creates what the functions expect to exist: AWS resources, Kafka topics, collections, users, demo data.

Everything here is idempotent, so it runs on every ``devstack up`` (and after a broker restart,
for the topics).
"""

from __future__ import annotations

import importlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import boto3
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from devstack.template import App

log = logging.getLogger("devstack.bootstrap")

TOPIC_PARTITIONS = 3
MSK_CLUSTER_NAME = "shop-events"


def topics_for(app: App) -> list[str]:
    """The contract's topics, plus any topic a mapping or a kafka:// destination names."""
    from shop.envelope import TOPICS

    names = list(TOPICS)
    for mapping in app.kafka:
        names.extend(mapping.topics)
        if mapping.on_failure and mapping.on_failure.startswith("kafka://"):
            names.append(mapping.on_failure.removeprefix("kafka://"))
    return sorted(set(names))


def ensure_topics(bootstrap: str, topics: list[str], *, partitions: int = TOPIC_PARTITIONS,
                  timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="devstack-bootstrap",
                                     request_timeout_ms=5000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass
            log.info("created %d topics with %d partitions", len(missing), partitions)
    finally:
        admin.close()


def _aws(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def ensure_secret(endpoint: str, region: str, secret_id: str, key_file: Path) -> None:
    """The JWT signing key; kept in the data folder so tokens survive a restart of the local stack."""
    if key_file.exists():
        value = key_file.read_text().strip()
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        key_file.write_text(value)
        key_file.chmod(0o600)
    sm = _aws("secretsmanager", endpoint, region)
    try:
        current = sm.get_secret_value(SecretId=secret_id)["SecretString"]
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=secret_id, SecretString=value, Description="JWT signing key of the shop API")
        return
    if current != value:
        sm.put_secret_value(SecretId=secret_id, SecretString=value)


def ensure_queues(endpoint: str, region: str, app: App) -> None:
    sqs = _aws("sqs", endpoint, region)
    for name, res in app.resources.items():
        if res.get("Type") == "AWS::SQS::Queue":
            sqs.create_queue(QueueName=res.get("Properties", {}).get("QueueName", name))


def ensure_msk_cluster(endpoint: str, region: str) -> str:
    """Registers the MSK cluster in the AWS emulator; its ARN is what the event-source mappings carry.

    Returns "" when the endpoint has no MSK API (LocalStack's community edition), and the
    template's default ARN is used instead.
    """
    try:
        return _msk_cluster(endpoint, region)
    except Exception as exc:
        log.warning("no MSK API at %s (%s); using the template's MskClusterArn", endpoint, type(exc).__name__)
        return ""


def _msk_cluster(endpoint: str, region: str) -> str:
    kafka = _aws("kafka", endpoint, region)
    for cluster in kafka.list_clusters_v2().get("ClusterInfoList", []):
        if cluster.get("ClusterName") == MSK_CLUSTER_NAME:
            return str(cluster["ClusterArn"])
    created = kafka.create_cluster_v2(
        ClusterName=MSK_CLUSTER_NAME,
        Serverless={"VpcConfigs": [{"SubnetIds": ["subnet-local-a", "subnet-local-b"]}]},
    )
    return str(created["ClusterArn"])


def ensure_database() -> None:
    from shop import clients
    from shop.indexes import ensure_indexes

    ensure_indexes(clients.db())


def _optional(module: str, attr: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def ensure_users_and_demo(admin_email: str, admin_password: str, *, seed_demo: bool) -> None:
    ensure_admin = _optional("shop.identity.service", "ensure_admin")
    if ensure_admin is not None:
        ensure_admin(admin_email, admin_password, "Shop Admin")
        log.info("admin account: %s", admin_email)
    else:
        log.warning("shop.identity.service.ensure_admin not found; no admin account created")
    if seed_demo:
        seed = _optional("shop.catalog.demo", "seed_demo_products")
        if seed is not None:
            created = seed()
            log.info("demo products: %d created", created)
            started = time.monotonic()
            drawn = _optional("shop.catalog.demo", "seed_demo_images")
            if drawn is not None:
                log.info("demo pictures: %d drawn in %.2fs", drawn(), time.monotonic() - started)
        else:
            log.warning("shop.catalog.demo.seed_demo_products not found; no demo data")
    from shop import clients

    clients.kafka_producer().flush(10)
