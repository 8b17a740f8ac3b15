"""The orders system on the local runtime: its topology and code, and the extras `make run`
shows (the sample catalog, the token endpoint's clients, the verifying webhook receiver, the
contract at /docs). `infra.local` itself knows nothing of orders; this module configures it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.catalog import product_item
from infra.catalog import sample_catalog as catalog_sample
from infra.local.auth import Client
from infra.local.runtime import LocalRuntime, new_webhook_secret
from infra.topology import (
    ACCESS_TOKEN_MINUTES,
    CATCH_ALL_SCOPES,
    PROBLEM_TYPE_PREFIX,
    PRODUCTS_TABLE,
    TOPOLOGY,
    WEBHOOK_SECRET,
    Function,
    Topology,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPOSITORY = Path(__file__).resolve().parents[1]
CODE_DIR = REPOSITORY / "functions"
OPENAPI = REPOSITORY / "events" / "openapi.json"
SCHEMAS_DIR = REPOSITORY / "events" / "schemas"
ISSUER = "urn:local:orders-user-pool"
assert ACCESS_TOKEN_MINUTES == 15, "infra.local.auth issues 15-minute tokens"


def orders_runtime(
    topology: Topology = TOPOLOGY,
    *,
    webhook_secret: str | None = None,
    seed: bool = True,
    clients: Sequence[Client] | None = None,
    callback_ports: Iterable[int] = (),
    **options: Any,
) -> LocalRuntime:
    """The orders system on a LocalRuntime; `options` are LocalRuntime's own. Webhooks are
    signed with `webhook_secret`, by default both `v1a` (ed25519) and `v1` (HMAC)."""
    secret = webhook_secret or new_webhook_secret(ed25519=True)
    return LocalRuntime(
        topology,
        CODE_DIR,
        clients=clients,
        issuer=ISSUER,
        catch_all_scopes=CATCH_ALL_SCOPES,
        secrets={WEBHOOK_SECRET.name: secret},
        webhook_receiver=secret,
        callback_ports=callback_ports,
        openapi=OPENAPI,
        schemas_dir=SCHEMAS_DIR,
        problem_type_prefix=PROBLEM_TYPE_PREFIX,
        realm="orders",
        static_environment=topology.static_environment,
        environment=callback_environment,
        seed=seed_sample_catalog if seed else None,
        **options,
    )


def callback_environment(runtime: LocalRuntime, function: Function) -> dict[str, str]:
    """Callbacks may be plain http to loopback locally (never on AWS), and only to the ports
    the runtime allows: the built-in receiver's and the ones its starter named, never moto's."""
    return {
        "WEBHOOK_LOCAL_MODE": "true",
        "WEBHOOK_LOCAL_ALLOWED_PORTS": ",".join(map(str, runtime.loopback_ports)),
    }


def local_clients(environ: Mapping[str, str], topology: Topology = TOPOLOGY) -> list[Client]:
    """`make run`'s clients: LOCAL_CLIENTS if set (`id:secret:api-key[:scope scope...]`, comma
    separated), else one per app client of the topology; the first is named by LOCAL_CLIENT_ID
    (default `local-client`), with LOCAL_CLIENT_SECRET and LOCAL_CLIENT_API_KEY."""
    listed = environ.get("LOCAL_CLIENTS", "").strip()
    if listed:
        clients = []
        for entry in listed.split(","):
            client_id, secret, api_key, *rest = [*entry.strip().split(":"), "", ""][:4]
            if not (client_id and secret and api_key):
                raise ValueError(f"LOCAL_CLIENTS: {entry!r} is not id:secret:api-key[:scopes]")
            scopes = tuple(rest[0].split()) if rest and rest[0] else ()
            clients.append(Client(client_id, secret, scopes, api_key))
        return clients
    clients = [Client.from_app_client(app) for app in topology.app_clients] or [
        Client.generate("local-client")
    ]
    first = replace(clients[0], client_id=environ.get("LOCAL_CLIENT_ID", "local-client"))
    if environ.get("LOCAL_CLIENT_SECRET"):
        first = replace(first, client_secret=environ["LOCAL_CLIENT_SECRET"])
    if environ.get("LOCAL_CLIENT_API_KEY"):
        first = replace(first, api_key=environ["LOCAL_CLIENT_API_KEY"])
    return [first, *clients[1:]]


def seed_sample_catalog(runtime: LocalRuntime) -> None:
    seed_catalog(runtime.dynamodb, runtime.table_name(PRODUCTS_TABLE.name), sample_catalog())


def seed_catalog(dynamodb: DynamoDBClient, table_name: str, products: list[dict[str, Any]]) -> None:
    """Write products in the item layout `orders.store` reads (a local test pins the two)."""
    for product in products:
        dynamodb.put_item(TableName=table_name, Item=product_item(product))


def sample_catalog() -> list[dict[str, Any]]:
    return catalog_sample()


def from_environment() -> dict[str, Any]:
    """`make run`'s options from its environment variables."""
    ports = [int(p) for p in os.environ.get("LOCAL_CALLBACK_PORTS", "").split(",") if p.strip()]
    return {"webhook_secret": os.environ.get("WEBHOOK_SECRET"), "callback_ports": ports}
