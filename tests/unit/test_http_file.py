"""events/api.http has a request for every route of the topology (it cannot fall behind)."""

from __future__ import annotations

import re

from infra.topology import TOPOLOGY
from tests.conftest import REPO


def test_every_route_has_a_request() -> None:
    requests = re.findall(
        r"^(GET|POST|PUT|PATCH|DELETE) \{\{base\}\}(\S+)$",
        (REPO / "events" / "api.http").read_text(),
        re.M,
    )
    for route in TOPOLOGY.routes:
        assert any(
            method == route.method and route.matches(path.split("?")[0]) is not None
            for method, path in requests
        ), f"events/api.http has no {route.method} {route.path}"
