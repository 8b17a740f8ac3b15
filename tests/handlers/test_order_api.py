"""The API function, invoked with API Gateway sample events against moto."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from order_api import handler

from infra.topology import TOPOLOGY
from tests.conftest import FakeContext, load_event
from tests.handlers.conftest import Aws

PROBLEM = "application/problem+json"


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response = handler.lambda_handler(event, FakeContext(function_name="order-api"))
    headers = {k: v[-1] for k, v in response.get("multiValueHeaders", {}).items()}
    headers |= response.get("headers") or {}
    body = response["body"]
    return response["statusCode"], headers, json.loads(body) if body else None


def place_order_event(body: Any = None, raw: str | None = None, **headers: str) -> dict[str, Any]:
    event = load_event("api/place_order")
    if body is not None or raw is not None:
        event["body"] = raw if raw is not None else json.dumps(body)
    event["headers"].update(headers)
    return event


def test_routes_match_the_topology() -> None:
    assert sorted(handler.ROUTES) == sorted((r.method, r.path) for r in TOPOLOGY.routes)
    assert {(r.method, r.path): r.scopes for r in TOPOLOGY.routes} == handler.SCOPES


def test_list_products_returns_the_catalog_with_prices(aws: Aws) -> None:
    status, headers, body = invoke(load_event("api/list_products"))

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    skus = [p["sku"] for p in body["items"]]
    assert skus == sorted(skus)
    assert "KB-001" in skus
    keyboard = next(p for p in body["items"] if p["sku"] == "KB-001")
    assert keyboard == {
        "sku": "KB-001",
        "name": "Mechanical keyboard",
        "unitPrice": {"amount": 8900, "currency": "EUR"},
        "available": 25,
    }


def test_get_product_and_unknown_product(aws: Aws) -> None:
    status, _, body = invoke(load_event("api/get_product"))
    assert (status, body["sku"]) == (200, "KB-001")

    event = load_event("api/get_product")
    event["path"], event["pathParameters"] = "/products/NOPE-1", {"sku": "NOPE-1"}
    status, headers, body = invoke(event)
    assert status == 404
    assert headers["Content-Type"] == PROBLEM
    assert body["type"] == "urn:orders-api:problem:not-found"


def test_place_order_records_it_enqueues_one_message_and_answers_202(aws: Aws) -> None:
    status, headers, body = invoke(place_order_event())

    assert status == 202
    order_id = body["orderId"]
    assert body == {
        "orderId": order_id,
        "status": "ACCEPTED",
        "links": {"self": f"/v1/orders/{order_id}"},
    }
    assert headers["Location"] == f"/v1/orders/{order_id}"
    assert headers["X-Correlation-Id"] == "sample-correlation-0001"
    assert aws.order_item(order_id)["status"] == {"S": "ACCEPTED"}
    (message,) = aws.receive()
    envelope = json.loads(message["Body"])
    assert envelope["type"] == "order.placed"
    assert envelope["version"] == 1
    assert envelope["correlationId"] == "sample-correlation-0001"
    assert envelope["data"] == {"orderId": order_id}
    assert message["MessageAttributes"]["correlationId"]["StringValue"] == "sample-correlation-0001"


def test_order_ids_sort_by_time(aws: Aws) -> None:
    ids = [invoke(place_order_event())[2]["orderId"] for _ in range(5)]
    assert ids == sorted(ids)


def test_get_order_shows_the_accepted_order(aws: Aws) -> None:
    order_id = invoke(place_order_event())[2]["orderId"]
    event = load_event("api/get_order")
    event["path"], event["pathParameters"] = f"/orders/{order_id}", {"orderId": order_id}

    status, _, body = invoke(event)

    assert status == 200
    assert body["status"] == "ACCEPTED"
    assert body["customerId"] == "c-42"
    assert body["items"] == [
        {"sku": "KB-001", "quantity": 2, "unitPrice": None},
        {"sku": "MS-002", "quantity": 1, "unitPrice": None},
    ]
    assert body["total"] is None
    assert "reason" not in body


@pytest.mark.parametrize("order_id", ["01a20a90-6da9-7051-8636-e5604348235b", "not-a-uuid"])
def test_unknown_order_is_404(aws: Aws, order_id: str) -> None:
    event = load_event("api/get_order")
    event["path"], event["pathParameters"] = f"/orders/{order_id}", {"orderId": order_id}
    status, headers, body = invoke(event)
    assert (status, headers["Content-Type"], body["status"]) == (404, PROBLEM, 404)


@pytest.mark.parametrize(
    ("event", "status", "kind"),
    [
        (place_order_event(raw='{"customerId": "c-1", "items": ['), 400, "malformed-json"),
        (place_order_event(**{"Content-Type": "text/plain"}), 415, "unsupported-media-type"),
        (
            place_order_event(raw=json.dumps({"customerId": "x" * 70_000, "items": []})),
            413,
            "payload-too-large",
        ),
        (place_order_event(body={"customerId": "c-1", "items": []}), 422, "validation-failed"),
        (place_order_event(body=[1, 2]), 422, "validation-failed"),
    ],
    ids=["malformed", "content-type", "too-large", "no-items", "not-an-object"],
)
def test_refused_requests_get_a_problem_and_change_nothing(
    aws: Aws, event: dict[str, Any], status: int, kind: str
) -> None:
    got, headers, body = invoke(event)

    assert got == status
    assert headers["Content-Type"] == PROBLEM
    assert body["type"] == f"urn:orders-api:problem:{kind}"
    assert body["status"] == status
    assert body["title"]
    assert aws.count("orders") == 0
    assert aws.receive() == []


def test_validation_errors_point_at_each_field(aws: Aws) -> None:
    body = {
        "customerId": "",
        "items": [{"sku": "KB-001", "quantity": 0}, {"sku": "bad sku", "quantity": 1}],
        "callbackUrl": "not a url",
        "unitPrice": 1,
    }
    status, _, problem = invoke(place_order_event(body=body))

    assert status == 422
    pointers = {error["pointer"] for error in problem["errors"]}
    assert pointers == {
        "/customerId",
        "/items/0/quantity",
        "/items/1/sku",
        "/callbackUrl",
        "/unitPrice",
    }


def test_duplicate_skus_are_refused(aws: Aws) -> None:
    body = {"customerId": "c", "items": [{"sku": "KB-001", "quantity": 1}] * 2}
    status, _, problem = invoke(place_order_event(body=body))
    assert status == 422
    assert [e["pointer"] for e in problem["errors"]] == ["/items"]


def test_base64_body_is_decoded(aws: Aws) -> None:
    event = place_order_event()
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(event)[0] == 202


def test_unknown_route_is_404_and_wrong_method_is_405(aws: Aws) -> None:
    event = load_event("api/list_products")
    event["path"], event["resource"] = "/nothing/here", "/{proxy+}"
    status, headers, body = invoke(event)
    assert (status, headers["Content-Type"], body["type"]) == (
        404,
        PROBLEM,
        "urn:orders-api:problem:not-found",
    )

    event = load_event("api/list_products")
    event["httpMethod"] = "DELETE"
    status, headers, body = invoke(event)
    assert (status, headers["Allow"], body["type"]) == (
        405,
        "GET",
        "urn:orders-api:problem:method-not-allowed",
    )

    event = load_event("api/get_order")
    event["httpMethod"] = "PUT"
    assert invoke(event)[1]["Allow"] == "GET"


def test_queue_failure_answers_503_and_leaves_no_order(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue that cannot take the message
    monkeypatch.setenv("ORDERS_QUEUE_URL", aws.resources.queue_urls["orders"] + "-missing")
    from shared.settings import get_settings

    get_settings.cache_clear()

    status, headers, body = invoke(place_order_event())

    assert status == 503
    assert headers["Retry-After"] == "1"
    assert body["type"] == "urn:orders-api:problem:queue-unavailable"
    assert aws.count("orders") == 0


def test_unexpected_error_is_a_500_problem(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from orders import store

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "list_products", broken)
    status, headers, body = invoke(load_event("api/list_products"))
    assert (status, headers["Content-Type"], body["type"]) == (
        500,
        PROBLEM,
        "urn:orders-api:problem:internal-error",
    )
    assert "boom" not in json.dumps(body)


def test_malformed_correlation_id_is_replaced_by_the_request_id(aws: Aws) -> None:
    event = place_order_event(**{"X-Correlation-Id": "bad id with spaces"})
    _, headers, _ = invoke(event)
    assert headers["X-Correlation-Id"] == event["requestContext"]["requestId"]


def as_client(event: dict[str, Any], client_id: str | None) -> dict[str, Any]:
    claims = event["requestContext"]["authorizer"]["claims"]
    if client_id is None:
        del event["requestContext"]["authorizer"]
    else:
        claims["client_id"] = claims["sub"] = client_id
    return event


def test_an_order_is_visible_only_to_the_client_that_placed_it(aws: Aws) -> None:
    order_id = invoke(place_order_event())[2]["orderId"]
    event = load_event("api/get_order")
    event["path"], event["pathParameters"] = f"/orders/{order_id}", {"orderId": order_id}

    assert invoke(as_client(event, "sample-client"))[0] == 200
    status, _, problem = invoke(
        as_client(
            load_event("api/get_order")
            | {"path": f"/orders/{order_id}", "pathParameters": {"orderId": order_id}},
            "another-client",
        )
    )
    assert (status, problem["type"]) == (404, "urn:orders-api:problem:not-found")


def test_without_verified_claims_the_api_refuses(aws: Aws) -> None:
    status, _, problem = invoke(as_client(place_order_event(), None))
    assert (status, problem["type"]) == (401, "urn:orders-api:problem:unauthenticated")
    assert aws.count("orders") == 0


def test_idempotency_keys_are_scoped_per_client(aws: Aws) -> None:
    headers = {"Idempotency-Key": "same-key"}
    mine = invoke(as_client(place_order_event(**headers), "client-a"))[2]["orderId"]
    theirs = invoke(as_client(place_order_event(**headers), "client-b"))[2]["orderId"]
    assert mine != theirs
    assert aws.count("orders") == 2


def test_the_function_checks_the_scope_too(aws: Aws) -> None:
    # Given a read-only token that reached POST /orders by a path the authorizer treated as a
    # catch-all (e.g. `/orders/`)
    event = place_order_event()
    event["path"] = "/orders/"
    event["requestContext"]["authorizer"]["claims"]["scope"] = "orders/read"

    status, _, problem = invoke(event)

    assert (status, problem["type"]) == (403, "urn:orders-api:problem:insufficient-scope")
    assert aws.count("orders") == 0


def test_deeply_nested_json_is_a_400_not_a_crash(aws: Aws) -> None:
    status, _, problem = invoke(place_order_event(raw="[" * 30_000 + "]" * 30_000))
    assert (status, problem["type"]) == (400, "urn:orders-api:problem:malformed-json")
