"""Generate events/schemas/ from the Pydantic models: the models are the one source.

    make contracts        # rewrite the committed files
A test regenerates in memory and fails when the committed files drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO / "events" / "schemas"
sys.path.insert(0, str(REPO / "functions"))

from orders import models  # noqa: E402 - functions/ is the Lambda code root, not a package

Mode = Literal["validation", "serialization"]

# file stem -> (model, what the schema describes: what we accept or what we send)
CONTRACTS: dict[str, tuple[type[BaseModel], Mode]] = {
    "api/place-order.request": (models.PlaceOrder, "validation"),
    "api/order-accepted.response": (models.OrderAccepted, "serialization"),
    "api/order.response": (models.Order, "serialization"),
    "api/product.response": (models.Product, "serialization"),
    "api/product-list.response": (models.ProductList, "serialization"),
    "api/problem.response": (models.Problem, "serialization"),
    "messages/order-placed.v1": (models.OrderPlacedMessage, "validation"),
    "messages/webhook-requested.v1": (models.WebhookRequestedMessage, "validation"),
    "webhooks/order-event.payload": (models.WebhookPayload, "serialization"),
}


def render() -> dict[Path, str]:
    """Every schema file's path and exact text."""
    files: dict[Path, str] = {}
    for stem, (model, mode) in CONTRACTS.items():
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:orders-api:schema:{stem}",
            **model.model_json_schema(by_alias=True, mode=mode),
        }
        files[SCHEMAS_DIR / f"{stem}.schema.json"] = json.dumps(schema, indent=2) + "\n"
    return files


def main() -> None:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
