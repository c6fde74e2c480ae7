"""The realtime relay: a long-lived asyncio WebSocket service fed by the contract's Kafka topics.

The core holds no I/O and is unit-tested without services: ``mapping`` (envelope → deliveries),
``cursor`` (the opaque resume position), ``retention`` (the replay buffer), ``hub`` (subscriptions
and fan-out), ``session`` (the auth/subscribe state machine of one connection). The I/O layers are
``kafka_source`` (a confluent-kafka consumer in a thread) and ``server`` (websockets + health).
"""
