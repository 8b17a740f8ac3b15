"""SQS queues, each with its dead-letter queue, one pair per topology queue; and how component
stacks find them without a CloudFormation export.

The messaging stack owns the queues and writes each one's URL and ARN (and its DLQ's) to SSM
parameters (`queue_parameter`). A component stack reads those parameters at deploy time
(`ImportedQueues`): nothing in its template refers to the messaging stack, so either side of a
queue redeploys alone (see docs/architecture.md, "Deploying components separately").
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.cdk.naming import DEFAULT_PREFIX, QueueAttribute, construct_id, queue_parameter
from infra.topology import Queue, Topology


class Messaging(Construct):
    """Encrypted, TLS-only queues that redrive to a DLQ after `max_receive_count` receives,
    each URL and ARN published as an SSM parameter."""

    def __init__(
        self, scope: Construct, id: str, *, topology: Topology, app_name: str = DEFAULT_PREFIX
    ) -> None:
        super().__init__(scope, id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in topology.queues:
            self.dead_letter_queues[spec.name] = dlq = self._dead_letter_queue(spec)
            self.queues[spec.name] = queue = self._queue(spec, dlq)
            self._publish(spec.name, queue, app_name)
            self._publish(spec.dlq_name, dlq, app_name)

    def _dead_letter_queue(self, spec: Queue) -> sqs.Queue:
        return sqs.Queue(
            self,
            f"{construct_id(spec.name)}Dlq",
            retention_period=Duration.seconds(spec.dlq_retention_s),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )

    def _queue(self, spec: Queue, dlq: sqs.Queue) -> sqs.Queue:
        return sqs.Queue(
            self,
            f"{construct_id(spec.name)}Queue",
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            retention_period=Duration.seconds(spec.retention_s),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dlq, max_receive_count=spec.max_receive_count
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )

    def _publish(self, name: str, queue: sqs.Queue, app_name: str) -> None:
        values: dict[QueueAttribute, str] = {"url": queue.queue_url, "arn": queue.queue_arn}
        for attribute, value in values.items():
            ssm.StringParameter(
                self,
                f"{construct_id(name)}{attribute.capitalize()}Parameter",
                parameter_name=queue_parameter(name, attribute, app_name),
                string_value=value,
                description=f"The {attribute.upper()} of the {name} queue (messaging stack)",
            )


class ImportedQueues(Construct):
    """The topology queues `queue_names` and DLQs `dlq_names` (by source queue), read from the
    messaging stack's SSM parameters when CloudFormation deploys the stack."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        queue_names: set[str],
        dlq_names: set[str],
        app_name: str = DEFAULT_PREFIX,
    ) -> None:
        super().__init__(scope, id)
        self.queues: dict[str, sqs.IQueue] = {
            name: self._import(name, app_name) for name in sorted(queue_names)
        }
        self.dead_letter_queues: dict[str, sqs.IQueue] = {
            name: self._import(topology.queue(name).dlq_name, app_name)
            for name in sorted(dlq_names)
        }

    def _import(self, name: str, app_name: str) -> sqs.IQueue:
        def value(attribute: QueueAttribute) -> str:
            parameter = queue_parameter(name, attribute, app_name)
            return str(ssm.StringParameter.value_for_string_parameter(self, parameter))

        return sqs.Queue.from_queue_attributes(
            self, construct_id(name), queue_arn=value("arn"), queue_url=value("url")
        )
