"""The local runtime enforces tokens and scopes as API Gateway's Cognito authorizer does."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from infra.local.auth import Client
from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from tests.local.conftest import Http

pytestmark = pytest.mark.local

ALICE = Client("alice", "alice-secret")
READER = Client("reader", "reader-secret", scopes=("orders/read",))


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with orders_runtime(port=0, echo_logs=False, clients=[ALICE, READER]) as started:
        yield started


def token_request(
    runtime: LocalRuntime, form: dict[str, str], basic: str | None
) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    reply = Http(runtime.api_url).request(
        "POST", "/oauth2/token", urllib.parse.urlencode(form).encode(), headers
    )
    return reply.status, reply.body


def test_the_token_endpoint_issues_short_lived_access_tokens(runtime: LocalRuntime) -> None:
    status, body = token_request(
        runtime, {"grant_type": "client_credentials"}, "alice:alice-secret"
    )

    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    assert claims["client_id"] == "alice"
    assert claims["token_use"] == "access"
    assert set(claims["scope"].split()) == {"orders/read", "orders/write"}
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize(
    ("form", "basic", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, "alice:wrong", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, "alice:alice-secret", 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "orders/write"},
            "reader:reader-secret",
            400,
            "invalid_scope",
        ),
    ],
)
def test_the_token_endpoint_refuses_bad_requests(
    runtime: LocalRuntime, form: dict[str, str], basic: str | None, status: int, error: str
) -> None:
    assert token_request(runtime, form, basic) == (status, {"error": error})


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not.a.jwt", "Basic YWxpY2U6YWxpY2Utc2VjcmV0"],
)
def test_requests_without_a_valid_token_get_401(
    runtime: LocalRuntime, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = Http(runtime.api_url).request("GET", "/products", headers=headers)
    assert reply.status == 401
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.body["type"] == "urn:orders-api:problem:gateway-UNAUTHORIZED"


def test_forged_and_expired_tokens_get_401(runtime: LocalRuntime) -> None:
    assert runtime.authorizer is not None
    expired = runtime.authorizer.issue(ALICE, ("orders/read",), now=time.time() - 3600)
    forged_header, _, signature = runtime.authorizer.issue(ALICE, ("orders/read",)).split(".")
    payload = (
        base64.urlsafe_b64encode(
            json.dumps({"client_id": "mallory", "scope": "orders/read"}).encode()
        )
        .decode()
        .rstrip("=")
    )
    for token in (expired, f"{forged_header}.{payload}.{signature}"):
        reply = Http(runtime.api_url).request(
            "GET", "/products", headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status == 401


def test_a_token_without_the_scope_gets_403(runtime: LocalRuntime) -> None:
    reader = Http.for_runtime(runtime, READER)
    assert reader.get("/products").status == 200

    reply = reader.post("/orders", {"customerId": "c", "items": [{"sku": "KB-001", "quantity": 1}]})

    assert reply.status == 403
    assert reply.body["type"] == "urn:orders-api:problem:gateway-ACCESS_DENIED"
    assert runtime.dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == 0


def test_unknown_routes_need_a_token_too(runtime: LocalRuntime) -> None:
    assert Http(runtime.api_url).get("/nowhere").status == 401
    assert Http.for_runtime(runtime).get("/nowhere").status == 404


def test_orders_belong_to_the_client_that_placed_them(runtime: LocalRuntime) -> None:
    alice = Http.for_runtime(runtime, ALICE)
    order_id = alice.place(("KB-001", 1))

    assert alice.get(f"/orders/{order_id}").status == 200
    reply = Http.for_runtime(runtime, READER).get(f"/orders/{order_id}")
    assert reply.status == 404


def test_claims_reach_the_function_where_api_gateway_puts_them(runtime: LocalRuntime) -> None:
    Http.for_runtime(runtime, ALICE).place(("MS-002", 1))
    stored = runtime.dynamodb.scan(TableName="orders")["Items"]
    assert {item["clientId"]["S"] for item in stored} == {"alice"}


def test_tokens_and_client_secrets_never_reach_the_logs(runtime: LocalRuntime) -> None:
    alice = Http.for_runtime(runtime, ALICE)
    order_id = alice.place(("CB-005", 1))
    alice.wait_for(order_id)
    token = alice.token()

    lines = runtime.log_lines()
    assert any(order_id in line for line in lines)  # the logs are there...
    assert not [
        line for line in lines if token.split(".")[2] in line or ALICE.client_secret in line
    ]


def test_every_request_needs_its_usage_plans_api_key(runtime: LocalRuntime) -> None:
    http = Http.for_runtime(runtime, ALICE)
    token = http.token()
    for headers in ({}, {"x-api-key": "not-a-key"}):
        reply = Http(runtime.api_url).request(
            "GET", "/products", headers={"Authorization": f"Bearer {token}"} | headers
        )
        assert (reply.status, reply.body["type"]) == (
            403,
            "urn:orders-api:problem:gateway-INVALID_API_KEY",
        )
    assert http.get("/products").status == 200


def test_each_client_is_throttled_and_capped_by_its_own_plan() -> None:
    slow = Client("slow", "slow-secret", rate_per_second=0.01, burst=2)
    capped = Client("capped", "capped-secret", quota_per_day=3)
    with orders_runtime(port=0, echo_logs=False, clients=[slow, capped, ALICE]) as runtime:
        slow_http, capped_http = Http.for_runtime(runtime, slow), Http.for_runtime(runtime, capped)

        statuses = [slow_http.get("/products").status for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert slow_http.get("/products").body["type"] == "urn:orders-api:problem:gateway-THROTTLED"
        assert [capped_http.get("/products").status for _ in range(4)] == [200, 200, 200, 429]
        assert (
            capped_http.get("/products").body["type"]
            == "urn:orders-api:problem:gateway-QUOTA_EXCEEDED"
        )
        # one client's limits are its own
        assert Http.for_runtime(runtime, ALICE).get("/products").status == 200
