"""Lambda TOKEN authorizer: a valid bearer JWT → Allow with the caller in the context."""

from __future__ import annotations

from typing import Any

from shop.auth import tokens
from shop.errors import Unauthorized


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        claims = tokens.verify(tokens.bearer(event.get("authorizationToken")))
    except Unauthorized as exc:
        # API Gateway turns exactly this message into a 401.
        raise Exception("Unauthorized") from exc
    # Allow the whole API: the result is cached per token, and per-route rules (role,
    # ownership) are the functions' job.
    arn_parts = str(event.get("methodArn", "")).split("/")
    resource = "/".join(arn_parts[:2]) + "/*/*" if len(arn_parts) >= 2 else "*"
    return {
        "principalId": claims.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": {"userId": claims.user_id, "role": claims.role, "email": claims.email},
    }
