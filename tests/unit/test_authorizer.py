"""The TOKEN authorizer's answer, read back by the local gateway's policy check."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack.apigateway import _allows
from shop.auth import tokens

KEY = "unit-test-signing-key-0123456789abcdef"
ARN = "arn:aws:execute-api:us-east-1:000000000000:localapi01/Prod/GET/api/orders/42"
HANDLER = Path(__file__).resolve().parents[2] / "functions" / "platform" / "authorizer.py"


@pytest.fixture()
def authorizer(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(tokens, "signing_key", lambda: KEY)
    spec = importlib.util.spec_from_file_location("authorizer_under_test", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The user lookup is a database read, exercised against the real stack in
    # tests/integration/test_identity_api.py; here only "u-1" exists.
    monkeypatch.setattr(module, "user_exists", lambda user_id: user_id == "u-1")
    return module


def event(token: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": ARN}


def test_valid_token_allows_every_route_of_the_stage_with_the_caller(authorizer: ModuleType) -> None:
    """A valid token gets an Allow for the API's stage (the answer is cached per token) and the caller."""
    policy = authorizer.handler(event("Bearer " + tokens.issue("u-1", "admin", "a@example.com")), None)
    assert policy["principalId"] == "u-1"
    assert policy["context"] == {"userId": "u-1", "role": "admin", "email": "a@example.com"}
    assert policy["policyDocument"]["Statement"] == [{
        "Action": "execute-api:Invoke", "Effect": "Allow",
        "Resource": ["arn:aws:execute-api:us-east-1:000000000000:localapi01/Prod/*/*"]}]
    assert _allows(policy, ARN)
    assert _allows(policy, ARN.replace("GET/api/orders/42", "PATCH/api/inventory/7"))
    assert not _allows(policy, ARN.replace("localapi01", "otherapi"))


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_missing_or_invalid_token_is_unauthorized(authorizer: ModuleType, header: str) -> None:
    """API Gateway answers 401 for exactly the error message ``Unauthorized``."""
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event(header), None)


def test_token_signed_with_another_key_is_unauthorized(authorizer: ModuleType) -> None:
    """A token signed with a key that is no longer current (a rotated secret) is refused."""
    stale = tokens.issue("u-1", "customer", "c@example.com", secret="the-previous-signing-key-0123456789")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event("Bearer " + stale), None)


def test_token_of_a_user_that_does_not_exist_is_unauthorized(authorizer: ModuleType) -> None:
    """A validly signed token whose user was deleted or never created gets no policy (401)."""
    ghost = tokens.issue("u-ghost", "customer", "ghost@example.com")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event("Bearer " + ghost), None)
