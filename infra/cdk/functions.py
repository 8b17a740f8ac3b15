"""Lambda functions, every one built by the same helper from its topology declaration."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.cdk.messaging import ImportedQueues
from infra.cdk.nag import acknowledge
from infra.cdk.naming import construct_id
from infra.cdk.secrets import Secrets
from infra.cdk.storage import Storage
from infra.topology import Access, Function, Topology

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# Caches and editor litter would change the asset hash without changing the code
# (.gitignore syntax: a pattern without a leading slash matches at any depth).
ASSET_EXCLUDES = [
    "__pycache__/",
    "*.py[cod]",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".DS_Store",
]

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Public parameter naming the newest Powertools v3 layer for this runtime and architecture;
# CloudFormation resolves it at deploy time, so synth needs no AWS access.
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/latest"
)
# EventBridge retries an invocation it could not hand to Lambda (throttling, service errors).
SCHEDULE_DELIVERY_RETRIES = 2

# Table grants: CDK's grant_read_data/grant_write_data actions without the stream-only ones
# (no table has a stream). An index is granted by name, Query only, to the functions that
# declare they query it.
TABLE_READ_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
INDEX_READ_ACTIONS = ("dynamodb:Query",)
TABLE_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": TABLE_READ_ACTIONS,
    "write": TABLE_WRITE_ACTIONS,
    "read_write": tuple(sorted(set(TABLE_READ_ACTIONS + TABLE_WRITE_ACTIONS))),
}
XRAY_REASON = (
    "Active tracing: X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords do not support "
    "resource-level permissions, so AWS requires Resource '*' for them; the synth tests pin that "
    "'*' appears for these two actions only."
)


class Functions(Construct):
    """One function per topology function of `component`, wired to exactly what it declares.

    Boto3 comes with the runtime and Powertools (with pydantic) from its public layer, so the
    asset is `functions/` as it is, without the other components' packages: no bundling.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        component: str,
        storage: Storage,
        queues: ImportedQueues,
        secrets: Secrets,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self._topology = topology
        self._storage = storage
        self._queues = queues
        self._secrets = secrets
        self._removal_policy = removal_policy
        self._code = lambda_.Code.from_asset(
            str(FUNCTIONS_DIR),
            exclude=asset_excludes(topology, component),
            ignore_mode=IgnoreMode.GIT,
        )
        self._powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
        )
        # Environment variable -> the deployed name, URL or ARN it carries: this component's
        # tables and secrets, and the queues and DLQs its functions use (from the messaging
        # stack's parameters).
        self._resource_values = (
            {topology.table(name).env_var: t.table_name for name, t in storage.tables.items()}
            | {topology.queue(name).env_var: q.queue_url for name, q in queues.queues.items()}
            | {
                topology.dlq_env_var(name): q.queue_url
                for name, q in queues.dead_letter_queues.items()
            }
            | {topology.secret(name).env_var: s.secret_arn for name, s in secrets.secrets.items()}
        )
        self.by_name: dict[str, lambda_.Function] = {
            spec.name: self._function(spec)
            for spec in topology.functions
            if spec.component == component
        }

    def _function(self, spec: Function) -> lambda_.Function:
        """The one helper: a function, its role, log group, grants, event source and schedule."""
        name = construct_id(spec.name)
        # Its own role, instead of AWSLambdaBasicExecutionRole (logs:* on every log group in the
        # account): it may write to its own log group, and gets what the topology grants it.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.name}: its own log group and its topology grants",
        )
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=LOG_RETENTION, removal_policy=self._removal_policy
        )
        log_group.grant_write(role)
        environment = self._topology.static_environment(spec) | {
            variable: self._resource_values[variable]
            for variable in self._topology.environment_names(spec)
        }
        function = lambda_.Function(
            self,
            name,
            description=spec.description,
            code=self._code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            layers=[self._powertools],
            timeout=Duration.seconds(spec.timeout_s),
            memory_size=spec.memory_mb,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
        )
        # Tracing added X-Ray's statement (Resource "*") to the role's default policy.
        acknowledge(
            role.node.find_child("DefaultPolicy"), "IAM5", XRAY_REASON, finding="Resource::*"
        )
        for table_name in spec.tables:
            self._grant_table(function, spec, table_name)
        for queue_name in spec.sends_to:
            self._queues.queues[queue_name].grant_send_messages(function)
        # A consumer dead-letters unknown message types into its own queue's DLQ itself.
        for queue_name in self._topology.dead_letters(spec):
            self._queues.dead_letter_queues[queue_name].grant_send_messages(function)
        for secret_name in spec.secrets:
            self._secrets.secrets[secret_name].grant_read(function)
        if (source := spec.event_source) is not None:
            queue = self._queues.queues[source.queue]
            if spec.reschedules:  # it sets its messages' next attempt itself
                queue.grant(function, "sqs:ChangeMessageVisibility")
            window = source.max_batching_window_s
            function.add_event_source(
                event_sources.SqsEventSource(
                    queue,
                    batch_size=source.batch_size,
                    max_batching_window=Duration.seconds(window) if window > 0 else None,
                    max_concurrency=source.max_concurrency,
                    report_batch_item_failures=True,
                )
            )
        if (minutes := spec.schedule_minutes) is not None:
            # A tick is worth running only until the next one is due, and the next tick is the
            # retry: no Lambda retries of a failed run (they would overlap the next one), and
            # neither EventBridge nor Lambda keeps an undelivered tick past the interval.
            interval = Duration.minutes(minutes)
            function.configure_async_invoke(retry_attempts=0, max_event_age=interval)
            events.Rule(
                self,
                f"{name}Schedule",
                description=f"Invokes {spec.name} at its topology rate",
                schedule=events.Schedule.rate(interval),
                targets=[
                    targets.LambdaFunction(
                        function,
                        retry_attempts=SCHEDULE_DELIVERY_RETRIES,
                        max_event_age=interval,
                    )
                ],
            )
        return function

    def _grant_table(self, function: lambda_.Function, spec: Function, table_name: str) -> None:
        """The declared access to the table and Query on each of its indexes the function
        declares it queries, by name (CDK's table grants cover `<table>/index/*`, which would
        include any index added later)."""
        table = self._storage.tables[table_name]
        iam.Grant.add_to_principal(
            grantee=function,
            actions=list(TABLE_ACTIONS[spec.tables[table_name]]),
            resource_arns=[table.table_arn],
        )
        indexes = [
            i.name for i in self._topology.table(table_name).indexes if i.name in spec.indexes
        ]
        if indexes:
            iam.Grant.add_to_principal(
                grantee=function,
                actions=list(INDEX_READ_ACTIONS),
                resource_arns=[f"{table.table_arn}/index/{name}" for name in indexes],
            )


def asset_excludes(topology: Topology, component: str) -> list[str]:
    """What `component`'s code asset leaves out of functions/: the other components' packages
    and caches. What remains is its own package, the shared kernel and the message models.

    `/<name>/` (.gitignore syntax) is the top-level package only, directory and all: glob
    mode's `<name>/**` leaves an empty directory behind, and `<name>` alone would also drop a
    module or folder of that name anywhere below (say `messages/orders/`).
    """
    others = [f"/{c.name}/" for c in topology.components if c.name != component]
    return [*others, *ASSET_EXCLUDES]
