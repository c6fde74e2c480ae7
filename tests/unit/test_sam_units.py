"""SAM CLI support without Docker: the --env-vars document, the bridge address, the image's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import sam_env, sam_image
from devstack.settings import ROOT, StackSettings
from devstack.template import load_app

STACK_ENV = {"MONGODB_URI": "mongodb://172.17.0.1:27017/?directConnection=true",
             "KAFKA_BOOTSTRAP_SERVERS": "172.17.0.1:9092", "AWS_ENDPOINT_URL": "http://172.17.0.1:4566",
             "JWT_SECRET_ID": "shop/jwt-signing-key"}


def test_env_vars_cover_every_function_with_what_it_declares() -> None:
    app = load_app(ROOT / "template.yaml")
    doc = sam_env.env_vars(app, STACK_ENV, {"LOW_STOCK_THRESHOLD": "3", "NOT_DECLARED": "x"})
    assert set(doc) == set(app.functions)
    for name, variables in doc.items():
        # SAM CLI passes only what the template declares: nothing more may be written.
        assert set(variables) == set(app.functions[name].environment), name
        assert variables["MONGODB_URI"] == STACK_ENV["MONGODB_URI"]
        assert variables["KAFKA_BOOTSTRAP_SERVERS"] == STACK_ENV["KAFKA_BOOTSTRAP_SERVERS"]
        assert variables["AWS_ENDPOINT_URL"] == STACK_ENV["AWS_ENDPOINT_URL"]
    declaring = [n for n, f in app.functions.items() if "LOW_STOCK_THRESHOLD" in f.environment]
    assert declaring and all(doc[n]["LOW_STOCK_THRESHOLD"] == "3" for n in declaring)


def test_the_template_leaves_the_aws_endpoint_empty_unless_given() -> None:
    """On AWS the variable is empty (unset for boto3 and shop.config); the local runtime passes the emulator's."""
    assert load_app(ROOT / "template.yaml").functions["HealthFunction"].environment["AWS_ENDPOINT_URL"] == ""
    app = load_app(ROOT / "template.yaml", parameters={"AwsEndpointUrl": "http://127.0.0.1:4566"})
    assert app.functions["AuthorizerFunction"].environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_loopback_stack_is_flagged() -> None:
    assert sam_env.loopback_only({**STACK_ENV, "MONGODB_URI": "mongodb://127.0.0.1:27017/"})
    assert not sam_env.loopback_only(STACK_ENV)


def test_bridge_address_reads_an_interface() -> None:
    assert sam_env.bridge_address("lo") == "127.0.0.1"
    assert sam_env.bridge_address("no-such-if0") is None


def test_services_host_moves_only_the_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_SERVICES_HOST", "172.17.0.1")
    s = StackSettings()
    assert s.mongodb.startswith("mongodb://172.17.0.1:") and s.kafka.startswith("172.17.0.1:")
    assert s.aws.startswith("http://172.17.0.1:")
    assert s.api_url.startswith("http://127.0.0.1:")
    monkeypatch.delenv("DEVSTACK_SERVICES_HOST")
    default = StackSettings()
    assert "127.0.0.1" in default.mongodb and default.kafka.startswith("127.0.0.1:")


def test_debian_mirror_from_either_sources_format(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
                      "Components: main\n\nTypes: deb\nURIs: http://other.invalid/x\nSuites: nodistro\n")
    assert sam_image.debian_mirror([deb822]) == "http://mirror.invalid/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://one.invalid/debian bookworm main\n")
    assert sam_image.debian_mirror([one_line]) == "http://one.invalid/debian"


def test_image_inputs_digest_changes_with_its_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sam_image.inputs_digest()
    assert before == sam_image.inputs_digest()
    monkeypatch.setattr(sam_image, "RUNTIME_PACKAGES", ("awslambdaric==4.2.1", "boto3==1.44.18"))
    assert sam_image.inputs_digest() != before
