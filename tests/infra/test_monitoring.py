"""Alarms (each with the topology's threshold and a runbook entry), the encrypted alarm topic
and the stage's dashboard, as synthesized."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.cdk.api import STAGE_NAME
from infra.cdk.naming import (
    alarm_topic_parameter,
    api_name,
    function_name,
    stack_name,
)
from infra.topology import (
    ALARMS,
    METRICS_NAMESPACE,
    ORDER_METRICS,
    SERVICE_NAME,
    SETTLEMENT_LATENCY_METRIC,
    TOPOLOGY,
    WEBHOOK_METRICS,
    WEBHOOK_METRICS_COMPONENT,
)
from tests.infra.synth import (
    MESSAGING_STACK,
    REPO,
    SSM_STRING,
    Json,
    Synth,
    of_type,
    only,
    synthesize,
)

pytestmark = pytest.mark.infra

PREFIX = "AsyncOrders-prod"
API = TOPOLOGY.api_function()
API_NAME = api_name(stack_name(API.component))
RUNBOOK = REPO / "docs" / "operations.md"


def expected_alarms() -> dict[str, set[str]]:
    """Stack -> the short names of the alarms it holds."""
    expected: dict[str, set[str]] = {MESSAGING_STACK: set()}
    for queue in TOPOLOGY.queues:
        expected[MESSAGING_STACK] |= {f"{queue.dlq_name}-messages", f"{queue.name}-oldest-message"}
    for component in TOPOLOGY.components:
        names = expected.setdefault(stack_name(component.name), set())
        for function in TOPOLOGY.functions:
            if function.component == component.name:
                names |= {f"{function.name}-errors", f"{function.name}-throttles"}
                if function.event_source is not None:
                    names.add(f"{function.name}-saturated")
        if component.name == API.component:
            names |= {"api-5xx-rate", "api-p99-latency"}
        if component.name == WEBHOOK_METRICS_COMPONENT:
            names.add("webhooks-failing")
    return expected


def alarms_of(template: Json) -> dict[str, Json]:
    """Short name (without the stage prefix) -> the alarm's properties."""
    return {
        r["Properties"]["AlarmName"].removeprefix(f"{PREFIX}-"): r["Properties"]
        for r in of_type(template["Resources"], "AWS::CloudWatch::Alarm").values()
    }


def dimensions(properties: Json) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}


def topic_ref(synthesized: Synth, stack: str) -> Json:
    """How a stack names the alarm topic: its own Ref in messaging, the SSM parameter elsewhere."""
    template = synthesized.templates[stack]
    if stack == MESSAGING_STACK:
        topic_id, _ = only(template["Resources"], "AWS::SNS::Topic")
        return {"Ref": topic_id}
    (parameter,) = [
        id_
        for id_, p in template["Parameters"].items()
        if p["Type"] == SSM_STRING and p["Default"] == alarm_topic_parameter()
    ]
    return {"Ref": parameter}


def test_every_alarm_is_where_its_component_is(synthesized: Synth) -> None:
    found = {name: set(alarms_of(t)) for name, t in synthesized.templates.items()}
    assert found == expected_alarms()


@pytest.mark.parametrize("stack", list(expected_alarms()))
def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(
    stack: str, synthesized: Synth
) -> None:
    topic = topic_ref(synthesized, stack)
    for name, alarm in alarms_of(synthesized.templates[stack]).items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert f"`{name}`" in alarm["AlarmDescription"], name


def test_queue_alarms_watch_each_dlq_and_each_queue_s_oldest_message(synthesized: Synth) -> None:
    template = synthesized.templates[MESSAGING_STACK]
    alarms = alarms_of(template)
    for queue in TOPOLOGY.queues:
        dlq = alarms[f"{queue.dlq_name}-messages"]
        assert dlq["Namespace"] == "AWS/SQS"
        assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert dlq["Statistic"] == "Maximum"
        assert dlq["Threshold"] == ALARMS.dlq_messages == 1
        assert dlq["Period"] == ALARMS.period_s
        age = alarms[f"{queue.name}-oldest-message"]
        assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert age["Threshold"] == queue.oldest_message_alarm_s
        # each on its own queue: the DLQ's alarm on the DLQ, the age on the source queue
        dlq_queue = dimensions(dlq)["QueueName"]["Fn::GetAtt"][0]
        source_queue = dimensions(age)["QueueName"]["Fn::GetAtt"][0]
        redrive = template["Resources"][source_queue]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_queue, "Arn"]}


def test_api_alarms_watch_the_5xx_rate_and_p99_latency(synthesized: Synth) -> None:
    alarms = alarms_of(synthesized.of_component(API.component))
    rate, latency = alarms["api-5xx-rate"], alarms["api-p99-latency"]
    for alarm in (rate, latency):
        assert alarm["Namespace"] == "AWS/ApiGateway"
        assert dimensions(alarm) == {"ApiName": API_NAME, "Stage": STAGE_NAME}
    assert (rate["MetricName"], rate["Statistic"]) == ("5XXError", "Average")  # the share
    assert rate["Threshold"] == ALARMS.api_5xx_rate
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("Latency", "p99")
    assert latency["Threshold"] == ALARMS.api_p99_latency_ms
    # the API alarms name the API that stack creates
    (api,) = of_type(
        synthesized.of_component(API.component)["Resources"], "AWS::ApiGateway::RestApi"
    ).values()
    assert api["Properties"]["Name"] == API_NAME


@pytest.mark.parametrize("spec", TOPOLOGY.functions, ids=lambda f: f.name)
def test_every_function_has_error_and_throttle_alarms(spec: Any, synthesized: Synth) -> None:
    alarms = alarms_of(synthesized.of_component(spec.component))
    for kind, metric, threshold in (
        ("errors", "Errors", ALARMS.function_errors),
        ("throttles", "Throttles", ALARMS.function_throttles),
    ):
        alarm = alarms[f"{spec.name}-{kind}"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
        assert alarm["Statistic"] == "Sum"
        assert alarm["Threshold"] == threshold
        assert dimensions(alarm) == {"FunctionName": {"Ref": _function(synthesized, spec)}}


def _function(synthesized: Synth, spec: Any) -> str:
    resources = synthesized.of_component(spec.component)["Resources"]
    (found,) = [
        id_
        for id_, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"]["FunctionName"] == function_name(spec.name)
    ]
    return found


@pytest.mark.parametrize("spec", [f for f, _ in TOPOLOGY.consumers()], ids=lambda f: f.name)
def test_a_consumer_pinned_at_its_maximum_concurrency_for_a_while_alarms(
    spec: Any, synthesized: Synth
) -> None:
    assert spec.event_source is not None
    alarm = alarms_of(synthesized.of_component(spec.component))[f"{spec.name}-saturated"]
    expression, concurrent = sorted(alarm["Metrics"], key=lambda m: "Expression" not in m)

    # ConcurrentExecutions of this function, as a percentage of its maximum concurrency
    assert expression["Expression"] == (f"100 * concurrent / {spec.event_source.max_concurrency}")
    assert concurrent["Id"] == "concurrent"
    stat = concurrent["MetricStat"]
    assert stat["Metric"]["MetricName"] == "ConcurrentExecutions"
    assert stat["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": _function(synthesized, spec)}}
    ]
    assert (stat["Stat"], stat["Period"]) == ("Maximum", 60)
    # at the ceiling every minute of the sustained period
    minutes = ALARMS.consumer_saturation_minutes
    assert alarm["Threshold"] == ALARMS.consumer_saturation_percent
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == minutes


def test_the_webhook_failure_rate_alarm_reads_the_notifier_s_emf_metrics(
    synthesized: Synth,
) -> None:
    alarm = alarms_of(synthesized.of_component(WEBHOOK_METRICS_COMPONENT))["webhooks-failing"]
    by_id = {m["Id"]: m for m in alarm["Metrics"]}
    expression = [m for m in alarm["Metrics"] if "Expression" in m]
    assert [e["Expression"] for e in expression] == [
        "IF(delivered + failed > 0, failed / (delivered + failed), 0)"
    ]
    for id_, metric in (("delivered", "WebhooksDelivered"), ("failed", "WebhooksFailed")):
        stat = by_id[id_]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": METRICS_NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": SERVICE_NAME}],
        }
        assert stat["Stat"] == "Sum"
    assert alarm["Threshold"] == ALARMS.webhook_failure_rate
    assert alarm["EvaluationPeriods"] == ALARMS.webhook_failure_periods


def test_the_alarm_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(
    synthesized: Synth,
) -> None:
    resources = synthesized.templates[MESSAGING_STACK]["Resources"]
    key_id, key = only(resources, "AWS::KMS::Key")
    _, topic = only(resources, "AWS::SNS::Topic")
    _, policy = only(resources, "AWS::SNS::TopicPolicy")

    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    statements = policy["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    publish = [s for s in statements if s.get("Sid") == "CloudWatchAlarmsPublish"]
    assert publish[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    # its ARN is published for the component stacks
    parameters = of_type(resources, "AWS::SSM::Parameter").values()
    assert [
        p["Properties"]["Name"] for p in parameters if "/alarms/" in p["Properties"]["Name"]
    ] == [alarm_topic_parameter()]


def test_no_address_is_subscribed_unless_alarm_email_is_given(
    synthesized: Synth, tmp_path: Path
) -> None:
    resources = synthesized.templates[MESSAGING_STACK]["Resources"]
    assert of_type(resources, "AWS::SNS::Subscription") == {}

    subscribed = synthesize(tmp_path, only={MESSAGING_STACK}, alarmEmail="ops@example.com")
    _, subscription = only(
        subscribed.templates[MESSAGING_STACK]["Resources"], "AWS::SNS::Subscription"
    )
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def dashboard_body(synthesized: Synth) -> Json:
    """The dashboard's JSON, each reference to a resource written `<ref>`."""
    (dashboard,) = of_type(
        synthesized.templates[MESSAGING_STACK]["Resources"], "AWS::CloudWatch::Dashboard"
    ).values()
    assert dashboard["Properties"]["DashboardName"] == PREFIX
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))  # type: ignore[no-any-return]


def test_one_dashboard_has_the_four_groups_and_their_figures(synthesized: Synth) -> None:
    widgets = dashboard_body(synthesized)["widgets"]
    headings = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    assert headings == ["# API", "# Queues", "# Functions", "# Business (EMF)"]
    graphs = {
        w["properties"]["title"]: w["properties"]["metrics"]
        for w in widgets
        if w["type"] == "metric"
    }

    def named(title: str) -> list[tuple[str, str, str]]:
        """(namespace, metric, statistic) of each line of a graph."""
        return [(m[0], m[1], m[-1].get("stat", "")) for m in graphs[title]]

    api = "AWS/ApiGateway"
    assert named("Requests") == [(api, "Count", "Sum")]
    assert named("4XX") == [(api, "4XXError", "Sum")]
    assert named("5XX") == [(api, "5XXError", "Sum")]
    assert named("Latency (ms)") == [(api, "Latency", "p50"), (api, "Latency", "p99")]
    assert all(API_NAME in line for title in ("Requests", "5XX") for line in graphs[title])

    queues = len(TOPOLOGY.queues)
    for title, metric in (
        ("Depth (visible)", "ApproximateNumberOfMessagesVisible"),
        ("Oldest message (s)", "ApproximateAgeOfOldestMessage"),
        ("In flight", "ApproximateNumberOfMessagesNotVisible"),
        ("Dead letters", "ApproximateNumberOfMessagesVisible"),
    ):
        assert named(title) == [("AWS/SQS", metric, "Maximum")] * queues

    functions = [function_name(f.name) for f in TOPOLOGY.functions]
    for title, metric, stats in (
        ("Duration (ms)", "Duration", ["p50", "p99"]),
        ("Errors", "Errors", ["Sum"]),
        ("Throttles", "Throttles", ["Sum"]),
        ("Concurrency", "ConcurrentExecutions", ["Maximum"]),
    ):
        lines = graphs[title]
        assert [(m[1], m[3], m[-1]["stat"]) for m in lines] == [
            (metric, name, stat) for stat in stats for name in functions
        ]

    emf = [("service", SERVICE_NAME)]
    business = {
        "Orders": [(m, "Sum") for m in ORDER_METRICS],
        "Acceptance to settlement (ms)": [
            (SETTLEMENT_LATENCY_METRIC, "p50"),
            (SETTLEMENT_LATENCY_METRIC, "p99"),
        ],
        "Webhooks": [(WEBHOOK_METRICS["delivered"], "Sum"), (WEBHOOK_METRICS["failed"], "Sum")],
        "Webhook delivery latency (ms)": [
            ("WebhookDeliveryLatency", "p50"),
            ("WebhookDeliveryLatency", "p99"),
        ],
    }
    for title, lines in business.items():
        metrics = graphs[title]
        assert [(m[1], m[-1]["stat"]) for m in metrics] == lines, title
        # one dimension: the service
        assert all(m[0] == METRICS_NAMESPACE and [(m[2], m[3])] == emf for m in metrics), title


def test_every_alarm_has_a_runbook_entry() -> None:
    headings = re.findall(r"^### `([^`]+)`", RUNBOOK.read_text(), flags=re.MULTILINE)
    patterns = [
        re.escape(h).replace("<function>", "[a-z-]+").replace("<queue>", "[a-z-]+")
        for h in headings
    ]
    for stack, names in expected_alarms().items():
        for name in names:
            assert any(re.fullmatch(p, name) for p in patterns), f"{stack}: {name} has no runbook"
