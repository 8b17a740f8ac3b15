"""SQS queues, each with its dead-letter queue, one pair per topology queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdk.naming import construct_id
from infra.topology import Queue, Topology


class Messaging(Construct):
    """Encrypted, TLS-only queues that redrive to a DLQ after `max_receive_count` receives."""

    def __init__(self, scope: Construct, id: str, *, topology: Topology) -> None:
        super().__init__(scope, id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in topology.queues:
            self.dead_letter_queues[spec.name] = dlq = self._dead_letter_queue(spec)
            self.queues[spec.name] = self._queue(spec, dlq)

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
