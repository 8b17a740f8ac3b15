"""DynamoDB tables, one per topology table a component owns, with the indexes it declares."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.cdk.naming import construct_id
from infra.topology import Table, Topology


class Storage(Construct):
    """On-demand tables with point-in-time recovery and AWS-managed encryption.

    Every index is on-demand too (it inherits the table's billing) and projects all
    attributes: a query on it returns whole items, as a read of the table would.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        component: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.tables: dict[str, dynamodb.Table] = {
            spec.name: self._table(spec, removal_policy)
            for spec in topology.tables
            if spec.component == component
        }

    def _table(self, spec: Table, removal_policy: RemovalPolicy) -> dynamodb.Table:
        # The topology names keys but not their types: every key is a string.
        table = dynamodb.Table(
            self,
            f"{construct_id(spec.name)}Table",
            partition_key=_string(spec.partition_key),
            sort_key=_string(spec.sort_key) if spec.sort_key else None,
            time_to_live_attribute=spec.ttl_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)
