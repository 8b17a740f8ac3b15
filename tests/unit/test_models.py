"""Request validation rules of the order domain."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orders.domain.models import MAX_ITEMS_PER_ORDER, PlaceOrder


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


def test_only_the_published_camel_case_names_are_accepted() -> None:
    with pytest.raises(ValidationError):
        PlaceOrder.model_validate(
            {"customer_id": "c-1", "items": [{"sku": "KB-001", "quantity": 1}]}
        )


def test_integral_numbers_are_integers_as_in_json_schema() -> None:
    parsed = PlaceOrder.model_validate(order(items=[{"sku": "KB-001", "quantity": 2.0}]))
    assert parsed.items[0].quantity == 2


def test_a_callback_url_is_kept_and_measured_as_sent() -> None:
    url = "https://example.com?q=" + "a" * (2048 - len("https://example.com?q="))
    assert PlaceOrder.model_validate(order(callbackUrl=url)).callback_url == url
    with pytest.raises(ValidationError):
        PlaceOrder.model_validate(order(callbackUrl=url + "a"))
