"""Request validation rules of the order domain."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orders.models import MAX_ITEMS_PER_ORDER, PlaceOrder


def order(**changes: Any) -> dict[str, Any]:
    return {"customerId": "c-1", "items": [{"sku": "KB-001", "quantity": 1}]} | changes


def test_a_valid_order_parses_to_snake_case() -> None:
    parsed = PlaceOrder.model_validate(order(callbackUrl="https://example.com/hook"))
    assert parsed.customer_id == "c-1"
    assert str(parsed.callback_url) == "https://example.com/hook"


@pytest.mark.parametrize(
    "changes",
    [
        {"items": []},
        {"items": [{"sku": f"SKU-{i}", "quantity": 1} for i in range(MAX_ITEMS_PER_ORDER + 1)]},
        {"items": [{"sku": "KB-001", "quantity": 0}]},
        {"items": [{"sku": "KB-001", "quantity": 1001}]},
        {"items": [{"sku": "KB-001", "quantity": 1.5}]},
        {"items": [{"sku": "KB-001", "quantity": 2.0}]},
        {"items": [{"sku": "KB-001", "quantity": "2"}]},
        {"items": [{"sku": "KB-001", "quantity": True}]},
        {"items": [{"sku": "lower-case", "quantity": 1}]},
        {"customerId": "with space"},
        {"customerId": "x" * 129},
        {"callbackUrl": "ftp://example.com"},
        {"total": 1},
    ],
)
def test_invalid_orders_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PlaceOrder.model_validate(order(**changes))
