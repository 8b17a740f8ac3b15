"""The product catalog: its file (a JSON list of products, as `GET /products/{sku}` answers
them), the item layout the orders component reads, and the rule for loading it again.

The rule: loading upserts by SKU. Name and price always take the file's values; the stock
(`available`) is written only for a SKU that is new to the table, unless `reset_stock` says so.
Stock is live state, lowered by every confirmed order: a file written last week knows nothing
of this week's orders, and the table cannot tell cheaply which products have any (orders are
not indexed by SKU). So a reload never rewrites a stock that already exists, ordered or not;
restocking is an explicit `--reset-stock` (with the file's new figures).

No CDK and no boto3 import: the ops CLI, `make run`'s seeding and the CDK app's opt-in seeding
custom resource share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE_CATALOG = REPOSITORY / "infra" / "sample_catalog.json"
PRODUCT_SCHEMA = REPOSITORY / "events" / "schemas" / "api" / "product.response.schema.json"

Product = dict[str, Any]  # {"sku", "name", "unitPrice": {"amount", "currency"}, "available"}


class CatalogError(ValueError):
    """A catalog file that cannot be loaded: every problem, with where it is."""


def read_catalog(path: Path) -> list[Product]:
    try:
        products = json.loads(path.read_text())
    except OSError as error:
        raise CatalogError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise CatalogError(f"{path} is not JSON: {error}") from None
    return validate(products, str(path))


def validate(products: Any, where: str = "the catalog") -> list[Product]:
    """The products, if each is a valid product (the API's own schema) and no SKU repeats."""
    if not isinstance(products, list):
        raise CatalogError(f"{where}: expected a JSON list of products")
    validator = Draft202012Validator(json.loads(PRODUCT_SCHEMA.read_text()))
    problems = [
        f"#{index} {'/'.join(map(str, error.absolute_path)) or '(product)'}: {error.message}"
        for index, product in enumerate(products)
        for error in validator.iter_errors(product)
    ]
    skus = [p.get("sku") for p in products if isinstance(p, dict)]
    problems += [
        f"SKU {sku} appears {skus.count(sku)} times"
        for sku in sorted(set(skus), key=str)
        if skus.count(sku) > 1
    ]
    if problems:
        raise CatalogError(f"{where}: " + "; ".join(problems))
    return products


def product_item(product: Product) -> dict[str, Any]:
    """The DynamoDB item (attribute values) `orders.adapters.store` reads."""
    return {
        "sku": {"S": product["sku"]},
        "name": {"S": product["name"]},
        "priceAmount": {"N": str(product["unitPrice"]["amount"])},
        "currency": {"S": product["unitPrice"]["currency"]},
        "available": {"N": str(product["available"])},
    }


def from_item(item: dict[str, Any]) -> Product:
    return {
        "sku": item["sku"]["S"],
        "name": item["name"]["S"],
        "unitPrice": {"amount": int(item["priceAmount"]["N"]), "currency": item["currency"]["S"]},
        "available": int(item["available"]["N"]),
    }


@dataclass
class LoadResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # name or price may have changed
    stock_kept: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (kept, file's)
    stock_reset: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (was, now)


def load(
    dynamodb: DynamoDBClient, table: str, products: list[Product], *, reset_stock: bool = False
) -> LoadResult:
    """Upsert every product by SKU; an existing stock is kept unless `reset_stock`."""
    result = LoadResult()
    for product in products:
        item = product_item(product)
        stock = (
            "available = :available"
            if reset_stock
            else ("available = if_not_exists(available, :available)")
        )
        answer = dynamodb.update_item(
            TableName=table,
            Key={"sku": item["sku"]},
            UpdateExpression=f"SET #name = :name, priceAmount = :amount, currency = :currency, {stock}",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={
                ":name": item["name"],
                ":amount": item["priceAmount"],
                ":currency": item["currency"],
                ":available": item["available"],
            },
            ReturnValues="ALL_OLD",
        )
        old = answer.get("Attributes")
        sku = product["sku"]
        if not old:
            result.created.append(sku)
            continue
        result.updated.append(sku)
        was = int(old["available"]["N"]) if "available" in old else None
        if was is not None and was != product["available"]:
            if reset_stock:
                result.stock_reset[sku] = (was, product["available"])
            else:
                result.stock_kept[sku] = (was, product["available"])
    return result


def products_in(dynamodb: DynamoDBClient, table: str) -> list[Product]:
    """The whole catalog, sorted by SKU."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return sorted((from_item(item) for item in items), key=lambda p: str(p["sku"]))


def sample_catalog() -> list[Product]:
    return validate(json.loads(SAMPLE_CATALOG.read_text()), str(SAMPLE_CATALOG))
