"""template.yaml → runtime specs, without any service."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.template import TemplateError, _rate_seconds, load_app

ROOT = Path(__file__).resolve().parents[2]


def test_project_template_routes_authorizer_and_cors() -> None:
    """Every API route of the real template is read, with its authorizer unless it opts out."""
    app = load_app(ROOT / "template.yaml")
    routes = {(r.method, r.path): r for r in app.routes}
    assert routes[("GET", "/api/health")].authorizer is None
    assert routes[("POST", "/api/auth/login")].authorizer is None
    assert routes[("GET", "/api/auth/me")].authorizer == "JwtAuthorizer"
    assert routes[("POST", "/api/orders")].authorizer == "JwtAuthorizer"
    assert app.authorizers["JwtAuthorizer"].function == "AuthorizerFunction"
    assert app.cors is not None and "Idempotency-Key" in app.cors.allow_headers
    assert app.stage == "local"


def test_globals_merge_into_each_function() -> None:
    """Globals (runtime, env, layers) merge with each function's own properties; parameters resolve."""
    app = load_app(ROOT / "template.yaml", parameters={"MongoDbUri": "mongodb://db:1/"})
    health = app.functions["HealthFunction"]
    assert health.environment["MONGODB_URI"] == "mongodb://db:1/"
    assert health.environment["POWERTOOLS_SERVICE_NAME"] == "shop"
    assert health.layer_dirs == (ROOT / "layers" / "shared" / "python",)
    assert health.code_dir == ROOT / "functions" / "platform"
    assert app.functions["OutboxSweeperFunction"].timeout == 60


def test_kafka_mappings_and_schedule() -> None:
    """MSK events become mappings with their settings; the sweeper's rate becomes seconds."""
    app = load_app(ROOT / "template.yaml", parameters={"MskClusterArn": "arn:aws:kafka:x"})
    audit = next(m for m in app.kafka if m.function == "AuditFunction")
    assert audit.event_source_arn == "arn:aws:kafka:x"
    assert audit.consumer_group_id == "shop-audit"
    assert audit.bisect_on_error and audit.max_retry_attempts == 3
    assert audit.on_failure == "arn:aws:sqs:us-east-1:000000000000:shop-consumer-dlq"
    assert len(audit.topics) == 12
    assert [(s.function, s.interval_seconds) for s in app.schedules] == [("OutboxSweeperFunction", 60.0),
                                                                     ("SagaReconcilerFunction", 60.0)]


def test_every_kafka_function_has_a_bounded_retry_and_a_destination() -> None:
    """No mapping in the template can block a partition forever."""
    app = load_app(ROOT / "template.yaml")
    assert app.kafka
    for mapping in app.kafka:
        assert mapping.max_retry_attempts >= 0, mapping.function
        assert mapping.on_failure, mapping.function


def test_rate_expressions() -> None:
    """rate(N unit) is understood; cron is refused with a clear error."""
    assert _rate_seconds("rate(1 minute)") == 60
    assert _rate_seconds("rate(5 minutes)") == 300
    assert _rate_seconds("rate(2 hours)") == 7200
    with pytest.raises(TemplateError, match="only rate"):
        _rate_seconds("cron(0 12 * * ? *)")
