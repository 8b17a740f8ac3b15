"""The synthesized template declares exactly what the topology declares."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from cfnlint.api import lint  # type: ignore[import-untyped]

from infra.cdk.api import (
    GATEWAY_RESPONSE_HEADERS,
    GATEWAY_RESPONSE_STATUS,
    PROBLEM_JSON,
    PROBLEM_TYPE_PREFIX,
    STAGE_NAME,
    THROTTLING_BURST_LIMIT,
    THROTTLING_RATE_LIMIT,
)
from infra.cdk.app import STACK_NAME
from infra.cdk.functions import POWERTOOLS_LAYER_PARAMETER, SCHEDULE_DELIVERY_RETRIES
from infra.cdk.naming import construct_id
from infra.cdk.stack import AsyncOrdersStack, removal_policy_from_context
from infra.topology import APP_CLIENTS, TOPOLOGY, EventSource, Function, common_environment
from tests.infra.synth import Synth

pytestmark = pytest.mark.infra

READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}
WRITE_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
}
SECRET_KEY_LENGTH = 44  # alphanumeric: valid base64 of 33 bytes, a Standard Webhooks key
CAN_READ_WRITE = {
    None: (False, False),
    "read": (True, False),
    "write": (False, True),
    "read_write": (True, True),
}
SCHEDULED = [f for f in TOPOLOGY.functions if f.schedule_minutes is not None]

Json = dict[str, Any]


@pytest.fixture(scope="module")
def template(synthesized: Synth) -> Json:
    """The stack as `cdk synth` sees it (cdk.json's context, cdk-nag on), synthesized once."""
    return synthesized.template


@pytest.fixture(scope="module")
def resources(template: Json) -> Json:
    return template["Resources"]  # type: ignore[no-any-return]


# --- helpers: find resources by what the topology says, not by generated ids -------------


def of_type(resources: Json, type_: str) -> dict[str, Json]:
    return {id_: r for id_, r in resources.items() if r["Type"] == type_}


def output_ref(template: Json, output: str) -> str:
    """Logical id of the resource an output points at (`{"Ref": id}`)."""
    return template["Outputs"][output]["Value"]["Ref"]  # type: ignore[no-any-return]


def queue_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}QueueUrl")


def dlq_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}DlqUrl")


def table_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}TableName")


def secret_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}SecretArn")


def resource_ids(template: Json) -> dict[tuple[str, str], str]:
    """(environment variable, logical name) -> logical id, as `environment_names` pairs them."""
    ids = {(t.env_var, t.name): table_id(template, t.name) for t in TOPOLOGY.tables}
    ids |= {(q.env_var, q.name): queue_id(template, q.name) for q in TOPOLOGY.queues}
    ids |= {
        (q.dlq_env_var, q.dlq_name): dlq_id(template, q.name)
        for q in TOPOLOGY.queues
        if q.dlq_env_var is not None
    }
    ids |= {(s.env_var, s.name): secret_id(template, s.name) for s in TOPOLOGY.secrets}
    return ids


def function_id(resources: Json, spec: Function) -> str:
    """The function whose FUNCTION_NAME (from common_environment) is the topology name."""
    (found,) = [
        id_
        for id_, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"]["Environment"]["Variables"].get("FUNCTION_NAME") == spec.name
    ]
    return found


def key_schema(partition_key: str, sort_key: str | None) -> list[Json]:
    keys = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return keys


def rate(minutes: int) -> str:
    """EventBridge's rate expression, as the topology's `schedule_minutes` reads."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(resources: Json, spec: Function) -> Iterator[tuple[str, Any]]:
    """(action, resource) pairs the function's role is allowed."""
    role = resources[function_id(resources, spec)]["Properties"]["Role"]["Fn::GetAtt"][0]
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                for action in as_list(statement["Action"]):
                    for resource in as_list(statement["Resource"]):
                        yield action, resource


def actions_on(resources: Json, spec: Function, logical_id: str) -> set[str]:
    return actions_on_resource(resources, spec, {"Fn::GetAtt": [logical_id, "Arn"]})


def index_arn(table_logical_id: str, index: str) -> Json:
    """`<table ARN>/index/<index>` as the template writes it."""
    return {"Fn::Join": ["", [{"Fn::GetAtt": [table_logical_id, "Arn"]}, f"/index/{index}"]]}


def actions_on_indexes(resources: Json, spec: Function, table_logical_id: str) -> set[str]:
    """Actions on any index of a table, named or by wildcard."""
    table_arn = {"Fn::GetAtt": [table_logical_id, "Arn"]}
    return {
        action
        for action, granted in allowed(resources, spec)
        if isinstance(granted, dict)
        and granted.get("Fn::Join", [None, [None]])[1][0] == table_arn
        and str(granted["Fn::Join"][1][-1]).startswith("/index/")
    }


def actions_on_resource(resources: Json, spec: Function, resource: Json) -> set[str]:
    return {action for action, granted in allowed(resources, spec) if granted == resource}


def secret_actions(resources: Json, spec: Function) -> dict[str, set[str]]:
    """Secrets Manager action -> the resources (as JSON) the function's role is allowed it on."""
    found: dict[str, set[str]] = {}
    for action, resource in allowed(resources, spec):
        if action.startswith("secretsmanager:"):
            found.setdefault(action, set()).add(json.dumps(resource, sort_keys=True))
    return found


def resource_path(resources: Json, resource_id: Any) -> str:
    """`/orders/{orderId}` for a method's ResourceId, following ParentId up to the root."""
    parts: list[str] = []
    while "Ref" in resource_id:
        properties = resources[resource_id["Ref"]]["Properties"]
        parts.insert(0, properties["PathPart"])
        resource_id = properties["ParentId"]
    assert resource_id["Fn::GetAtt"][1] == "RootResourceId"
    return "/" + "/".join(parts)


# --- messaging ------------------------------------------------------------------------------


def test_every_queue_redrives_to_its_dead_letter_queue_with_topology_limits(
    template: Json, resources: Json
) -> None:
    for spec in TOPOLOGY.queues:
        queue = resources[queue_id(template, spec.name)]["Properties"]
        dlq = resources[dlq_id(template, spec.name)]["Properties"]

        assert queue["VisibilityTimeout"] == spec.visibility_timeout_s
        assert queue["MessageRetentionPeriod"] == spec.retention_s
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id(template, spec.name), "Arn"]},
            "maxReceiveCount": spec.max_receive_count,
        }
        assert dlq["MessageRetentionPeriod"] == spec.dlq_retention_s
        assert "RedrivePolicy" not in dlq
        assert queue["SqsManagedSseEnabled"] is dlq["SqsManagedSseEnabled"] is True
    assert len(of_type(resources, "AWS::SQS::Queue")) == 2 * len(TOPOLOGY.queues)


def test_every_queue_and_dead_letter_queue_refuses_requests_without_tls(
    template: Json, resources: Json
) -> None:
    denied_without_tls = set()
    for policy in of_type(resources, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                denied_without_tls |= {q["Ref"] for q in policy["Properties"]["Queues"]}

    expected = {queue_id(template, q.name) for q in TOPOLOGY.queues}
    expected |= {dlq_id(template, q.name) for q in TOPOLOGY.queues}
    assert denied_without_tls == expected


def test_there_is_one_event_source_mapping_per_consumer(resources: Json) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")

    assert len(mappings) == len(list(TOPOLOGY.consumers()))


@pytest.mark.parametrize(
    ("function", "source"),
    list(TOPOLOGY.consumers()),
    ids=[f.name for f, _ in TOPOLOGY.consumers()],
)
def test_consumer_reads_its_queue_in_batches_with_partial_failures(
    function: Function, source: EventSource, template: Json, resources: Json
) -> None:
    (mapping,) = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id(resources, function)}
    ]

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id(template, source.queue), "Arn"]}
    assert mapping["BatchSize"] == source.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == source.max_batching_window_s
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": source.max_concurrency}


# --- functions ------------------------------------------------------------------------------


def test_the_functions_are_exactly_the_topology_functions(resources: Json) -> None:
    names = [
        function["Properties"]["Environment"]["Variables"].get("FUNCTION_NAME")
        for function in of_type(resources, "AWS::Lambda::Function").values()
    ]

    assert sorted(names) == sorted(spec.name for spec in TOPOLOGY.functions)


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_function_is_configured_from_the_topology(
    spec: Function, template: Json, resources: Json
) -> None:
    function = resources[function_id(resources, spec)]["Properties"]

    assert function["Handler"] == spec.handler
    assert function["Description"] == spec.description
    assert function["Timeout"] == spec.timeout_s
    assert function["MemorySize"] == spec.memory_mb
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    (layer,) = function["Layers"]
    assert template["Parameters"][layer["Ref"]]["Default"] == POWERTOOLS_LAYER_PARAMETER


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_function_environment_is_exactly_what_the_topology_names(
    spec: Function, template: Json, resources: Json
) -> None:
    variables = resources[function_id(resources, spec)]["Properties"]["Environment"]["Variables"]
    names = TOPOLOGY.environment_names(spec)
    assert set(variables) == set(common_environment(spec)) | set(names)

    for variable, value in common_environment(spec).items():
        assert variables[variable] == value
    # Tables, queues, DLQs and secrets: each variable carries its resource's name, URL or ARN
    # (all three are the resource's Ref).
    ids = resource_ids(template)
    for variable, name in names.items():
        assert variables[variable] == {"Ref": ids[variable, name]}, variable


def test_the_worker_is_told_where_to_notify_and_the_notifier_what_it_needs(
    template: Json, resources: Json
) -> None:
    def variables(name: str) -> Json:
        function = resources[function_id(resources, TOPOLOGY.function(name))]
        return function["Properties"]["Environment"]["Variables"]  # type: ignore[no-any-return]

    worker, notifier = variables("order-worker"), variables("notifier")
    notifications = {"Ref": queue_id(template, "notifications")}

    assert worker["NOTIFICATIONS_QUEUE_URL"] == notifications
    assert "NOTIFICATIONS_DLQ_URL" not in worker
    assert "WEBHOOK_SECRET_ARN" not in worker
    # The notifier reschedules its own messages and dead-letters them itself.
    assert notifier["NOTIFICATIONS_QUEUE_URL"] == notifications
    assert notifier["NOTIFICATIONS_DLQ_URL"] == {"Ref": dlq_id(template, "notifications")}
    assert notifier["WEBHOOK_SECRET_ARN"] == {"Ref": secret_id(template, "webhook-signing")}


def test_every_function_logs_to_its_own_group_with_a_retention(resources: Json) -> None:
    groups = [
        resources[function_id(resources, spec)]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for spec in TOPOLOGY.functions
    ]
    assert len(set(groups)) == len(TOPOLOGY.functions)
    for group in groups:
        assert resources[group]["Properties"]["RetentionInDays"] == 30


def test_there_is_one_schedule_and_one_events_permission_per_scheduled_function(
    resources: Json,
) -> None:
    events_permissions = [
        p
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]

    assert SCHEDULED, "the topology schedules no function: this test and the next test nothing"
    assert len(of_type(resources, "AWS::Events::Rule")) == len(SCHEDULED)
    assert len(events_permissions) == len(SCHEDULED)


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda f: f.name)
def test_scheduled_function_runs_at_its_topology_rate_and_a_tick_lives_one_interval(
    spec: Function, resources: Json
) -> None:
    assert spec.schedule_minutes is not None
    function = function_id(resources, spec)
    arn = {"Fn::GetAtt": [function, "Arn"]}
    interval_s = 60 * spec.schedule_minutes
    (rule_id,) = [
        id_
        for id_, rule in of_type(resources, "AWS::Events::Rule").items()
        if any(target["Arn"] == arn for target in rule["Properties"]["Targets"])
    ]
    rule = resources[rule_id]["Properties"]

    assert rule["ScheduleExpression"] == rate(spec.schedule_minutes)
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    # EventBridge retries a tick it could not hand to Lambda, until the next tick is due.
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": SCHEDULE_DELIVERY_RETRIES,
        "MaximumEventAgeInSeconds": interval_s,
    }
    # Only this rule may invoke the function.
    (permission,) = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == arn
    ]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": arn,
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
    }
    # Lambda does not retry a failed run (it would overlap the next): the next tick is the retry.
    (invoke_config,) = [
        c["Properties"]
        for c in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert invoke_config["MaximumRetryAttempts"] == 0
    assert invoke_config["MaximumEventAgeInSeconds"] == interval_s


# --- least privilege ------------------------------------------------------------------------


def test_no_policy_allows_every_action_of_a_service(resources: Json) -> None:
    statements = [
        s
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    statements += [
        s
        for role in of_type(resources, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
        for s in policy["PolicyDocument"]["Statement"]
    ]
    assert statements
    wildcards = [
        action
        for s in statements
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
        if action == "*" or action.endswith(":*")
    ]
    assert wildcards == []


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_table_access_is_exactly_the_declared_access(
    spec: Function, template: Json, resources: Json
) -> None:
    for table in TOPOLOGY.tables:
        actions = actions_on(resources, spec, table_id(template, table.name))
        access = spec.tables.get(table.name)
        reads, writes = CAN_READ_WRITE[access]

        assert bool(actions & READ_ACTIONS) == reads, f"{spec.name} reads {table.name}"
        assert bool(actions & WRITE_ACTIONS) == writes, f"{spec.name} writes {table.name}"
        if access is None:
            assert actions == set()


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_functions_that_read_a_table_can_query_its_indexes_and_others_cannot(
    spec: Function, template: Json, resources: Json
) -> None:
    for table in TOPOLOGY.tables:
        actions = actions_on_indexes(resources, spec, table_id(template, table.name))
        access = spec.tables.get(table.name)
        reads, _ = CAN_READ_WRITE[access]

        queries = reads and bool(table.indexes)
        assert ("dynamodb:Query" in actions) == queries, f"{spec.name} queries {table.name}"
        if access is None or not table.indexes:
            assert actions == set(), f"{spec.name} on {table.name}'s indexes"
        for index in table.indexes:  # each by name: no `/index/*` that would cover new ones
            named = actions_on_resource(
                resources, spec, index_arn(table_id(template, table.name), index.name)
            )
            assert named == ({"dynamodb:Query", "dynamodb:Scan"} if reads else set())


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_declared_senders_can_send_to_a_queue(
    spec: Function, template: Json, resources: Json
) -> None:
    for queue in TOPOLOGY.queues:
        sends = "sqs:SendMessage" in actions_on(resources, spec, queue_id(template, queue.name))
        assert sends == (queue.name in spec.sends_to), f"{spec.name} -> {queue.name}"


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_functions_that_dead_letter_a_queue_can_send_to_its_dlq(
    spec: Function, template: Json, resources: Json
) -> None:
    for queue in TOPOLOGY.queues:
        sends = "sqs:SendMessage" in actions_on(resources, spec, dlq_id(template, queue.name))
        assert sends == (queue.name in spec.dead_letters_to), f"{spec.name} -> {queue.dlq_name}"


def test_the_notifier_alone_can_park_notifications_in_their_dlq(
    template: Json, resources: Json
) -> None:
    notifications_dlq = dlq_id(template, "notifications")
    senders = {
        spec.name
        for spec in TOPOLOGY.functions
        if "sqs:SendMessage" in actions_on(resources, spec, notifications_dlq)
    }

    assert senders == {"notifier"}


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_declared_readers_can_read_a_secret_and_only_that_secret(
    spec: Function, template: Json, resources: Json
) -> None:
    declared = {
        json.dumps({"Ref": secret_id(template, name)}, sort_keys=True) for name in spec.secrets
    }
    granted = secret_actions(resources, spec)

    if spec.secrets:
        assert granted["secretsmanager:GetSecretValue"] == declared
    else:
        assert "secretsmanager:GetSecretValue" not in granted
    for action, targets in granted.items():
        assert targets <= declared, f"{spec.name}: {action} on {targets - declared}"


def test_the_notifier_alone_can_read_the_webhook_signing_secret(
    template: Json, resources: Json
) -> None:
    secret = json.dumps({"Ref": secret_id(template, "webhook-signing")}, sort_keys=True)
    readers = {
        spec.name
        for spec in TOPOLOGY.functions
        if secret in secret_actions(resources, spec).get("secretsmanager:GetSecretValue", set())
    }

    assert readers == {"notifier"}


@pytest.mark.parametrize(
    "spec", [f for f in TOPOLOGY.functions if f.reschedules], ids=lambda f: f.name
)
def test_a_function_that_reschedules_can_change_its_messages_visibility(
    spec: Function, template: Json, resources: Json
) -> None:
    assert spec.event_source is not None
    own_queue = queue_id(template, spec.event_source.queue)

    assert "sqs:ChangeMessageVisibility" in actions_on(resources, spec, own_queue)


def test_the_api_function_can_enqueue_orders_and_the_worker_cannot(
    template: Json, resources: Json
) -> None:
    orders_queue = queue_id(template, "orders")
    api = TOPOLOGY.function("order-api")
    worker = TOPOLOGY.function("order-worker")

    assert "sqs:SendMessage" in actions_on(resources, api, orders_queue)
    assert "sqs:SendMessage" not in actions_on(resources, worker, orders_queue)
    assert "sqs:ReceiveMessage" in actions_on(resources, worker, orders_queue)


# --- secrets --------------------------------------------------------------------------------


def test_every_secret_is_a_generated_webhook_key_that_outlives_the_stack(
    template: Json, resources: Json
) -> None:
    for spec in TOPOLOGY.secrets:
        secret = resources[secret_id(template, spec.name)]
        properties = secret["Properties"]

        assert secret["Type"] == "AWS::SecretsManager::Secret"
        assert properties["Description"] == spec.description
        assert properties["GenerateSecretString"] == {
            "PasswordLength": SECRET_KEY_LENGTH,
            "ExcludePunctuation": True,
            "IncludeSpace": False,
        }
        assert "SecretString" not in properties  # the value never appears in the template
        assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
    assert len(of_type(resources, "AWS::SecretsManager::Secret")) == len(TOPOLOGY.secrets)


# --- storage --------------------------------------------------------------------------------


def test_tables_are_on_demand_with_topology_keys_and_point_in_time_recovery(
    template: Json, resources: Json
) -> None:
    for spec in TOPOLOGY.tables:
        table = resources[table_id(template, spec.name)]
        properties = table["Properties"]

        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["KeySchema"] == key_schema(spec.partition_key, spec.sort_key)
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        if spec.ttl_attribute:
            assert properties["TimeToLiveSpecification"] == {
                "AttributeName": spec.ttl_attribute,
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in properties
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert len(of_type(resources, "AWS::DynamoDB::Table")) == len(TOPOLOGY.tables)


def test_every_topology_index_is_on_its_table_with_string_keys_and_every_attribute(
    template: Json, resources: Json
) -> None:
    assert any(spec.indexes for spec in TOPOLOGY.tables)
    for spec in TOPOLOGY.tables:
        properties = resources[table_id(template, spec.name)]["Properties"]
        indexes = {i["IndexName"]: i for i in properties.get("GlobalSecondaryIndexes", [])}
        types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}

        assert set(indexes) == {index.name for index in spec.indexes}, spec.name
        for index in spec.indexes:
            keys = key_schema(index.partition_key, index.sort_key)
            # Nothing else: no provisioned throughput, so the index is on-demand like its table.
            assert indexes[index.name] == {
                "IndexName": index.name,
                "KeySchema": keys,
                "Projection": {"ProjectionType": "ALL"},
            }
            assert {types[key["AttributeName"]] for key in keys} == {"S"}


def test_the_idempotency_table_has_the_key_and_expiry_powertools_uses(
    template: Json, resources: Json
) -> None:
    # Given the persistence layer as the API builds it: Powertools' attribute names
    defaults = inspect.signature(DynamoDBPersistenceLayer).parameters
    key, expiry = defaults["key_attr"].default, defaults["expiry_attr"].default
    api_environment = resources[function_id(resources, TOPOLOGY.api_function())]["Properties"][
        "Environment"
    ]["Variables"]

    # Then the table the API is pointed at is keyed on one and expires records on the other
    properties = resources[api_environment["IDEMPOTENCY_TABLE_NAME"]["Ref"]]["Properties"]
    assert properties["KeySchema"] == key_schema(key, None)
    assert properties["TimeToLiveSpecification"] == {"AttributeName": expiry, "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_removal_policy_is_retain_unless_the_context_asks_to_destroy() -> None:
    assert removal_policy_from_context(cdk.App()) == cdk.RemovalPolicy.RETAIN
    destroy = cdk.App(context={"removalPolicy": "destroy"})
    assert removal_policy_from_context(destroy) == cdk.RemovalPolicy.DESTROY
    with pytest.raises(ValueError, match="removalPolicy"):
        removal_policy_from_context(cdk.App(context={"removalPolicy": "delete"}))


def test_an_unsound_topology_is_refused_before_anything_is_built() -> None:
    too_short = TOPOLOGY.replace_queue("orders", visibility_timeout_s=1)

    with pytest.raises(ValueError, match="visibility timeout"):
        AsyncOrdersStack(cdk.App(), STACK_NAME, topology=too_short)


# --- API ------------------------------------------------------------------------------------


def test_every_route_and_a_catch_all_per_resource_reach_the_api_function(
    resources: Json,
) -> None:
    api_function = function_id(resources, TOPOLOGY.api_function())
    methods = set()
    for method in of_type(resources, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        integration = properties["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert {"Fn::GetAtt": [api_function, "Arn"]} in integration["Uri"]["Fn::Join"][1]
        methods.add((resource_path(resources, properties["ResourceId"]), properties["HttpMethod"]))

    routes = {(route.path, route.method) for route in TOPOLOGY.routes}
    resources_and_parents = {
        "/" + "/".join(path.strip("/").split("/")[:end])
        for path in TOPOLOGY.resource_paths()
        for end in range(1, path.count("/") + 1)
    }
    catch_alls = {(path, "ANY") for path in {"/", "/{proxy+}", *resources_and_parents}}
    assert methods == routes | catch_alls


def test_the_api_function_has_one_invoke_permission_for_the_whole_api(
    resources: Json,
) -> None:
    api_function = {"Fn::GetAtt": [function_id(resources, TOPOLOGY.api_function()), "Arn"]}
    (properties,) = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == api_function
    ]

    assert properties["Principal"] == "apigateway.amazonaws.com"
    assert properties["SourceArn"]["Fn::Join"][1][-1] == "/*/*/*"


def test_stage_logs_traces_and_throttles(resources: Json) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]

    assert properties["StageName"] == STAGE_NAME
    assert properties["TracingEnabled"] is True
    assert properties["MethodSettings"] == [
        {
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "LoggingLevel": "INFO",
            "DataTraceEnabled": False,
            "MetricsEnabled": True,
            "ThrottlingRateLimit": THROTTLING_RATE_LIMIT,
            "ThrottlingBurstLimit": THROTTLING_BURST_LIMIT,
        }
    ]
    access_log = properties["AccessLogSetting"]
    assert json.loads(access_log["Format"])["requestId"] == "$context.requestId"
    destination = [
        part["Ref"] for part in access_log["DestinationArn"]["Fn::Join"][1] if "Ref" in part
    ]
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    (group,) = [ref for ref in destination if ref in log_groups]
    assert log_groups[group]["Properties"]["RetentionInDays"] == 30
    # Execution logging needs the account's API Gateway CloudWatch role.
    assert len(of_type(resources, "AWS::ApiGateway::Account")) == 1


def test_gateway_errors_are_problem_details(resources: Json) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(resources, "AWS::ApiGateway::GatewayResponse").values()
    }
    expected = {"DEFAULT_4XX", "DEFAULT_5XX"} | {t.response_type for t in GATEWAY_RESPONSE_STATUS}
    assert set(responses) == expected

    extra_headers = {t.response_type: headers for t, headers in GATEWAY_RESPONSE_HEADERS.items()}
    for response_type, response in responses.items():
        headers = {"Content-Type": PROBLEM_JSON} | extra_headers.get(response_type, {})
        assert response["ResponseParameters"] == {
            f"gatewayresponse.header.{name}": f"'{value}'" for name, value in headers.items()
        }
        for body in response["ResponseTemplates"].values():
            # Given the values API Gateway substitutes (messageString comes quoted)
            rendered = (
                body.replace("$context.error.responseType", response_type)
                .replace("$context.error.messageString", '"Too Many Requests"')
                .replace("$context.requestId", "c0ffee")
            )
            # Then the body is a problem document whose status matches the answer's
            problem = json.loads(rendered)
            assert problem["type"] == PROBLEM_TYPE_PREFIX + response_type
            assert problem["title"] == "Too Many Requests"
            assert not re.search(r"\$context", rendered)
            if "StatusCode" in response:
                assert problem["status"] == int(response["StatusCode"])
            else:
                assert "status" not in problem


def test_outputs_name_the_url_every_queue_every_table_and_every_secret(template: Json) -> None:
    expected = {"ApiUrl", "TokenUrl", "ClientId", "UserPoolId"}
    expected |= {
        f"{construct_id(c.name)}{kind}" for c in APP_CLIENTS for kind in ("ClientId", "ApiKeyId")
    }
    expected |= {
        f"{construct_id(q.name)}{kind}" for q in TOPOLOGY.queues for kind in ("QueueUrl", "DlqUrl")
    }
    expected |= {f"{construct_id(t.name)}TableName" for t in TOPOLOGY.tables}
    expected |= {f"{construct_id(s.name)}SecretArn" for s in TOPOLOGY.secrets}

    assert set(template["Outputs"]) == expected
    assert "WebhookSigningSecretArn" in template["Outputs"]  # the name the README documents


# --- the template as CloudFormation sees it -------------------------------------------------


@pytest.mark.parametrize("waf", [False, True], ids=["default", "waf"])
def test_cfn_lint_finds_no_errors(waf: bool, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue("synthesized_with_waf" if waf else "synthesized")
    template = synth.template

    matches = lint(json.dumps(template))

    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
