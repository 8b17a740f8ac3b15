"""shared.dynamodb_items writes what boto3's TypeSerializer writes, for every type we store, and
reads back the plain values."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from shared.dynamodb_items import from_item, to_attribute, to_item

STORED = [
    "text",
    "",
    0,
    -7,
    2**53 + 1,
    True,
    False,
    None,
    ["a", 1, True],
    {"sku": "KB-001", "quantity": 2, "unitPrice": {"amount": 1999, "currency": "USD"}},
    [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}],
    {},
    [],
]


@pytest.mark.parametrize("value", STORED, ids=repr)
def test_each_value_is_written_as_boto3_writes_it(value: Any) -> None:
    assert to_attribute(value) == TypeSerializer().serialize(value)


def test_an_item_round_trips_to_plain_values_and_leaves_out_none() -> None:
    values = {"id": "o-1", "total": 20700, "paid": False, "lines": STORED[10], "note": None}
    item = to_item(values)
    assert "note" not in item
    assert from_item(item) == {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("value", [1.5, {1, 2}, b"bytes"], ids=repr)
def test_what_the_stores_never_write_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        to_attribute(value)
