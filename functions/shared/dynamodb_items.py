"""DynamoDB attribute values (`{"S": "..."}`) to and from the plain values our stores keep.

Not boto3's TypeSerializer: importing `boto3.dynamodb.types` imports all of boto3 (its S3
transfer manager and resource layer), which the functions otherwise skip at cold start
(shared.aws). Reading uses Powertools' copy of boto3's TypeDeserializer, which needs no boto3;
writing covers exactly what the stores write (text, integers, booleans, lists and maps) and
refuses anything else, as boto3 refuses floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

_deserializer = TypeDeserializer()


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


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of an item; numbers come back as Decimal and ours are all integers."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
