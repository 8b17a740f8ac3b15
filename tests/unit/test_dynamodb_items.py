"""shared.dynamodb_items writes what boto3's TypeSerializer writes, for every type we store, and
reads back the plain values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from shared.dynamodb_items import from_attribute, from_item, to_attribute, to_item

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


@pytest.mark.parametrize("value", [*STORED, {"a", "b"}], ids=repr)
def test_each_value_is_read_as_boto3_reads_it(value: Any) -> None:
    """boto3 gives numbers as Decimal; ours are integers and come back as int."""
    attribute = TypeSerializer().serialize(value)
    assert from_attribute(attribute) == TypeDeserializer().deserialize(attribute) == value


def test_a_number_that_is_not_an_integer_stays_exact() -> None:
    assert from_attribute({"N": "2.50"}) == Decimal("2.5")
    assert from_attribute({"N": "7"}) == 7
    assert isinstance(from_attribute({"N": "7"}), int)


def test_an_item_round_trips_to_plain_values_and_leaves_out_none() -> None:
    values = {"id": "o-1", "total": 20700, "paid": False, "lines": STORED[10], "note": None}
    item = to_item(values)
    assert "note" not in item
    assert from_item(item) == {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("value", [1.5, {1, 2}, b"bytes"], ids=repr)
def test_what_the_stores_never_write_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        to_attribute(value)
