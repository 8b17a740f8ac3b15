"""SQS batches with partial batch responses: one failing record never fails its neighbours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

_processor = BatchProcessor(event_type=EventType.SQS)


def process_sqs_batch(
    event: dict[str, Any], context: LambdaContext, record_handler: Callable[[SQSRecord], None]
) -> dict[str, Any]:
    """Run `record_handler` on each record; `{"batchItemFailures": [...]}` for those that raised."""
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=_processor, context=context
        )
    )
