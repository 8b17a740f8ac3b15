"""The README's deploy path, and docs/deploy.md's, name only what the app really has: the
outputs they read exist on the stack they read them from, the Make targets exist and install
the pinned CLI before using it, and no step is missing."""

from __future__ import annotations

import re

import pytest

from infra.cdk.naming import MESSAGING, stack_name
from infra.topology import TOPOLOGY
from tests.infra.synth import REPO, Synth

pytestmark = pytest.mark.infra

README = (REPO / "README.md").read_text()
DEPLOY_SECTION = README[README.index("## Deploy\n") : README.index("## Security\n")]
DEPLOY_DOC = (REPO / "docs" / "deploy.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()


@pytest.mark.parametrize("text", [DEPLOY_SECTION, DEPLOY_DOC], ids=["README", "deploy.md"])
def test_every_step_is_there(text: str) -> None:
    for step in (
        "jq",  # a prerequisite, and what turns outputs into variables
        "make deploy",
        "aws cloudformation describe-stacks",
        "aws cognito-idp describe-user-pool-client",
        "aws apigateway get-api-key",
        "orders-ops catalog load",
        "grant_type=client_credentials",
        '-H "x-api-key: $API_KEY"' if text is DEPLOY_SECTION else "x-api-key: $API_KEY",
        "Authorization: Bearer $TOKEN",
        "make destroy",
    ):
        assert step in text, step


@pytest.mark.parametrize("text", [DEPLOY_SECTION, DEPLOY_DOC], ids=["README", "deploy.md"])
def test_the_outputs_read_are_outputs_of_the_orders_stack(text: str, synthesized: Synth) -> None:
    api_stack = stack_name(TOPOLOGY.api_function().component)
    outputs = set(synthesized.templates[api_stack]["Outputs"])
    read = set(re.findall(r"jq -r \.(\w+) <<<\"\$OUTPUTS\"", text))

    assert read >= {"ApiUrl", "TokenUrl", "ClientId", "UserPoolId", "OrdersClientApiKeyId"}
    assert read <= outputs
    assert f"--stack-name {api_stack}" in text or "AsyncOrders-$STAGE-Orders" in text


def test_the_stacks_named_are_the_app_s() -> None:
    named = set(re.findall(r"AsyncOrders-prod-[A-Z]\w+", DEPLOY_SECTION + DEPLOY_DOC))
    stacks = {stack_name(part) for part in (MESSAGING, *(c.name for c in TOPOLOGY.components))}
    assert named <= stacks
    assert "AsyncOrders-prod-Messaging" in DEPLOY_SECTION


def test_make_deploy_installs_the_pinned_cli_before_using_it() -> None:
    for target in ("bootstrap", "deploy", "destroy"):
        (rule,) = re.findall(rf"^{target}: (.*)$", MAKEFILE, flags=re.MULTILINE)
        assert "node_modules/.installed" in rule  # npm ci from package-lock.json
        assert "$(VENV)/.dev-deps" in rule  # cdk.json's app runs .venv/bin/python
    assert re.search(r"^\tnpx cdk deploy --all \$\(CDK_CONTEXT\)", MAKEFILE, flags=re.MULTILINE)
    assert "-c stage=$(STAGE)" in MAKEFILE
