"""Lambda TOKEN authorizer: a valid bearer JWT of an existing user → Allow with the caller in the context.

The user lookup is one database read per token per ``ReauthorizeEvery`` (API Gateway caches the
answer per token), so a validly signed token of a deleted or never-created user is refused (401)
at the cost of one read a minute per active token. While the database is unreachable the token
alone decides: every route that acts on the user needs the database and answers 503 by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from pymongo.errors import ConnectionFailure

from shop.auth import tokens
from shop.errors import Unauthorized
from shop.identity.service import user_exists

log = logging.getLogger(__name__)


def _known(user_id: str) -> bool:
    try:
        return user_exists(user_id)
    except ConnectionFailure as exc:
        log.warning("user lookup skipped, database unreachable: %s", exc.__class__.__name__)
        return True


@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def handler(event: APIGatewayAuthorizerTokenEvent, context: Any) -> dict[str, Any]:
    try:
        claims = tokens.verify(tokens.bearer(event.authorization_token))
        if not _known(claims.user_id):
            raise Unauthorized("no such user", code="unknown_user")
    except Unauthorized as exc:
        # API Gateway turns exactly this message into a 401.
        raise Exception("Unauthorized") from exc
    # Allow the whole API (every method and path of this stage): the result is cached per token,
    # and per-route rules (role, ownership) are the functions' job.
    policy = APIGatewayAuthorizerResponse.from_route_arn(
        event.method_arn, principal_id=claims.user_id,
        context={"userId": claims.user_id, "role": claims.role, "email": claims.email})
    policy.allow_all_routes()
    return policy.asdict()
