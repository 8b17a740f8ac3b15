"""Create the topology's tables, queues and secrets on any boto3 endpoint (moto server or
mock_aws). FIFO queues (and their dead-letter queues, which must be FIFO too) get the `.fifo`
suffix SQS requires
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues.html)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.topology import Function, Topology

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient


@dataclass
class Resources:
    """Physical names of what was created, by logical name."""

    table_names: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    secret_arns: dict[str, str] = field(default_factory=dict)

    def environment(self, topology: Topology, function: Function) -> dict[str, str]:
        """The resource variables `function` reads, exactly as the CDK stack sets them."""
        env = {topology.table(t).env_var: self.table_names[t] for t in function.tables}
        env |= {
            topology.queue(q).env_var: self.queue_urls[q]
            for q in topology.queue_urls_needed(function)
        }
        env |= {topology.dlq_env_var(q): self.dlq_urls[q] for q in topology.dead_letters(function)}
        env |= {topology.secret(s).env_var: self.secret_arns[s] for s in function.secrets}
        return env


def provision(
    topology: Topology,
    dynamodb: DynamoDBClient,
    sqs: SQSClient,
    secretsmanager: SecretsManagerClient,
    secret_values: dict[str, str],
) -> Resources:
    """Create every table, queue (with its DLQ and redrive policy) and secret of the topology."""
    resources = Resources()
    for secret in topology.secrets:
        created = secretsmanager.create_secret(
            Name=secret.name,
            Description=secret.description,
            SecretString=secret_values[secret.name],
        )
        resources.secret_arns[secret.name] = created["ARN"]
    for table in topology.tables:
        keys = _key_schema(table.partition_key, table.sort_key)
        attributes = {name for name, _ in keys}
        indexes: list[Any] = []
        for index in table.indexes:
            index_keys = _key_schema(index.partition_key, index.sort_key)
            attributes |= {name for name, _ in index_keys}
            indexes.append(
                {
                    "IndexName": index.name,
                    "KeySchema": [{"AttributeName": n, "KeyType": k} for n, k in index_keys],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        definition: dict[str, Any] = {
            "TableName": table.name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": n, "KeyType": k} for n, k in keys],
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": "S"} for n in sorted(attributes)
            ],
        }
        if indexes:
            definition["GlobalSecondaryIndexes"] = indexes
        dynamodb.create_table(**definition)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        resources.table_names[table.name] = table.name
    for queue in topology.queues:
        suffix = ".fifo" if queue.fifo else ""
        fifo: dict[Any, str] = {"FifoQueue": "true"} if queue.fifo else {}
        dlq_attributes: dict[Any, str] = {"MessageRetentionPeriod": str(queue.dlq_retention_s)}
        dlq_url = sqs.create_queue(
            QueueName=queue.dlq_name + suffix, Attributes=dlq_attributes | fifo
        )["QueueUrl"]
        dlq_arn = _arn(sqs, dlq_url)
        queue_attributes: dict[Any, str] = {
            "VisibilityTimeout": str(queue.visibility_timeout_s),
            "MessageRetentionPeriod": str(queue.retention_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
            ),
        }
        if queue.fifo:
            fifo["ContentBasedDeduplication"] = str(queue.content_based_deduplication).lower()
        url = sqs.create_queue(QueueName=queue.name + suffix, Attributes=queue_attributes | fifo)[
            "QueueUrl"
        ]
        resources.queue_urls[queue.name] = url
        resources.queue_arns[queue.name] = _arn(sqs, url)
        resources.dlq_urls[queue.name] = dlq_url
    return resources


def _key_schema(partition_key: str, sort_key: str | None) -> list[tuple[str, str]]:
    return [(partition_key, "HASH")] + ([(sort_key, "RANGE")] if sort_key else [])


def _arn(sqs: SQSClient, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
