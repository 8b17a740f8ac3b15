"""Lambda functions, every one built by the same helper from its topology declaration."""

from __future__ import annotations

import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, Duration, ILocalBundling
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import code_asset
from infra.cdk.messaging import ImportedQueues
from infra.cdk.nag import acknowledge
from infra.cdk.naming import construct_id, function_name
from infra.cdk.secrets import Secrets
from infra.cdk.stage import StageSettings
from infra.cdk.storage import Storage
from infra.topology import Function, Permission, Topology

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
# Public parameter naming the newest Powertools v3 layer for this runtime and architecture;
# CloudFormation resolves it at deploy time, so synth needs no AWS access.
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/latest"
)
# EventBridge retries an invocation it could not hand to Lambda (throttling, service errors).
SCHEDULE_DELIVERY_RETRIES = 2

XRAY_REASON = (
    "Active tracing: X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords do not support "
    "resource-level permissions, so AWS requires Resource '*' for them; the synth tests pin that "
    "'*' appears for these two actions only."
)


class Functions(Construct):
    """One function per topology function of `component`, wired to exactly what it declares.

    Boto3 comes with the runtime and Powertools (with pydantic) from its public layer, so the
    asset is `functions/` without the other components' packages, and bytecode for the
    runtime when this machine has its Python (infra/code_asset.py): bundled locally, no Docker.
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
        settings: StageSettings,
    ) -> None:
        super().__init__(scope, id)
        self._topology = topology
        self._storage = storage
        self._queues = queues
        self._secrets = secrets
        self._settings = settings
        self._code = lambda_.Code.from_asset(
            str(code_asset.FUNCTIONS_DIR),
            asset_hash_type=AssetHashType.OUTPUT,  # what is deployed, not the whole folder
            bundling=BundlingOptions(
                image=RUNTIME.bundling_image,  # never pulled: the local bundling always builds
                local=LocalCodeAsset(
                    component, [c.name for c in topology.components if c.name != component]
                ),
                # part of CDK's bundling cache key: every component bundles the same folder
                environment={"COMPONENT": component},
            ),
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
            self,
            f"{name}Logs",
            retention=self._settings.log_retention,
            removal_policy=self._settings.removal_policy,
        )
        log_group.grant_write(role)
        environment = self._topology.static_environment(spec) | {
            variable: self._resource_values[variable]
            for variable in self._topology.environment_names(spec)
        }
        serves_api = any(route.function == spec.name for route in self._topology.routes)
        function = lambda_.Function(
            self,
            name,
            # a fixed name: the stage's dashboard and alarms chart it from any stack
            function_name=function_name(spec.name, self._settings.prefix),
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
            # the API's share of the account's concurrency, reserved: a flood of requests
            # cannot starve the consumers (or other workloads), nor be starved (CKV_AWS_115)
            reserved_concurrent_executions=(
                self._settings.stage.api_reserved_concurrency if serves_api else None
            ),
            role=role,
            log_group=log_group,
        )
        # Tracing added X-Ray's statement (Resource "*") to the role's default policy.
        acknowledge(
            role.node.find_child("DefaultPolicy"), "IAM5", XRAY_REASON, finding="Resource::*"
        )
        # Exactly the topology's permissions, one statement per resource: CDK's grant_* helpers
        # would add actions the code never calls (grant_read_data: Scan, Query, DescribeTable;
        # SqsEventSource: ChangeMessageVisibility, GetQueueUrl; a secret's DescribeSecret).
        for permission in self._topology.permissions(spec):
            iam.Grant.add_to_principal(
                grantee=function,
                actions=permission.iam_actions,
                resource_arns=[self._arn(permission)],
            )
        if (source := spec.event_source) is not None:
            window = source.max_batching_window_s
            # A mapping without SqsEventSource's own grant: the role already has the
            # topology's consumer actions on this queue.
            function.add_event_source_mapping(
                f"{name}EventSource",
                event_source_arn=self._queues.queues[source.queue].queue_arn,
                batch_size=source.batch_size,
                max_batching_window=Duration.seconds(window) if window > 0 else None,
                max_concurrency=source.max_concurrency,
                report_batch_item_failures=True,
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

    def _arn(self, permission: Permission) -> str:
        """The ARN a permission is on: an index by name (CDK's table grants cover
        `<table>/index/*`, which would include any index added later)."""
        if permission.kind == "table":
            return str(self._storage.tables[permission.name].table_arn)
        if permission.kind == "index":
            table, index = permission.name.split("/")
            return f"{self._storage.tables[table].table_arn}/index/{index}"
        if permission.kind == "queue":
            return str(self._queues.queues[permission.name].queue_arn)
        if permission.kind == "dlq":
            return str(self._queues.dead_letter_queues[permission.name].queue_arn)
        return str(self._secrets.secrets[permission.name].secret_arn)


@jsii.implements(ILocalBundling)
class LocalCodeAsset:
    """Builds `component`'s code asset on this machine (infra/code_asset.py), without the
    packages of `others` (the topology's other components)."""

    warned = False

    def __init__(self, component: str, others: list[str]) -> None:
        self.component = component
        self.others = others

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        python = code_asset.runtime_python()
        if python is None and not LocalCodeAsset.warned:
            LocalCodeAsset.warned = True
            print(
                f"note: no Python {code_asset.RUNTIME_PYTHON_VERSION} here, so the code assets "
                "ship without bytecode and compile at each cold start (make deploy installs "
                "one with uv; docs/deploy.md)",
                file=sys.stderr,
            )
        code_asset.build(self.component, Path(output_dir), python, others=self.others)
        return True
