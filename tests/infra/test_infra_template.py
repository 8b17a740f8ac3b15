"""The synthesized templates declare exactly what the topology declares, each in its stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]

from infra.cdk.api import (
    GATEWAY_PROBLEM_TYPE_PREFIX,
    GATEWAY_RESPONSE_HEADERS,
    GATEWAY_RESPONSE_STATUS,
    PROBLEM_JSON,
    STAGE_NAME,
)
from infra.cdk.app import stack_names
from infra.cdk.functions import POWERTOOLS_LAYER_PARAMETER, SCHEDULE_DELIVERY_RETRIES
from infra.cdk.naming import construct_id, dlq_output, queue_output, queue_parameter, stack_name
from infra.cdk.stack import ComponentStack
from infra.cdk.stage import removal_policy_from_context
from infra.topology import (
    APP_CLIENTS,
    STAGE_BURST_LIMIT,
    STAGE_RATE_LIMIT_PER_SECOND,
    TOPOLOGY,
    EventSource,
    Function,
)
from orders.adapters import idempotency_records
from tests.infra.synth import (
    MESSAGING_STACK,
    REPO,
    Json,
    Synth,
    allowed,
    as_list,
    function_id,
    imported,
    of_type,
    output_ref,
    resource_path,
    secret_id,
    statements,
    synthesize,
    table_id,
)

pytestmark = pytest.mark.infra

SECRET_KEY_LENGTH = 44  # alphanumeric: valid base64 of 33 bytes, a Standard Webhooks key
SCHEDULED = [f for f in TOPOLOGY.functions if f.schedule_minutes is not None]
COMPONENTS = [c.name for c in TOPOLOGY.components]
STACKS = stack_names()
FUNCTIONS_DIR = REPO / "functions"


@pytest.fixture(scope="module")
def messaging(synthesized: Synth) -> Json:
    return synthesized.templates[MESSAGING_STACK]


def template_of(synthesized: Synth, spec: Function) -> Json:
    """The template of the stack that holds the function: its component's."""
    return synthesized.of_component(spec.component)


def queue_id(messaging: Json, name: str) -> str:
    return output_ref(messaging, queue_output(name))


def dlq_id(messaging: Json, name: str) -> str:
    return output_ref(messaging, dlq_output(name))


def imported_or_none(template: Json, queue: str, attribute: Any) -> Json | None:
    try:
        return imported(template, queue, attribute)
    except ValueError:  # the stack does not import it
        return None


def resource_value(template: Json, variable: str, name: str) -> Json:
    """What a component stack gives `variable`, naming `name` (as `environment_names` pairs
    them): a table's or secret's Ref, a queue's or DLQ's URL from the messaging stack."""
    if variable in {t.env_var for t in TOPOLOGY.tables}:
        return {"Ref": table_id(template, name)}
    if variable in {s.env_var for s in TOPOLOGY.secrets}:
        return {"Ref": secret_id(template, name)}
    return imported(template, name, "url")


def key_schema(partition_key: str, sort_key: str | None) -> list[Json]:
    keys = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return keys


def rate(minutes: int) -> str:
    """EventBridge's rate expression, as the topology's `schedule_minutes` reads."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


def actions_on_resource(resources: Json, spec: Function, resource: Json | None) -> set[str]:
    return {action for action, granted in allowed(resources, spec) if granted == resource}


def arn(logical_id: str) -> Json:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def index_arn(table_logical_id: str, index: str) -> Json:
    """`<table ARN>/index/<index>` as the template writes it."""
    return {"Fn::Join": ["", [arn(table_logical_id), f"/index/{index}"]]}


def actions_on_indexes(resources: Json, spec: Function, table_logical_id: str) -> dict[str, set]:
    """Index resource (its last part, `/index/<name>` or a wildcard) -> actions granted on it."""
    found: dict[str, set[str]] = {}
    for action, granted in allowed(resources, spec):
        if isinstance(granted, dict) and "Fn::Join" in granted:
            first, *_, last = granted["Fn::Join"][1]
            if first == arn(table_logical_id) and str(last).startswith("/index/"):
                found.setdefault(str(last), set()).add(action)
    return found


def secret_actions(resources: Json, spec: Function) -> dict[str, set[str]]:
    """Secrets Manager action -> the resources (as JSON) the function's role is allowed it on."""
    found: dict[str, set[str]] = {}
    for action, resource in allowed(resources, spec):
        if action.startswith("secretsmanager:"):
            found.setdefault(action, set()).add(json.dumps(resource, sort_keys=True))
    return found


def refs(value: Any) -> set[str]:
    """Every logical id `value` refers to (Ref and Fn::GetAtt, at any depth)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for inner in value.values():
            found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


# --- stacks: one per component, plus messaging; each deploys alone ---------------------------


def test_the_app_is_a_messaging_stack_and_one_stack_per_component(synthesized: Synth) -> None:
    expected = [MESSAGING_STACK, *(stack_name(component) for component in COMPONENTS)]

    assert expected == STACKS == list(synthesized.templates)
    assert {
        "AsyncOrders-prod-Messaging",
        "AsyncOrders-prod-Orders",
        "AsyncOrders-prod-Notifications",
    } <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_exports_or_imports_a_value(stack: str, synthesized: Synth) -> None:
    # CloudFormation refuses to change or delete an export while another stack imports it:
    # exports would lock a component's redeploy to its neighbours'.
    template = synthesized.templates[stack]

    assert "Fn::ImportValue" not in json.dumps(template)
    assert [name for name, o in template.get("Outputs", {}).items() if "Export" in o] == []


def test_component_stacks_follow_the_messaging_stack_for_deploy_order_only(
    synthesized: Synth,
) -> None:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())["artifacts"]

    for component in COMPONENTS:
        dependencies = set(manifest[stack_name(component)].get("dependencies", []))
        assert MESSAGING_STACK in dependencies
        assert dependencies - {MESSAGING_STACK} <= {f"{stack_name(component)}.assets"}
    assert set(manifest[MESSAGING_STACK].get("dependencies", [])) <= {f"{MESSAGING_STACK}.assets"}


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_synthesizes_alone_to_the_same_template(
    stack: str, synthesized: Synth, tmp_path: Path
) -> None:
    # Given a fresh app holding this stack only (cdk-nag on, as `cdk synth` runs it)
    alone = synthesize(tmp_path, only={stack})

    # Then it synthesizes, to the very template it has beside the others: it refers to none
    assert list(alone.templates) == [stack]
    assert alone.templates[stack] == synthesized.templates[stack]


def test_the_app_imports_no_lambda_code() -> None:
    # Given a fresh interpreter that can import functions/ (as pytest and the local runtime can)
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(FUNCTIONS_DIR)!r})\n"
        "import infra.cdk.app\n"
        "print([m for m, v in list(sys.modules.items())"
        f" if (getattr(v, '__file__', None) or '').startswith({str(FUNCTIONS_DIR)!r})])\n"
    )

    # When it imports the CDK app
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        | {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    # Then no module of functions/ was loaded (request models come from events/schemas)
    assert result.stdout.strip() == "[]"


def test_the_messaging_stack_holds_the_queues_their_parameters_and_the_stage_s_monitoring(
    messaging: Json,
) -> None:
    resources = messaging["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert types == {
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::SSM::Parameter",
        # the alarm topic, its key, the queue alarms and the dashboard (test_monitoring.py)
        "AWS::KMS::Key",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    }

    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in of_type(resources, "AWS::SSM::Parameter").values()
        if "/queues/" in p["Properties"]["Name"]
    }
    expected = {}
    for queue in TOPOLOGY.queues:
        for name, id_ in (
            (queue.name, queue_id(messaging, queue.name)),
            (queue.dlq_name, dlq_id(messaging, queue.name)),
        ):
            expected[queue_parameter(name, "url")] = {"Ref": id_}
            expected[queue_parameter(name, "arn")] = arn(id_)
    assert parameters == expected
    assert queue_parameter("orders-dlq", "url") == "/async-orders/prod/queues/orders-dlq/url"


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_queue_parameter_a_component_reads_is_one_the_messaging_stack_writes(
    component: str, synthesized: Synth, messaging: Json
) -> None:
    written = {
        p["Properties"]["Name"]
        for p in of_type(messaging["Resources"], "AWS::SSM::Parameter").values()
    }
    read = {
        p["Default"]
        for p in synthesized.of_component(component).get("Parameters", {}).values()
        if p["Default"].startswith("/async-orders/")
    }

    assert read
    assert read <= written


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_stack_holds_exactly_what_the_component_owns(
    component: str, synthesized: Synth
) -> None:
    template = synthesized.of_component(component)
    resources = template["Resources"]
    owned = TOPOLOGY.owned_by(component)

    tables = [o for o in template["Outputs"] if o.endswith("TableName")]
    assert sorted(tables) == sorted(f"{construct_id(t)}TableName" for t in owned["tables"])
    assert len(of_type(resources, "AWS::DynamoDB::Table")) == len(owned["tables"])
    assert len(of_type(resources, "AWS::SecretsManager::Secret")) == len(owned["secrets"])
    names = [
        f["Properties"]["Environment"]["Variables"]["FUNCTION_NAME"]
        for f in of_type(resources, "AWS::Lambda::Function").values()
    ]
    assert sorted(names) == sorted(owned["functions"])
    assert of_type(resources, "AWS::SQS::Queue") == {}  # queues are the messaging stack's


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_deploys_its_own_package_the_kernel_and_the_messages_and_no_other(
    component: str, synthesized: Synth
) -> None:
    asset = synthesized.code_asset(stack_name(component))
    deployed = {path.name for path in asset.iterdir()}
    present = {path.name for path in FUNCTIONS_DIR.iterdir() if not path.name.startswith(".")}

    others = {c for c in COMPONENTS if c != component}
    assert deployed == present - others - {"__pycache__"}
    assert deployed & others == set()
    # bytecode for the runtime's Python only (where the machine has one: infra/code_asset.py)
    assert {path.name.split(".")[-2] for path in asset.rglob("*.pyc")} <= {"cpython-314"}
    assert [path for path in asset.rglob("*") if path.suffix in {".pyo", ".pyd"}] == []


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_a_function_s_handler_is_in_its_component_s_package_and_asset(
    spec: Function, synthesized: Synth
) -> None:
    module, _ = spec.handler.rsplit(".", 1)
    assert module.split(".")[0] == spec.component
    source = FUNCTIONS_DIR / (module.replace(".", "/") + ".py")
    if not source.exists():
        pytest.skip(f"{source.relative_to(REPO)} is not in this checkout yet")

    asset = synthesized.code_asset(stack_name(spec.component))
    assert (asset / source.relative_to(FUNCTIONS_DIR)).is_file()


# --- messaging ------------------------------------------------------------------------------


def test_every_queue_redrives_to_its_dead_letter_queue_with_topology_limits(
    messaging: Json,
) -> None:
    resources = messaging["Resources"]
    for spec in TOPOLOGY.queues:
        queue = resources[queue_id(messaging, spec.name)]["Properties"]
        dlq = resources[dlq_id(messaging, spec.name)]["Properties"]

        assert queue["VisibilityTimeout"] == spec.visibility_timeout_s
        assert queue["MessageRetentionPeriod"] == spec.retention_s
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": arn(dlq_id(messaging, spec.name)),
            "maxReceiveCount": spec.max_receive_count,
        }
        assert dlq["MessageRetentionPeriod"] == spec.dlq_retention_s
        assert "RedrivePolicy" not in dlq
        assert queue["SqsManagedSseEnabled"] is dlq["SqsManagedSseEnabled"] is True
    assert len(of_type(resources, "AWS::SQS::Queue")) == 2 * len(TOPOLOGY.queues)


def test_every_queue_and_dead_letter_queue_refuses_requests_without_tls(messaging: Json) -> None:
    denied_without_tls = set()
    for policy in of_type(messaging["Resources"], "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                denied_without_tls |= {q["Ref"] for q in policy["Properties"]["Queues"]}

    expected = {queue_id(messaging, q.name) for q in TOPOLOGY.queues}
    expected |= {dlq_id(messaging, q.name) for q in TOPOLOGY.queues}
    assert denied_without_tls == expected


def test_there_is_one_event_source_mapping_per_consumer(synthesized: Synth) -> None:
    mappings = [
        m
        for template in synthesized.templates.values()
        for m in of_type(template["Resources"], "AWS::Lambda::EventSourceMapping").values()
    ]

    assert len(mappings) == len(list(TOPOLOGY.consumers()))


@pytest.mark.parametrize(
    ("function", "source"),
    list(TOPOLOGY.consumers()),
    ids=[f.name for f, _ in TOPOLOGY.consumers()],
)
def test_consumer_reads_its_queue_in_batches_with_partial_failures(
    function: Function, source: EventSource, synthesized: Synth
) -> None:
    template = template_of(synthesized, function)
    resources = template["Resources"]
    (mapping,) = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id(resources, function)}
    ]

    assert mapping["EventSourceArn"] == imported(template, source.queue, "arn")
    assert mapping["BatchSize"] == source.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == source.max_batching_window_s
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": source.max_concurrency}


# --- functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_function_is_configured_from_the_topology(spec: Function, synthesized: Synth) -> None:
    template = template_of(synthesized, spec)
    function = template["Resources"][function_id(template["Resources"], spec)]["Properties"]

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
def test_function_environment_is_exactly_what_the_topology_gives_it(
    spec: Function, synthesized: Synth
) -> None:
    template = template_of(synthesized, spec)
    variables = template["Resources"][function_id(template["Resources"], spec)]["Properties"][
        "Environment"
    ]["Variables"]
    names = TOPOLOGY.environment_names(spec)

    # Then: the topology's own values, and for each resource it names, that resource's name,
    # URL or ARN (queues and DLQs through the messaging stack's parameters); nothing else
    expected = TOPOLOGY.static_environment(spec) | {
        variable: resource_value(template, variable, name) for variable, name in names.items()
    }
    assert variables == expected


def test_every_function_logs_to_its_own_group_with_a_retention(synthesized: Synth) -> None:
    groups = []
    for spec in TOPOLOGY.functions:
        resources = template_of(synthesized, spec)["Resources"]
        group = resources[function_id(resources, spec)]["Properties"]["LoggingConfig"]["LogGroup"]
        assert resources[group["Ref"]]["Properties"]["RetentionInDays"] == 30
        groups.append((spec.component, group["Ref"]))
    assert len(set(groups)) == len(TOPOLOGY.functions)


def test_there_is_one_schedule_and_one_events_permission_per_scheduled_function(
    synthesized: Synth,
) -> None:
    rules, events_permissions = [], []
    for template in synthesized.templates.values():
        resources = template["Resources"]
        rules += list(of_type(resources, "AWS::Events::Rule"))
        events_permissions += [
            p
            for p in of_type(resources, "AWS::Lambda::Permission").values()
            if p["Properties"]["Principal"] == "events.amazonaws.com"
        ]

    assert SCHEDULED, "the topology schedules no function: this test and the next test nothing"
    assert len(rules) == len(SCHEDULED)
    assert len(events_permissions) == len(SCHEDULED)


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda f: f.name)
def test_scheduled_function_runs_at_its_topology_rate_and_a_tick_lives_one_interval(
    spec: Function, synthesized: Synth
) -> None:
    assert spec.schedule_minutes is not None
    resources = template_of(synthesized, spec)["Resources"]
    function = function_id(resources, spec)
    interval_s = 60 * spec.schedule_minutes
    (rule_id,) = [
        id_
        for id_, rule in of_type(resources, "AWS::Events::Rule").items()
        if any(target["Arn"] == arn(function) for target in rule["Properties"]["Targets"])
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
        if p["Properties"]["FunctionName"] == arn(function)
    ]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": arn(function),
        "Principal": "events.amazonaws.com",
        "SourceArn": arn(rule_id),
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


@pytest.mark.parametrize("stack", STACKS)
def test_no_policy_allows_every_action_of_a_service(stack: str, synthesized: Synth) -> None:
    resources = synthesized.templates[stack]["Resources"]
    found = [s for _, s in statements(resources)]
    found += [
        s
        for role in of_type(resources, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
        for s in policy["PolicyDocument"]["Statement"]
    ]
    wildcards = [
        action
        for s in found
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
        if action == "*" or action.endswith(":*")
    ]
    assert wildcards == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_no_policy_grants_dynamodb_on_a_table_outside_its_own_stack(
    component: str, synthesized: Synth
) -> None:
    # Given the tables this stack declares: exactly its component's
    template = synthesized.of_component(component)
    resources = template["Resources"]
    own = {table_id(template, name) for name in TOPOLOGY.owned_by(component)["tables"]}
    assert own == set(of_type(resources, "AWS::DynamoDB::Table"))

    # Then every DynamoDB grant in the stack is on one of them (or one of their indexes): no
    # literal ARN, parameter or import that could name another component's table
    dynamodb = [
        (statement, resource)
        for _, statement in statements(resources)
        if any(str(a).startswith("dynamodb:") for a in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"])
    ]
    assert dynamodb
    for statement, resource in dynamodb:
        assert refs(resource), f"a DynamoDB grant on a literal resource: {statement}"
        assert refs(resource) <= own, f"a DynamoDB grant on another stack's table: {statement}"


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_a_function_may_query_the_indexes_it_declares_and_no_other(
    spec: Function, synthesized: Synth
) -> None:
    template = template_of(synthesized, spec)
    resources = template["Resources"]
    for name in TOPOLOGY.owned_by(spec.component)["tables"]:
        granted = actions_on_indexes(resources, spec, table_id(template, name))

        # each by name (no `/index/*` that would cover new ones), Query alone
        declared = [i.name for i in TOPOLOGY.table(name).indexes if i.name in spec.indexes]
        assert granted == {f"/index/{index}": {"dynamodb:Query"} for index in declared}, name
    for index in spec.indexes:
        table, _ = TOPOLOGY.index(index)
        named = actions_on_resource(
            resources, spec, index_arn(table_id(template, table.name), index)
        )
        assert named == {"dynamodb:Query"}


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_declared_senders_can_send_to_a_queue(spec: Function, synthesized: Synth) -> None:
    template = template_of(synthesized, spec)
    resources = template["Resources"]
    for queue in TOPOLOGY.queues:
        queue_arn = imported_or_none(template, queue.name, "arn")
        sends = "sqs:SendMessage" in actions_on_resource(resources, spec, queue_arn)
        assert sends == (queue.name in spec.sends_to), f"{spec.name} -> {queue.name}"


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_functions_that_dead_letter_a_queue_can_send_to_its_dlq(
    spec: Function, synthesized: Synth
) -> None:
    template = template_of(synthesized, spec)
    resources = template["Resources"]
    for queue in TOPOLOGY.queues:
        dlq_arn = imported_or_none(template, queue.dlq_name, "arn")
        sends = "sqs:SendMessage" in actions_on_resource(resources, spec, dlq_arn)
        expected = queue.name in TOPOLOGY.dead_letters(spec)
        assert sends == expected, f"{spec.name} -> {queue.dlq_name}"


def test_every_consumer_can_dead_letter_into_its_own_queue_s_dlq(synthesized: Synth) -> None:
    for spec, source in TOPOLOGY.consumers():
        template = template_of(synthesized, spec)
        dlq_arn = imported(template, TOPOLOGY.queue(source.queue).dlq_name, "arn")

        assert "sqs:SendMessage" in actions_on_resource(template["Resources"], spec, dlq_arn)


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_only_declared_readers_can_read_a_secret_and_only_that_secret(
    spec: Function, synthesized: Synth
) -> None:
    template = template_of(synthesized, spec)
    declared = {
        json.dumps({"Ref": secret_id(template, name)}, sort_keys=True) for name in spec.secrets
    }
    granted = secret_actions(template["Resources"], spec)

    if spec.secrets:
        assert granted["secretsmanager:GetSecretValue"] == declared
    else:
        assert "secretsmanager:GetSecretValue" not in granted
    for action, targets in granted.items():
        assert targets <= declared, f"{spec.name}: {action} on {targets - declared}"


@pytest.mark.parametrize(
    "spec", [f for f in TOPOLOGY.functions if f.reschedules], ids=lambda f: f.name
)
def test_a_function_that_reschedules_can_change_its_messages_visibility(
    spec: Function, synthesized: Synth
) -> None:
    assert spec.event_source is not None
    template = template_of(synthesized, spec)
    own_queue = imported(template, spec.event_source.queue, "arn")

    assert "sqs:ChangeMessageVisibility" in actions_on_resource(
        template["Resources"], spec, own_queue
    )


# --- secrets --------------------------------------------------------------------------------


def test_every_secret_is_a_generated_webhook_key_that_outlives_the_stack(
    synthesized: Synth,
) -> None:
    for spec in TOPOLOGY.secrets:
        template = synthesized.of_component(spec.component)
        secret = template["Resources"][secret_id(template, spec.name)]
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


# --- storage --------------------------------------------------------------------------------


def test_tables_are_on_demand_with_topology_keys_and_point_in_time_recovery(
    synthesized: Synth,
) -> None:
    for spec in TOPOLOGY.tables:
        template = synthesized.of_component(spec.component)
        table = template["Resources"][table_id(template, spec.name)]
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


def test_every_topology_index_is_on_its_table_with_string_keys_and_every_attribute(
    synthesized: Synth,
) -> None:
    assert any(spec.indexes for spec in TOPOLOGY.tables)
    for spec in TOPOLOGY.tables:
        template = synthesized.of_component(spec.component)
        properties = template["Resources"][table_id(template, spec.name)]["Properties"]
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


def test_the_idempotency_table_has_the_key_and_expiry_its_records_use(api_template: Json) -> None:
    # Given the attribute names the API's records are written with
    key, expiry = idempotency_records.KEY_ATTRIBUTE, idempotency_records.TTL_ATTRIBUTE
    resources = api_template["Resources"]
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
        ComponentStack(cdk.App(), "Orders", topology=too_short, component="orders")


# --- API ------------------------------------------------------------------------------------


def test_every_route_and_a_catch_all_per_resource_reach_the_api_function(
    api_template: Json,
) -> None:
    resources = api_template["Resources"]
    api_function = function_id(resources, TOPOLOGY.api_function())
    found = set()
    for method in of_type(resources, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        integration = properties["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert arn(api_function) in integration["Uri"]["Fn::Join"][1]
        found.add((resource_path(resources, properties["ResourceId"]), properties["HttpMethod"]))

    routes = {(route.path, route.method) for route in TOPOLOGY.routes}
    resources_and_parents = {
        "/" + "/".join(path.strip("/").split("/")[:end])
        for path in TOPOLOGY.resource_paths()
        for end in range(1, path.count("/") + 1)
    }
    catch_alls = {(path, "ANY") for path in {"/", "/{proxy+}", *resources_and_parents}}
    assert found == routes | catch_alls


def test_the_api_function_has_one_invoke_permission_for_the_whole_api(api_template: Json) -> None:
    resources = api_template["Resources"]
    api_function = arn(function_id(resources, TOPOLOGY.api_function()))
    (properties,) = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == api_function
    ]

    assert properties["Principal"] == "apigateway.amazonaws.com"
    assert properties["SourceArn"]["Fn::Join"][1][-1] == "/*/*/*"


def test_stage_logs_traces_and_throttles_at_the_topology_limits(api_template: Json) -> None:
    resources = api_template["Resources"]
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
            "ThrottlingRateLimit": STAGE_RATE_LIMIT_PER_SECOND,
            "ThrottlingBurstLimit": STAGE_BURST_LIMIT,
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


def test_only_the_component_serving_the_api_has_one(synthesized: Synth) -> None:
    with_api = [
        name
        for name, template in synthesized.templates.items()
        if of_type(template["Resources"], "AWS::ApiGateway::RestApi")
    ]

    assert with_api == [stack_name(TOPOLOGY.api_function().component)]


def test_gateway_errors_are_problem_details(api_template: Json) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(api_template["Resources"], "AWS::ApiGateway::GatewayResponse").values()
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
            assert problem["type"] == GATEWAY_PROBLEM_TYPE_PREFIX + response_type
            assert problem["title"] == "Too Many Requests"
            assert not re.search(r"\$context", rendered)
            if "StatusCode" in response:
                assert problem["status"] == int(response["StatusCode"])
            else:
                assert "status" not in problem


def test_outputs_are_on_the_stack_that_owns_what_they_name(synthesized: Synth) -> None:
    expected = {
        name: {f"{construct_id(t)}TableName" for t in TOPOLOGY.owned_by(c)["tables"]}
        | {f"{construct_id(s)}SecretArn" for s in TOPOLOGY.owned_by(c)["secrets"]}
        for c in COMPONENTS
        for name in [stack_name(c)]
    }
    expected[stack_name(TOPOLOGY.api_function().component)] |= {
        "ApiUrl",
        "TokenUrl",
        "ClientId",
        "UserPoolId",
    } | {f"{construct_id(c.name)}{kind}" for c in APP_CLIENTS for kind in ("ClientId", "ApiKeyId")}
    expected[MESSAGING_STACK] = {queue_output(q.name) for q in TOPOLOGY.queues} | {
        dlq_output(q.name) for q in TOPOLOGY.queues
    }

    assert {
        name: set(t.get("Outputs", {})) for name, t in synthesized.templates.items()
    } == expected
    # the names the README documents
    assert "WebhookSigningSecretArn" in synthesized.of_component("notifications")["Outputs"]
    assert "OrdersDlqUrl" in synthesized.templates[MESSAGING_STACK]["Outputs"]


# --- the templates as CloudFormation sees them ----------------------------------------------


@pytest.mark.parametrize("waf", [False, True], ids=["default", "waf"])
def test_cfn_lint_finds_no_errors(waf: bool, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue("synthesized_with_waf" if waf else "synthesized")

    errors = [
        f"{stack}: {m.rule.id} {m.message}"
        for stack, template in synth.templates.items()
        for m in lint(json.dumps(template))
        if m.rule.id.startswith("E")
    ]
    assert errors == []
