"""The order worker: consumes the orders queue, routed by message type.

`order.placed`: settle the order and request its webhook. `webhook.delivery-updated`: show
how a webhook went in its order. One failing record never fails its neighbours; a record of a
type this worker does not handle goes to the dead-letter queue with the reason.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messages.orders import OrderPlaced
from messages.webhooks import WebhookDeliveryUpdated
from orders.domain import notifications, service
from orders.settings import WorkerSettings
from shared.batch import MessageRouter, SQSRecord
from shared.observability import logger, metrics
from shared.settings import load_settings

SETTINGS = WorkerSettings  # what this function reads from its environment

router = MessageRouter()


@router.handles(OrderPlaced)
def settle(message: OrderPlaced, record: SQSRecord) -> None:
    settings = load_settings(WorkerSettings)
    logger.info(
        "Settling order",
        extra={
            "order_id": message.data.order_id,
            "receive_count": int(record.attributes.approximate_receive_count or 0),
        },
    )
    store = settings.store()
    order = service.settle_order(message.data.order_id, store)
    if order is not None:
        notifications.publish_pending(order, store, settings.queues())


@router.handles(WebhookDeliveryUpdated)
def record_delivery(message: WebhookDeliveryUpdated, record: SQSRecord) -> None:
    service.record_delivery(message.data, load_settings(WorkerSettings).store())


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(WorkerSettings)  # before the event is touched
    return router.process(event, context, settings.orders_dlq_url)
