"""Allows token "allow-<user>", denies "deny", rejects anything else as Unauthorized."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = str(event.get("authorizationToken", "")).removeprefix("Bearer ")
    if token == "deny":
        effect = "Deny"
    elif token.startswith("allow-"):
        effect = "Allow"
    else:
        raise Exception("Unauthorized")
    return {
        "principalId": token.removeprefix("allow-") or "nobody",
        "policyDocument": {"Version": "2012-10-17",
                           "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                                          "Resource": event["methodArn"]}]},
        "context": {"userId": token.removeprefix("allow-"), "role": "customer"},
    }
