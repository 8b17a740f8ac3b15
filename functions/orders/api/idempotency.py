"""Idempotent POST /orders: the `Idempotency-Key` header, persisted with Powertools.

Same key and same body: the first answer again, and one order. Same key, other body: refused.
Same key while the first request is still running: refused as in progress. Keys expire after
the topology's window (24 hours). If the first request died after recording its order (its
record expires with the Lambda invocation), the retry runs again and `service.place_order`
finds that order by key, re-enqueues it if it was never settled and answers it: a client retry
heals the crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
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
from pydantic import BaseModel, ConfigDict

from orders.domain import service
from orders.domain.errors import IdempotencyKeyReused, RequestInProgress
from orders.domain.models import Accepted, PlaceOrder
from orders.settings import ApiSettings
from shared.aws import dynamodb


class PlaceOrderCommand(BaseModel):
    model_config = ConfigDict(defer_build=True)

    idempotency_key: str  # scoped_key(client, key)
    request: PlaceOrder


def scoped_key(client: str, key: str) -> str:
    """The key as stored: unambiguous per client (`a#b` + `c` never meets `a` + `b#c`)."""
    return json.dumps([client, key], separators=(",", ":"))


@cache
def _idempotent_place(
    table_name: str, window_s: int
) -> tuple[IdempotencyConfig, Callable[..., Accepted]]:
    config = IdempotencyConfig(
        event_key_jmespath="idempotency_key",
        payload_validation_jmespath="request",
        expires_after_seconds=window_s,
    )
    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb())

    def place(
        command: PlaceOrderCommand, client: str, correlation_id: str, settings: ApiSettings
    ) -> Accepted:
        return service.place_order(
            command.request,
            client,
            correlation_id,
            store=settings.store(),
            queues=settings.queues(),
            local_mode=settings.webhook_local_mode,
            idempotency_key=command.idempotency_key,
            idempotency_window=timedelta(seconds=settings.idempotency_window_seconds),
        )

    decorated: Callable[..., Accepted] = idempotent_function(
        data_keyword_argument="command",
        persistence_store=persistence,
        config=config,
        output_serializer=PydanticSerializer(model=Accepted),
    )(place)
    return config, decorated


def place_order(
    key: str,
    request: PlaceOrder,
    client: str,
    correlation_id: str,
    settings: ApiSettings,
    context: LambdaContext,
) -> Accepted:
    """Place an order at most once per (client, key); raises the domain's errors."""
    config, place = _idempotent_place(
        settings.idempotency_table_name, settings.idempotency_window_seconds
    )
    # in-progress records expire with this invocation, so a crashed request can be retried
    config.register_lambda_context(context)
    command = PlaceOrderCommand(idempotency_key=scoped_key(client, key), request=request)
    try:
        result: Any = place(
            command=command, client=client, correlation_id=correlation_id, settings=settings
        )
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgress("retry once the first request has finished") from error
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(
            "an Idempotency-Key stands for one request body for its window"
        ) from error
    return Accepted.model_validate(result)
