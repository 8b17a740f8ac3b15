"""Stages: `-c stage=dev|prod` (prod by default) picks the stacks' names, their SSM parameters
and the per-stage settings of the topology's STAGES."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from infra.cdk.app import stack_names
from infra.cdk.naming import app_prefix, queue_parameter
from infra.cdk.stage import RETENTION, stage_settings
from infra.topology import STAGES, TOPOLOGY
from tests.infra.synth import SSM_STRING, Synth, function_id, of_type

pytestmark = pytest.mark.infra

API = TOPOLOGY.api_function()


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_each_stage_is_its_own_stacks_with_its_own_parameters(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue("synthesized" if stage == "prod" else "synthesized_dev")

    assert list(synth.templates) == stack_names(app_name=app_prefix(stage))
    assert all(name.startswith(f"AsyncOrders-{stage}-") for name in synth.templates)
    for template in synth.templates.values():
        names = [
            p["Default"] for p in template.get("Parameters", {}).values() if p["Type"] == SSM_STRING
        ]
        names += [
            r["Properties"]["Name"]
            for r in of_type(template["Resources"], "AWS::SSM::Parameter").values()
        ]
        # besides the Powertools layer's public parameter and CDK's bootstrap version
        own = [n for n in names if not n.startswith(("/aws/service/", "/cdk-bootstrap/"))]
        assert own
        assert all(n.startswith(f"/async-orders/{stage}/") for n in own)
    assert queue_parameter("orders", "url", app_prefix(stage)) == (
        f"/async-orders/{stage}/queues/orders/url"
    )


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_log_retention_removal_policy_and_api_concurrency_follow_the_stage(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue("synthesized" if stage == "prod" else "synthesized_dev")
    settings = STAGES[stage]
    deletion = "Retain" if settings.removal_policy == "retain" else "Delete"
    for template in synth.templates.values():
        resources = template["Resources"]
        for group in of_type(resources, "AWS::Logs::LogGroup").values():
            assert group["Properties"]["RetentionInDays"] == settings.log_retention_days
            assert group["DeletionPolicy"] == deletion
        for table in of_type(resources, "AWS::DynamoDB::Table").values():
            assert table["DeletionPolicy"] == deletion
    resources = synth.of_component(API.component) if stage == "prod" else _dev_api(synth)
    functions = of_type(resources["Resources"], "AWS::Lambda::Function")
    reserved = {
        props["Properties"]["Environment"]["Variables"]["FUNCTION_NAME"]: props["Properties"].get(
            "ReservedConcurrentExecutions"
        )
        for props in functions.values()
    }
    # the API function alone: a consumer's ceiling is its event source's maximum concurrency
    assert reserved[API.name] == settings.api_reserved_concurrency
    assert [name for name, value in reserved.items() if value is not None] == [API.name]
    function = functions[function_id(resources["Resources"], API)]
    assert function["Properties"]["FunctionName"] == f"AsyncOrders-{stage}-{API.name}"


def _dev_api(synth: Synth) -> dict:  # type: ignore[type-arg]
    return synth.templates[f"{app_prefix('dev')}-{API.component.capitalize()}"]


def test_prod_is_the_safe_default_and_unknown_values_are_refused() -> None:
    settings = stage_settings(cdk.App())
    assert settings.stage.name == "prod"
    assert settings.removal_policy == cdk.RemovalPolicy.RETAIN
    assert settings.waf is True
    assert settings.seed_catalog is False
    with pytest.raises(ValueError, match="stage"):
        stage_settings(cdk.App(context={"stage": "staging"}))
    with pytest.raises(ValueError, match="alarmEmail"):
        stage_settings(cdk.App(context={"alarmEmail": "not-an-address"}))
    assert stage_settings(cdk.App(context={"alarmEmail": "ops@example.com"})).alarm_email == (
        "ops@example.com"
    )
    for stage in STAGES.values():
        assert stage.log_retention_days in RETENTION
