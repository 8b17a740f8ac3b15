"""The API keeps its published contract: schemathesis sends generated requests to every operation
of events/openapi.json on the local runtime, with a valid token, and checks every answer.

Checks: no 5xx; status code, content type, headers and body as the document declares them.
Bounded: 30 examples per operation and phase, then a few scenarios that follow the document's
link from POST /orders to the order it placed; about 20 s in all.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.local.runtime import LocalRuntime
from infra.tools.contracts import OPENAPI_FILE
from tests.local.conftest import Http

pytestmark = pytest.mark.local

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))

# The committed document, loaded at collection (one test per operation); requests go to the
# runtime the test is given.
schema = schemathesis.openapi.from_path(OPENAPI_FILE)


def keep_callbacks_local(case: Any, runtime: LocalRuntime) -> None:
    """Generated callbackUrls name hosts on the internet: webhooks go to the built-in receiver."""
    if isinstance(case.body, dict) and isinstance(case.body.get("callbackUrl"), str):
        case.body["callbackUrl"] = runtime.receiver_url


@pytest.fixture(scope="module")
def authorization(runtime: LocalRuntime) -> dict[str, str]:
    """A valid token of the runtime's default client, with every scope."""
    http = Http.for_runtime(runtime)
    assert http.client is not None
    return {"Authorization": f"Bearer {http.token()}", "x-api-key": http.client.api_key}


@schema.parametrize()
@BOUNDED
def test_every_operation_keeps_the_contract(
    case: Any, runtime: LocalRuntime, authorization: dict[str, str]
) -> None:
    keep_callbacks_local(case, runtime)
    case.call_and_validate(base_url=runtime.api_url, headers=authorization, checks=CHECKS)


def test_a_placed_order_followed_by_its_link_keeps_the_contract(
    runtime: LocalRuntime, authorization: dict[str, str]
) -> None:
    """Stateful: POST /orders, then GET /orders/{orderId} with the id its 202 gave (the link)."""

    class FollowTheLink(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            keep_callbacks_local(case, runtime)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": runtime.api_url, "headers": authorization}

        def validate_response(self, response: Any, case: Any, *_: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    FollowTheLink.run(settings=settings(BOUNDED, max_examples=10, stateful_step_count=6))


@pytest.mark.parametrize(("sku", "settled"), [("CB-005", "CONFIRMED"), ("XX-404", "REJECTED")])
def test_a_settled_order_keeps_the_contract(
    runtime: LocalRuntime, http: Http, authorization: dict[str, str], sku: str, settled: str
) -> None:
    """Priced (CONFIRMED) and refused (REJECTED, with its reason) orders match `Order` too."""
    order_id = http.place((sku, 1))
    assert http.wait_for(order_id)["status"] == settled
    case = schema.find_operation_by_id("getOrder").Case(path_parameters={"orderId": order_id})
    case.call_and_validate(base_url=runtime.api_url, headers=authorization, checks=CHECKS)
