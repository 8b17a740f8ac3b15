"""Named domain failures; the API maps each to one status code in exactly one place."""


class DomainError(Exception):
    pass


class ProductNotFound(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with SKU {sku}")
        self.sku = sku


class OrderNotFound(DomainError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order {order_id}")
        self.order_id = order_id


class CallbackRefused(DomainError):
    """The callbackUrl points where the system must never send requests (SSRF guard)."""


class RequestInProgress(DomainError):
    """A request with the same Idempotency-Key is still being served."""


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was first used with a different body."""


class QueueUnavailable(DomainError):
    """The order could not be durably enqueued; nothing was accepted."""


class OrderAlreadySettled(Exception):
    """The order left ACCEPTED before this write: a redelivery or a concurrent worker."""


class InsufficientStock(Exception):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"insufficient stock for {sku}: requested {requested}, available {available}"
        )
        self.sku, self.requested, self.available = sku, requested, available
