"""Opt-in (`-c seedCatalog=true`): the sample catalog put in the products table at deploy time.

One AwsCustomResource per product: a conditional PutItem (`attribute_not_exists(sku)`), so a
deployment only ever adds products that are missing: it never changes a price or a stock the
table already has (`orders-ops catalog load` does that, by its own rule). Removing the option
later removes nothing from the table.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.catalog import Product, product_item, sample_catalog
from infra.cdk.nag import acknowledge
from infra.cdk.naming import construct_id

# The id CDK gives AwsCustomResource's singleton provider function in a stack.
PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class CatalogSeed(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        products: list[Product] | None = None,
    ) -> None:
        super().__init__(scope, id)
        for product in products if products is not None else sample_catalog():
            put = cr.AwsSdkCall(
                service="DynamoDB",
                action="putItem",
                parameters={
                    "TableName": table.table_name,
                    "Item": product_item(product),
                    "ConditionExpression": "attribute_not_exists(sku)",
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"catalog-seed-{product['sku']}"),
                # already there: left as it is
                ignore_error_codes_matching="ConditionalCheckFailedException",
            )
            cr.AwsCustomResource(
                self,
                construct_id(product["sku"].lower()),
                on_create=put,
                on_update=put,
                policy=cr.AwsCustomResourcePolicy.from_statements(
                    [iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table.table_arn])]
                ),
                install_latest_aws_sdk=False,
            )
        provider = Stack.of(self).node.try_find_child(PROVIDER_ID)
        if provider is not None:
            _acknowledge_provider(provider)


def _acknowledge_provider(provider: Construct) -> None:
    acknowledge(
        provider,
        "IAM4",
        "AwsCustomResource's provider function (CDK's, run only at deployment to put the sample "
        "products) uses AWSLambdaBasicExecutionRole for its logs; its one grant beyond that is "
        "dynamodb:PutItem on the products table.",
        finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole",
    )
