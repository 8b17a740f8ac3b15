"""The API function, invoked with API Gateway sample events against moto."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from infra.topology import TOPOLOGY, Route
from orders.adapters.store import OrderStore
from orders.api import handler
from orders.settings import ApiSettings
from shared.settings import load_settings
from tests.conftest import load_event
from tests.handlers.helpers import (
    PROBLEM,
    Aws,
    as_client,
    get_order_event,
    invoke,
    place_order_event,
)


def test_routes_match_the_topology(aws: Aws) -> None:
    # the function serves the topology's routes (from API_ROUTES), each bound to its code
    routes = load_settings(ApiSettings).api_routes
    assert sorted(handler.OPERATIONS) == sorted(
        r.operation.operation_id for r in TOPOLOGY.routes if r.operation
    )
    assert {(r.method, r.path): list(r.scopes) for r in TOPOLOGY.routes} == {
        (spec.method, spec.path): spec.scopes for spec in routes.values()
    }


@pytest.mark.parametrize(
    "route", TOPOLOGY.routes, ids=lambda r: f"{r.method} {r.path}".replace("/", "_")
)
def test_every_route_is_served_and_checks_its_scopes(aws: Aws, route: Route) -> None:
    # Given a verified client whose token carries none of the route's scopes
    event = load_event("api/list_products")
    values = {"sku": "KB-001", "orderId": "01a20a90-6da9-7051-8636-e5604348235b"}
    event["httpMethod"], event["resource"] = route.method, route.path
    event["path"] = route.path.format(**values)
    event["pathParameters"] = {name: values[name] for name in route.parameters} or None
    event["requestContext"]["authorizer"]["claims"]["scope"] = "orders/none"

    status, _, problem = invoke(event)

    # Then the route exists (no 404 or 405) and the function itself refuses the token
    assert (status, problem["type"]) == (403, "urn:orders-api:problem:insufficient-scope")
    assert problem["detail"] == f"needs one of {', '.join(route.scopes)}"
    assert aws.count("orders") == 0


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
    status, _, body = invoke(get_order_event(order_id))

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
    status, headers, body = invoke(get_order_event(order_id))
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
        (
            # over Python's 4,300-digit limit for integers: malformed JSON, never a 500
            place_order_event(
                raw='{"customerId": "c-1", "items": [{"sku": "KB-001", "quantity": '
                + "1" * 4_301
                + "}]}"
            ),
            400,
            "malformed-json",
        ),
    ],
    ids=["malformed", "content-type", "too-large", "no-items", "not-an-object", "huge-integer"],
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

    status, headers, body = invoke(place_order_event())

    assert status == 503
    assert headers["Retry-After"] == "1"
    assert body["type"] == "urn:orders-api:problem:queue-unavailable"
    assert aws.count("orders") == 0


def test_unexpected_error_is_a_500_problem(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: OrderStore) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(OrderStore, "list_products", broken)
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


def test_an_order_is_visible_only_to_the_client_that_placed_it(aws: Aws) -> None:
    order_id = invoke(place_order_event())[2]["orderId"]

    assert invoke(as_client(get_order_event(order_id), "sample-client"))[0] == 200
    status, _, problem = invoke(as_client(get_order_event(order_id), "another-client"))
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
