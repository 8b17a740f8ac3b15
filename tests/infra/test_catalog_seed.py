"""`-c seedCatalog=true`: the sample catalog put in the products table at deploy time, only
where a SKU is missing; off by default."""

from __future__ import annotations

import json

import pytest

from infra.catalog import product_item, sample_catalog
from infra.cdk.naming import stack_name
from infra.topology import PRODUCTS_TABLE
from tests.infra.synth import Synth, of_type, synthesize, table_id

pytestmark = pytest.mark.infra

ORDERS_STACK = stack_name(PRODUCTS_TABLE.component)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("cdk.out.seed"), only={ORDERS_STACK}, seedCatalog="true"
    )


def test_no_catalog_is_seeded_by_default(synthesized: Synth) -> None:
    for template in synthesized.templates.values():
        assert of_type(template["Resources"], "Custom::AWS") == {}


def test_each_sample_product_is_put_only_if_its_sku_is_missing(seeded: Synth) -> None:
    template = seeded.templates[ORDERS_STACK]
    table = table_id(template, PRODUCTS_TABLE.name)
    calls = []
    for resource in of_type(template["Resources"], "Custom::AWS").values():
        create = resource["Properties"]["Create"]
        parts = create["Fn::Join"][1] if isinstance(create, dict) else [create]
        text = "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)
        calls.append(json.loads(text.replace(json.dumps({"Ref": table}), "<products>")))
        assert resource["Properties"]["Update"] == resource["Properties"]["Create"]
    expected = [
        {
            "service": "DynamoDB",
            "action": "putItem",
            "parameters": {
                "TableName": "<products>",
                "Item": product_item(product),
                "ConditionExpression": "attribute_not_exists(sku)",
            },
            "physicalResourceId": {"id": f"catalog-seed-{product['sku']}"},
            "ignoreErrorCodesMatching": "ConditionalCheckFailedException",
        }
        for product in sample_catalog()
    ]
    found = sorted(({k: call[k] for k in expected[0]} for call in calls), key=json.dumps)
    assert found == sorted(expected, key=json.dumps)


def test_the_seeding_may_only_put_items_in_the_products_table(seeded: Synth) -> None:
    resources = seeded.templates[ORDERS_STACK]["Resources"]
    table = table_id(seeded.templates[ORDERS_STACK], PRODUCTS_TABLE.name)
    policies = [
        p for id_, p in of_type(resources, "AWS::IAM::Policy").items() if "CatalogSeed" in id_
    ]
    assert len(policies) == len(sample_catalog())
    for policy in policies:
        assert policy["Properties"]["PolicyDocument"]["Statement"] == [
            {
                "Action": "dynamodb:PutItem",
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [table, "Arn"]},
            }
        ]


def test_with_seeding_cdk_nag_has_one_acknowledged_finding_on_cdk_s_provider(
    seeded: Synth,
) -> None:
    assert list(seeded.violations()) == [
        (v, p) for v, p in seeded.violations() if v["severity"] == "warning"
    ]
    suppressed = [
        (v["ruleName"], path)
        for v, path in seeded.violations(suppressed=True)
        if "AWS679f53fac002430cb0da5b7982bd2287" in path
    ]
    assert suppressed == [
        (
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            f"{ORDERS_STACK}/AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource",
        )
    ]
