"""Use cases of the order API, the order worker and the sweeper.

Plain functions over the domain's models: the adapters they use (`store`, `queues`) are given
to them, built by the handler from the function's settings.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from messages.orders import OrderPlaced, OrderRef
from messages.webhooks import DeliveryUpdate
from orders.adapters.queues import OrderQueues
from orders.adapters.store import OrderStore
from orders.domain import notifications
from orders.domain.errors import (
    CallbackRefused,
    InsufficientStock,
    OrderAlreadySettled,
    OrderNotFound,
    ProductNotFound,
    QueueUnavailable,
)
from orders.domain.ids import uuid7
from orders.domain.models import (
    Accepted,
    Money,
    Notification,
    Order,
    OrderStatus,
    PlaceOrder,
    PricedLine,
    Product,
    ProductList,
    StoredOrder,
)
from shared.envelope import utc_now
from shared.observability import correlated, logger, metrics
from shared.ssrf import UnsafeCallback, vet


def list_products(store: OrderStore) -> ProductList:
    return ProductList(items=store.list_products())


def get_product(sku: str, store: OrderStore) -> Product:
    product = store.get_product(sku)
    if product is None:
        raise ProductNotFound(sku)
    return product


def get_order(order_id: str, store: OrderStore, client_id: str | None = None) -> Order:
    """The order, if it exists and (when `client_id` is given) belongs to that client."""
    order = store.get_order(order_id)
    if order is None or (client_id is not None and order.client_id != client_id):
        raise OrderNotFound(order_id)
    return Order.model_validate(order.model_dump(include=set(Order.model_fields)))


def place_order(
    request: PlaceOrder,
    client_id: str,
    correlation_id: str,
    *,
    store: OrderStore,
    queues: OrderQueues,
    local_mode: bool = False,
    idempotency_key: str | None = None,
    idempotency_window: timedelta = timedelta(hours=24),
) -> Accepted:
    """Record the order, then enqueue it; 202 is earned only once the message is durable.

    With an idempotency key, an order the key already created is answered again instead, and
    re-enqueued if it is still ACCEPTED (healing a crash between the write and the send).
    """
    if request.callback_url is not None:
        try:
            vet(str(request.callback_url), local_mode)
        except UnsafeCallback as refused:
            raise CallbackRefused(str(refused)) from refused
    if idempotency_key is not None:
        existing = store.find_order_by_idempotency_key(idempotency_key)
        if existing is not None and existing.created_at >= utc_now() - idempotency_window:
            if existing.status is OrderStatus.ACCEPTED:
                logger.info(
                    "Re-enqueueing an order on a client retry",
                    extra={"order_id": existing.order_id},
                )
                _enqueue(existing, queues)
            return _accepted(existing)
    now = utc_now()
    order = StoredOrder(
        order_id=uuid7(),
        customer_id=request.customer_id,
        status=OrderStatus.ACCEPTED,
        items=[PricedLine(sku=line.sku, quantity=line.quantity) for line in request.items],
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
        client_id=client_id,
        callback_url=str(request.callback_url) if request.callback_url else None,
        idempotency_key=idempotency_key,
        accepted_shard=str(random.randrange(store.tables.accepted_shards)),
    )
    store.insert_order(order)
    try:
        _enqueue(order, queues)
    except QueueUnavailable:
        logger.exception("Order not enqueued; removing it", extra={"order_id": order.order_id})
        if not store.delete_accepted_order(order.order_id):
            # the send did land after all (a timeout after SQS stored it) and was settled
            logger.warning("Order was enqueued after all", extra={"order_id": order.order_id})
            return _accepted(order)
        raise
    logger.info("Order accepted", extra={"order_id": order.order_id})
    metrics.add_metric(name="OrdersAccepted", unit="Count", value=1)
    return _accepted(order)


def sweep(
    older_than_s: float, max_reenqueues: int, *, store: OrderStore, queues: OrderQueues
) -> dict[str, int]:
    """Re-enqueue orders unfinished after `older_than_s`: still ACCEPTED (their message was
    lost), or settled with a webhook event never handed to the notifications queue (their
    message went to the dead-letter queue between the two). The worker settles at most once and
    publishes what is still unpublished, so a re-send that was not needed changes nothing.

    An order re-sent `max_reenqueues` times is left for an operator (its message keeps
    failing and sits in the dead-letter queue) and counted as stuck.
    """
    cutoff = (utc_now() - timedelta(seconds=older_than_s)).isoformat()
    counts = {"reenqueued": 0, "stuck": 0, "settled": 0}
    for order_id in store.unfinished_before(cutoff):
        order = store.get_order(order_id)
        settled = order is not None and order.status is not OrderStatus.ACCEPTED
        if order is None:
            counts["settled"] += 1
            continue
        if settled and not notifications.unpublished(order):
            # its event got out and how it went came back, but the publishing write never
            # ran (a crash in between): nothing is owed, so it leaves the index
            store.leave_sweep_index(order_id)
            counts["settled"] += 1
            continue
        if order.reenqueued >= max_reenqueues:
            logger.error(
                "Order stuck unfinished; see the orders DLQ",
                extra={"order_id": order_id, "status": order.status},
            )
            counts["stuck"] += 1
            continue
        try:
            store.count_reenqueue(order_id)
        except OrderAlreadySettled:
            counts["settled"] += 1
            continue
        with correlated(order.correlation_id):
            logger.warning(
                "Re-enqueueing a settled order whose webhook event was never published"
                if settled
                else "Re-enqueueing an order whose message was lost",
                extra={"order_id": order_id},
            )
            try:
                _enqueue(order, queues)
            except QueueUnavailable:  # the next sweep tries again; the others go on now
                logger.exception("Re-enqueue failed", extra={"order_id": order_id})
                continue
        counts["reenqueued"] += 1
    if counts["reenqueued"]:
        metrics.add_metric(name="OrdersReenqueued", unit="Count", value=counts["reenqueued"])
    return counts


def _enqueue(order: StoredOrder, queues: OrderQueues) -> None:
    """Send the order's one message (same id on every re-send); raises QueueUnavailable."""
    queues.send_order_placed(
        OrderPlaced(
            id=order.order_id,
            correlation_id=order.correlation_id,
            occurred_at=utc_now(),
            data=OrderRef(order_id=order.order_id),
        )
    )


def _accepted(order: StoredOrder) -> Accepted:
    return Accepted(order_id=order.order_id)


def settle_order(order_id: str, store: OrderStore) -> StoredOrder | None:
    """Price the order from the catalog and reserve its stock, or reject it; at most once.

    Returns the order as settled (by this call or an earlier delivery), or None when it was
    never accepted. Settling records, in the same write, the webhook event the order owes.
    """
    order = store.get_order(order_id)
    if order is None:
        logger.warning("Order not found; it was never accepted", extra={"order_id": order_id})
        return None
    if order.status is not OrderStatus.ACCEPTED:
        logger.info("Order already settled", extra={"order_id": order_id})
        return order
    try:
        return _settle(order, store)
    except OrderAlreadySettled:
        logger.info("Order settled concurrently by another delivery", extra={"order_id": order_id})
        return store.get_order(order_id)


def _settle(order: StoredOrder, store: OrderStore) -> StoredOrder:
    settled_at = utc_now()
    catalog = store.get_products(line.sku for line in order.items)
    reason = _rejection_reason(order, catalog)
    if reason is None:
        lines, total = _price(order, catalog)
        owed = notifications.owed(order, OrderStatus.CONFIRMED)
        try:
            store.confirm_order(order.order_id, lines, total, settled_at.isoformat(), owed)
        except InsufficientStock as shortage:
            reason = str(shortage)
        else:
            logger.info(
                "Order confirmed", extra={"order_id": order.order_id, "total": total.amount}
            )
            metrics.add_metric(name="OrdersConfirmed", unit="Count", value=1)
            _settlement_latency(order, settled_at)
            return _settled(
                order, OrderStatus.CONFIRMED, settled_at, owed, items=lines, total=total
            )
    owed = notifications.owed(order, OrderStatus.REJECTED)
    store.reject_order(order.order_id, reason, settled_at.isoformat(), owed)
    logger.info("Order rejected", extra={"order_id": order.order_id, "reason": reason})
    metrics.add_metric(name="OrdersRejected", unit="Count", value=1)
    _settlement_latency(order, settled_at)
    return _settled(order, OrderStatus.REJECTED, settled_at, owed, reason=reason)


def _settlement_latency(order: StoredOrder, settled_at: datetime) -> None:
    """How long the order waited between acceptance and settlement (queue, retries, work)."""
    waited_ms = (settled_at - order.created_at).total_seconds() * 1000
    metrics.add_metric(name="SettlementLatency", unit="Milliseconds", value=waited_ms)


def _settled(
    order: StoredOrder,
    status: OrderStatus,
    settled_at: datetime,
    owed: list[Notification],
    **changes: Any,
) -> StoredOrder:
    """The order as its settling write left it."""
    update = {"status": status, "updated_at": settled_at, "notifications": owed} | changes
    return order.model_copy(update=update)


def _rejection_reason(order: StoredOrder, catalog: dict[str, Product]) -> str | None:
    """Why the catalog cannot fill the order as asked, before touching any stock."""
    unknown = sorted(line.sku for line in order.items if line.sku not in catalog)
    if unknown:
        return f"unknown SKU: {', '.join(unknown)}"
    currencies = Counter(catalog[line.sku].unit_price.currency for line in order.items)
    if len(currencies) > 1:
        return f"items are priced in different currencies: {', '.join(sorted(currencies))}"
    return None


def _price(order: StoredOrder, catalog: dict[str, Product]) -> tuple[list[PricedLine], Money]:
    """Lines priced from the catalog (never from the client) and their total."""
    prices = {line.sku: catalog[line.sku].unit_price for line in order.items}
    lines = [
        PricedLine(sku=line.sku, quantity=line.quantity, unit_price=prices[line.sku])
        for line in order.items
    ]
    total = sum(line.quantity * prices[line.sku].amount for line in order.items)
    currency = prices[order.items[0].sku].currency
    return lines, Money(amount=total, currency=currency)


def record_delivery(update: DeliveryUpdate, store: OrderStore) -> bool:
    """Show how a webhook event's delivery went in its order's `notifications`.

    Updates may arrive late or twice: one older than what the order shows changes nothing.
    """
    state = update.model_dump(
        mode="json",
        by_alias=True,
        include={
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "destination_paused",
        },
    )
    applied = store.record_delivery(update.order_id, update.event_id, state, update.sequence)
    if not applied:
        logger.info("Delivery update superseded", extra={"event_id": update.event_id})
    return applied
