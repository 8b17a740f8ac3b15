"""The order worker: settles each queued order; one failing record never fails its neighbours."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import notifications, service
from orders.models import OrderPlacedMessage
from shared.batch import process_sqs_batch
from shared.observability import correlated, logger, metrics


def record_handler(record: SQSRecord) -> None:
    """Parse one record and settle its order. Raising fails this record alone."""
    message = OrderPlacedMessage.model_validate_json(record.body)
    with correlated(message.correlation_id):
        logger.info(
            "Settling order",
            extra={"order_id": message.data.order_id, "receive_count": _receive_count(record)},
        )
        order = service.settle_order(message.data.order_id)
        if order is not None:
            notifications.publish_pending(order)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, record_handler)


def _receive_count(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 0)
