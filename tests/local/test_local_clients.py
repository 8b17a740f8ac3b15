"""`make run`'s local clients: one per app client of the topology, or LOCAL_CLIENTS."""

from __future__ import annotations

import dataclasses

import pytest

from infra.orders_local import local_clients
from infra.topology import TOPOLOGY, AppClient

pytestmark = pytest.mark.local


def test_several_clients_from_an_environment_variable() -> None:
    clients = local_clients(
        {"LOCAL_CLIENTS": "alice:alice-secret:alice-key, bob:bob-secret:bob-key:orders/read"}
    )

    assert [(c.client_id, c.client_secret, c.api_key) for c in clients] == [
        ("alice", "alice-secret", "alice-key"),
        ("bob", "bob-secret", "bob-key"),
    ]
    assert clients[1].scopes == ("orders/read",)


def test_one_client_per_app_client_of_the_topology() -> None:
    topology = dataclasses.replace(
        TOPOLOGY,
        app_clients=(*TOPOLOGY.app_clients, AppClient("partner", ("orders/read",), burst=5)),
    )

    first, partner = local_clients({"LOCAL_CLIENT_SECRET": "s3cret"}, topology)

    assert (first.client_id, first.client_secret) == ("local-client", "s3cret")
    assert (partner.client_id, partner.scopes, partner.burst) == ("partner", ("orders/read",), 5)
    assert first.api_key != partner.api_key
    assert first.client_secret != partner.client_secret


def test_a_malformed_client_list_is_refused() -> None:
    with pytest.raises(ValueError, match="LOCAL_CLIENTS"):
        local_clients({"LOCAL_CLIENTS": "alice:no-key"})
