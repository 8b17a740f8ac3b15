"""Idempotent POST /orders: the `Idempotency-Key` header, persisted with Powertools.

Same key and same body: the first answer again, and one order. Same key, other body: refused.
Same key while the first request is still running: refused as in progress. Keys expire after
24 hours. If the first request died after recording its order (its record expires with the
Lambda invocation), the retry runs again and `service.place_order` finds that order by key,
re-enqueues it if it was never settled and answers it: a client retry heals the crash.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from orders import service
from orders.errors import IdempotencyKeyReused, RequestInProgress
from orders.models import OrderAccepted, PlaceOrder
from shared.aws import dynamodb
from shared.settings import get_settings

KEY_TTL_S = int(service.IDEMPOTENCY_WINDOW.total_seconds())


class PlaceOrderCommand(BaseModel):
    idempotency_key: str
    request: PlaceOrder


@cache
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="idempotency_key",
        payload_validation_jmespath="request",
        expires_after_seconds=KEY_TTL_S,
    )


def register_invocation(context: LambdaContext) -> None:
    """In-progress records expire with this invocation, so a crashed request can be retried."""
    _config().register_lambda_context(context)


@cache
def _idempotent_place() -> Callable[..., OrderAccepted]:
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().require("idempotency_table_name"), boto3_client=dynamodb()
    )

    def place(
        command: PlaceOrderCommand, client: str, correlation_id: str, base_path: str
    ) -> OrderAccepted:
        return service.place_order(
            command.request, client, correlation_id, base_path, command.idempotency_key
        )

    decorated: Callable[..., OrderAccepted] = idempotent_function(
        data_keyword_argument="command",
        persistence_store=persistence,
        config=_config(),
        output_serializer=PydanticSerializer(model=OrderAccepted),
    )(place)
    return decorated


def place_order(
    key: str, request: PlaceOrder, client: str, correlation_id: str, base_path: str
) -> OrderAccepted:
    """Place an order at most once per (client, key); raises Powertools' idempotency errors."""
    command = PlaceOrderCommand(idempotency_key=f"{client}#{key}", request=request)
    try:
        result: Any = _idempotent_place()(
            command=command, client=client, correlation_id=correlation_id, base_path=base_path
        )
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgress("retry once the first request has finished") from error
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(
            "an Idempotency-Key stands for one request body for 24 hours"
        ) from error
    return OrderAccepted.model_validate(result)
