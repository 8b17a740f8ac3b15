"""Exact least privilege: each function's role holds exactly the actions its code calls, and the
README's table says exactly what the templates grant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.cdk.naming import construct_id, queue_parameter
from infra.tools.permissions import README, markdown, readme_table, topology_grants
from infra.topology import TOPOLOGY, Function, ResourceKind
from tests.infra.synth import (
    SSM_STRING,
    Json,
    Synth,
    allowed,
    secret_id,
    table_id,
)

pytestmark = pytest.mark.infra

# Read from the code (functions/), written out here so that a change to the topology's
# declarations is a change to this list too.
EXPECTED: dict[str, dict[tuple[ResourceKind, str], set[str]]] = {
    "order-api": {
        ("table", "products"): {"dynamodb:GetItem", "dynamodb:Scan"},
        ("table", "orders"): {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"},
        ("index", "orders/byIdempotencyKey"): {"dynamodb:Query"},
        ("table", "idempotency"): {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        ("queue", "orders"): {"sqs:SendMessage"},
    },
    "order-worker": {
        ("table", "products"): {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
        ("table", "orders"): {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        ("queue", "orders"): {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        ("queue", "notifications"): {"sqs:SendMessage"},
        ("dlq", "orders"): {"sqs:SendMessage"},
    },
    "notifier": {
        # its records, and each destination's circuit (notifications.circuit_state puts and updates it)
        ("table", "deliveries"): {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        ("queue", "notifications"): {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",  # a paused destination's event, postponed on its own queue
        },
        ("queue", "orders"): {"sqs:SendMessage"},
        ("dlq", "notifications"): {"sqs:SendMessage"},
        ("secret", "webhook-signing"): {"secretsmanager:GetSecretValue"},
    },
    "sweeper": {
        ("table", "orders"): {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        ("index", "orders/awaitingSettlement"): {"dynamodb:Query"},
        ("queue", "orders"): {"sqs:SendMessage"},
    },
}
# What every role has besides: its own log group, and X-Ray (Resource "*", see test_security).
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def names_of_resources(template: Json) -> dict[str, tuple[ResourceKind, str]]:
    """A grant's resource (as JSON text) -> what it names in the topology."""
    names: dict[str, tuple[ResourceKind, str]] = {}
    owned = {t.name for t in TOPOLOGY.tables if t.name in _table_outputs(template)}
    for table in owned:
        arn = {"Fn::GetAtt": [table_id(template, table), "Arn"]}
        names[json.dumps(arn, sort_keys=True)] = ("table", table)
        for index in TOPOLOGY.table(table).indexes:
            joined = {"Fn::Join": ["", [arn, f"/index/{index.name}"]]}
            names[json.dumps(joined, sort_keys=True)] = ("index", f"{table}/{index.name}")
    for secret in TOPOLOGY.secrets:
        if f"{construct_id(secret.name)}SecretArn" in template.get("Outputs", {}):
            ref = {"Ref": secret_id(template, secret.name)}
            names[json.dumps(ref, sort_keys=True)] = ("secret", secret.name)
    parameters = {
        p["Default"]: id_
        for id_, p in template.get("Parameters", {}).items()
        if p["Type"] == SSM_STRING
    }
    for queue in TOPOLOGY.queues:
        for kind, name in (("queue", queue.name), ("dlq", queue.dlq_name)):
            found = parameters.get(queue_parameter(name, "arn"))
            if found:
                key: ResourceKind = "queue" if kind == "queue" else "dlq"
                names[json.dumps({"Ref": found}, sort_keys=True)] = (key, queue.name)
    return names


def _table_outputs(template: Json) -> set[str]:
    return {
        t.name for t in TOPOLOGY.tables if f"{construct_id(t.name)}TableName" in template["Outputs"]
    }


def granted(synthesized: Synth, spec: Function) -> dict[tuple[ResourceKind, str], set[str]]:
    """What the function's role is allowed, by topology resource; logs and X-Ray apart."""
    template = synthesized.of_component(spec.component)
    names = names_of_resources(template)
    found: dict[tuple[ResourceKind, str], set[str]] = {}
    for action, resource in allowed(template["Resources"], spec):
        if action in LOG_ACTIONS | XRAY_ACTIONS:
            continue
        key = json.dumps(resource, sort_keys=True)
        assert key in names, f"{spec.name}: {action} on {resource}, no topology resource"
        found.setdefault(names[key], set()).add(action)
    return found


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_each_function_is_granted_exactly_the_actions_its_code_calls(
    spec: Function, synthesized: Synth
) -> None:
    assert granted(synthesized, spec) == EXPECTED[spec.name]


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_the_topology_declares_exactly_these_permissions(spec: Function) -> None:
    declared = {(p.kind, p.name): set(p.iam_actions) for p in TOPOLOGY.permissions(spec)}
    assert declared == EXPECTED[spec.name]


def test_the_readme_table_is_what_the_templates_grant_word_for_word(synthesized: Synth) -> None:
    # Given the grants as the templates have them
    from_templates: dict[str, list[tuple[ResourceKind, str, Any]]] = {
        spec.name: [
            (kind, name, actions) for (kind, name), actions in granted(synthesized, spec).items()
        ]
        for spec in TOPOLOGY.functions
    }
    # Then the README's table is that, and the generator writes that too
    assert readme_table(README.read_text()) == markdown(from_templates), (
        "README.md's least-privilege table is stale: python -m infra.tools.permissions --write"
    )
    assert markdown(topology_grants()) == markdown(from_templates)


def test_an_unknown_table_action_makes_the_topology_unsound() -> None:
    topology = TOPOLOGY.replace_function("sweeper", tables={"orders": ("GetItem", "Frobnicate")})
    assert topology.validate() == ["sweeper: orders: not table actions: ['Frobnicate']"]
