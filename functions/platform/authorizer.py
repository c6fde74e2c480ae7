"""Lambda TOKEN authorizer: a valid bearer JWT → Allow with the caller in the context."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)

from shop.auth import tokens
from shop.errors import Unauthorized


@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def handler(event: APIGatewayAuthorizerTokenEvent, context: Any) -> dict[str, Any]:
    try:
        claims = tokens.verify(tokens.bearer(event.authorization_token))
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
