"""DynamoDB attribute values (`{"S": "..."}`) to and from the plain values our stores keep.

Not boto3's TypeSerializer: importing `boto3.dynamodb.types` imports all of boto3 (its S3
transfer manager and resource layer), which the functions otherwise skip at cold start
(shared.aws). Both directions cover exactly what the stores write and read (text, integers,
booleans, lists and maps; string sets on reading) and refuse anything else, as boto3 refuses
floats; tests/unit/test_dynamodb_items.py holds them to boto3's output.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def to_attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"{type(value).__name__} is not stored in DynamoDB here: {value!r}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values of `values`, leaving out the None ones (absent, not NULL)."""
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_attribute(value: Mapping[str, Any]) -> Any:
    ((kind, data),) = value.items()
    if kind == "S":
        return data
    if kind == "N":
        return _number(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(v) for v in data]
    if kind == "M":
        return {k: from_attribute(v) for k, v in data.items()}
    if kind == "SS":
        return set(data)
    raise TypeError(f"DynamoDB type {kind} is not read here")


def _number(text: str) -> int | Decimal:
    """Ours are all integers; anything else stays exact."""
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else number


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of an item."""
    return {k: from_attribute(v) for k, v in item.items()}
