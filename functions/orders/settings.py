"""What each function of the orders component reads from its environment (see shared.settings).

The topology gives the values; tests/unit/test_settings.py holds each model to exactly the
variables the topology gives its function.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, Json

from orders.adapters.queues import OrderQueues
from orders.adapters.store import OrderStore, OrderTables
from shared.settings import FunctionSettings


class RouteSpec(BaseModel):
    method: str
    path: str
    scopes: list[str] = Field(min_length=1)


class ApiSettings(FunctionSettings):
    products_table_name: str = Field(min_length=1)
    orders_table_name: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)
    orders_by_idempotency_key_index: str = Field(min_length=1)
    orders_queue_url: str = Field(min_length=1)
    accepted_shards: int = Field(ge=1)
    idempotency_window_seconds: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1)
    problem_type_prefix: str = Field(min_length=1)
    api_routes: Json[dict[str, RouteSpec]]  # operation id -> route
    # set only by the local runtime: callbacks may use plain http to loopback addresses
    webhook_local_mode: bool = False

    def store(self) -> OrderStore:
        return OrderStore(
            OrderTables(
                products=self.products_table_name,
                orders=self.orders_table_name,
                by_idempotency_key_index=self.orders_by_idempotency_key_index,
                accepted_shards=self.accepted_shards,
            )
        )

    def queues(self) -> OrderQueues:
        return OrderQueues(orders_queue_url=self.orders_queue_url)


class WorkerSettings(FunctionSettings):
    products_table_name: str = Field(min_length=1)
    orders_table_name: str = Field(min_length=1)
    notifications_queue_url: str = Field(min_length=1)
    orders_dlq_url: str = Field(min_length=1)

    def store(self) -> OrderStore:
        return OrderStore(
            OrderTables(products=self.products_table_name, orders=self.orders_table_name)
        )

    def queues(self) -> OrderQueues:
        return OrderQueues(notifications_queue_url=self.notifications_queue_url)


class SweeperSettings(FunctionSettings):
    orders_table_name: str = Field(min_length=1)
    orders_awaiting_settlement_index: str = Field(min_length=1)
    orders_queue_url: str = Field(min_length=1)
    accepted_shards: int = Field(ge=1)
    sweep_after_seconds: float = Field(gt=0)
    sweep_max_reenqueues: int = Field(ge=1)

    def store(self) -> OrderStore:
        return OrderStore(
            OrderTables(
                orders=self.orders_table_name,
                awaiting_settlement_index=self.orders_awaiting_settlement_index,
                accepted_shards=self.accepted_shards,
            )
        )

    def queues(self) -> OrderQueues:
        return OrderQueues(orders_queue_url=self.orders_queue_url)
