"""Alarms, the topic they go to, and the stage's dashboard; every threshold is the topology's.

Where each piece lives (docs/operations.md says why):

- the messaging stack: the alarm topic (SNS, encrypted with its own KMS key, TLS only) with its
  ARN in an SSM parameter, the optional email subscription, the queue alarms, and the one
  dashboard of the stage;
- each component stack: the alarms on its own functions (errors, throttles, a consumer pinned
  at its maximum concurrency), on its API (5XX rate, p99 latency) and on its EMF metrics (the
  notifications stack: the rate of failed webhooks); they find the topic through the parameter.

Names are fixed (`AsyncOrders-prod-<function>`, `<stack>-api`), so the dashboard charts every
component's functions and API without a reference across stacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.cdk.api import STAGE_NAME
from infra.cdk.naming import (
    alarm_topic_parameter,
    api_name,
    construct_id,
    dashboard_name,
    function_name,
    stack_name,
)
from infra.topology import (
    ALARMS,
    METRICS_NAMESPACE,
    ORDER_METRICS,
    SERVICE_NAME,
    SETTLEMENT_LATENCY_METRIC,
    WEBHOOK_METRICS,
    AlarmThresholds,
    Topology,
)

PERIOD = Duration.seconds(ALARMS.period_s)
SATURATION_PERIOD = Duration.minutes(1)
# Where the runbook is; each alarm's description names its entry.
RUNBOOK = "docs/operations.md"
# The EMF metrics' one dimension (Powertools' default): few dimensions, cheap metrics.
EMF_DIMENSIONS = {"service": SERVICE_NAME}


class AlarmTopic(Construct):
    """The stage's alarm topic: SNS encrypted with a customer key CloudWatch may use (alarms
    cannot publish to a topic under the AWS-managed SNS key), TLS-only, its ARN in SSM."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        app_name: str,
        email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        account = Stack.of(self).account
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com").with_conditions(
            {"StringEquals": {"aws:SourceAccount": account}}
        )
        self.key = kms.Key(
            self,
            "Key",
            description=f"{app_name}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7) if removal_policy == RemovalPolicy.DESTROY else None,
        )
        self.key.grant(cloudwatch_service, "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{app_name} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        ssm.StringParameter(
            self,
            "ArnParameter",
            parameter_name=alarm_topic_parameter(app_name),
            string_value=self.topic.topic_arn,
            description="The ARN of the stage's alarm topic (messaging stack)",
        )


def imported_topic(scope: Construct, app_name: str) -> sns.ITopic:
    """The alarm topic, from the messaging stack's parameter, resolved at deploy time."""
    arn = ssm.StringParameter.value_for_string_parameter(scope, alarm_topic_parameter(app_name))
    return sns.Topic.from_topic_arn(scope, "AlarmTopic", arn)


class Alarms(Construct):
    """Alarms named `<stage prefix>-<what>`, each sent to the topic when it fires and clears."""

    def __init__(self, scope: Construct, id: str, *, topic: sns.ITopic, app_name: str) -> None:
        super().__init__(scope, id)
        self._action = actions.SnsAction(topic)
        self._app_name = app_name
        self.by_name: dict[str, cloudwatch.Alarm] = {}

    def add(
        self,
        what: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = ALARMS.evaluation_periods,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id(what),
            alarm_name=f"{self._app_name}-{what}",
            alarm_description=f"{description} Runbook: {RUNBOOK}, `{what}`.",
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # no data is no traffic (or an empty queue), not a failure
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.by_name[what] = alarm
        return alarm


def queue_alarms(
    alarms: Alarms,
    topology: Topology,
    queues: Mapping[str, sqs.IQueue],
    dead_letter_queues: Mapping[str, sqs.IQueue],
) -> None:
    """Per topology queue: any message in its DLQ; its oldest message over its threshold."""
    for spec in topology.queues:
        alarms.add(
            f"{spec.dlq_name}-messages",
            dead_letter_queues[spec.name].metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=ALARMS.dlq_messages,
            description=f"A message is in {spec.dlq_name}: {spec.name}'s consumer gave up on it.",
        )
        alarms.add(
            f"{spec.name}-oldest-message",
            queues[spec.name].metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=spec.oldest_message_alarm_s,
            description=f"The oldest message in {spec.name} is {spec.oldest_message_alarm_s} s "
            "old or more: its consumer is not keeping up, or failing.",
        )


def function_alarms(
    alarms: Alarms, topology: Topology, functions: Mapping[str, lambda_.IFunction]
) -> None:
    """Per function: errors and throttles; per consumer: pinned at its maximum concurrency."""
    for name, function in functions.items():
        alarms.add(
            f"{name}-errors",
            function.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=ALARMS.function_errors,
            description=f"{name} failed invocations (a consumer's batch failed as a whole).",
        )
        alarms.add(
            f"{name}-throttles",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            threshold=ALARMS.function_throttles,
            description=f"{name} was throttled: its concurrency (reserved, or the account's) "
            "ran out.",
        )
        source = topology.function(name).event_source
        if source is None:
            continue
        minutes = ALARMS.consumer_saturation_minutes
        alarms.add(
            f"{name}-saturated",
            cloudwatch.MathExpression(
                expression=f"100 * concurrent / {source.max_concurrency}",
                using_metrics={
                    "concurrent": function.metric(
                        "ConcurrentExecutions", period=SATURATION_PERIOD, statistic="Maximum"
                    )
                },
                label=f"{name}: % of its maximum concurrency ({source.max_concurrency})",
                period=SATURATION_PERIOD,
            ),
            threshold=ALARMS.consumer_saturation_percent,
            evaluation_periods=minutes,
            datapoints_to_alarm=minutes,
            description=f"{name} has run at its event source's maximum concurrency "
            f"({source.max_concurrency}) for {minutes} minutes: {source.queue} fills faster "
            "than it drains.",
        )


def api_metric(
    api: str, metric: str, statistic: str, period: Duration = PERIOD
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/ApiGateway",
        metric_name=metric,
        dimensions_map={"ApiName": api, "Stage": STAGE_NAME},
        statistic=statistic,
        period=period,
    )


def api_alarms(alarms: Alarms, api: str) -> None:
    """The API's 5XX rate (5XXError's average is the share of requests) and p99 latency."""
    alarms.add(
        "api-5xx-rate",
        api_metric(api, "5XXError", "Average"),
        threshold=ALARMS.api_5xx_rate,
        description=f"{ALARMS.api_5xx_rate:.0%} or more of the API's requests were answered 5XX.",
    )
    alarms.add(
        "api-p99-latency",
        api_metric(api, "Latency", "p99"),
        threshold=ALARMS.api_p99_latency_ms,
        description=f"The API's p99 latency reached {ALARMS.api_p99_latency_ms} ms.",
    )


def emf_metric(metric: str, statistic: str, period: Duration = PERIOD) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric,
        dimensions_map=EMF_DIMENSIONS,
        statistic=statistic,
        period=period,
    )


def webhook_alarm(alarms: Alarms, thresholds: AlarmThresholds = ALARMS) -> None:
    """The share of failed webhooks, from the notifier's EMF metrics."""
    alarms.add(
        "webhooks-failing",
        cloudwatch.MathExpression(
            expression="IF(delivered + failed > 0, failed / (delivered + failed), 0)",
            using_metrics={
                "delivered": emf_metric(WEBHOOK_METRICS["delivered"], "Sum"),
                "failed": emf_metric(WEBHOOK_METRICS["failed"], "Sum"),
            },
            label="share of webhooks failed",
            period=PERIOD,
        ),
        threshold=thresholds.webhook_failure_rate,
        evaluation_periods=thresholds.webhook_failure_periods,
        description=f"{thresholds.webhook_failure_rate:.0%} or more of webhooks failed for "
        f"{thresholds.webhook_failure_periods} periods in a row.",
    )


class Dashboard(Construct):
    """The stage's one dashboard: API, queues, functions, business."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        app_name: str,
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, id)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name(app_name)
        )
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown="# API", width=24, height=1))
        self.dashboard.add_widgets(*self._api(topology, app_name))
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown="# Queues", width=24, height=1))
        self.dashboard.add_widgets(*self._queues(queues, dead_letter_queues))
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown="# Functions", width=24, height=1)
        )
        self.dashboard.add_widgets(*self._functions(topology, app_name))
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown="# Business (EMF)", width=24, height=1)
        )
        self.dashboard.add_widgets(*self._business())

    @staticmethod
    def _api(topology: Topology, app_name: str) -> Sequence[cloudwatch.IWidget]:
        if not topology.routes:
            return []
        api = api_name(stack_name(topology.api_function().component, app_name))
        return [
            _graph("Requests", [api_metric(api, "Count", "Sum")]),
            _graph("4XX", [api_metric(api, "4XXError", "Sum")]),
            _graph("5XX", [api_metric(api, "5XXError", "Sum")]),
            _graph(
                "Latency (ms)",
                [api_metric(api, "Latency", "p50"), api_metric(api, "Latency", "p99")],
            ),
        ]

    @staticmethod
    def _queues(
        queues: Mapping[str, sqs.IQueue], dead_letter_queues: Mapping[str, sqs.IQueue]
    ) -> Sequence[cloudwatch.IWidget]:
        def each(metric: str, source: Mapping[str, sqs.IQueue]) -> list[cloudwatch.IMetric]:
            return [
                queue.metric(metric, period=PERIOD, statistic="Maximum", label=name)
                for name, queue in source.items()
            ]

        return [
            _graph("Depth (visible)", each("ApproximateNumberOfMessagesVisible", queues)),
            _graph("Oldest message (s)", each("ApproximateAgeOfOldestMessage", queues)),
            _graph("In flight", each("ApproximateNumberOfMessagesNotVisible", queues)),
            _graph("Dead letters", each("ApproximateNumberOfMessagesVisible", dead_letter_queues)),
        ]

    @staticmethod
    def _functions(topology: Topology, app_name: str) -> Sequence[cloudwatch.IWidget]:
        def each(metric: str, statistic: str) -> list[cloudwatch.IMetric]:
            return [
                cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric,
                    dimensions_map={"FunctionName": function_name(f.name, app_name)},
                    statistic=statistic,
                    period=PERIOD,
                    label=f"{f.name} {statistic}" if metric == "Duration" else f.name,
                )
                for f in topology.functions
            ]

        return [
            _graph("Duration (ms)", each("Duration", "p50") + each("Duration", "p99")),
            _graph("Errors", each("Errors", "Sum")),
            _graph("Throttles", each("Throttles", "Sum")),
            _graph("Concurrency", each("ConcurrentExecutions", "Maximum")),
        ]

    @staticmethod
    def _business() -> Sequence[cloudwatch.IWidget]:
        latency = SETTLEMENT_LATENCY_METRIC
        delivery = WEBHOOK_METRICS["latency"]
        return [
            _graph("Orders", [emf_metric(m, "Sum") for m in ORDER_METRICS]),
            _graph(
                "Acceptance to settlement (ms)",
                [emf_metric(latency, "p50"), emf_metric(latency, "p99")],
            ),
            _graph(
                "Webhooks",
                [
                    emf_metric(WEBHOOK_METRICS["delivered"], "Sum"),
                    emf_metric(WEBHOOK_METRICS["failed"], "Sum"),
                ],
            ),
            _graph(
                "Webhook delivery latency (ms)",
                [emf_metric(delivery, "p50"), emf_metric(delivery, "p99")],
            ),
        ]


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=6, height=6)
