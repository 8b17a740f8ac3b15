"""`npx cdk ls` and `npx cdk synth` work from a fresh checkout, offline: cdk.json, the app and
the CLI agree on the stacks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.cdk.app import stack_names

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(not CDK.exists(), reason="CDK CLI not installed: run `npm ci` first"),
]


def cdk(*arguments: str) -> subprocess.CompletedProcess[str]:
    # npx resolves `cdk` to this same local binary; calling it directly never reaches npm.
    return subprocess.run(  # noqa: S603 - a fixed command, no outside input
        [str(CDK), *arguments, "--no-notices"],
        cwd=REPO,
        env=os.environ | {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cdk_ls_lists_the_messaging_stack_and_one_stack_per_component(tmp_path: Path) -> None:
    result = cdk("ls", "--output", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(stack_names())
    assert len(stack_names()) >= 3


def test_cdk_synth_writes_every_stack_offline(tmp_path: Path) -> None:
    result = cdk("synth", "-q", "--output", str(tmp_path))

    assert result.returncode == 0, result.stderr
    templates = {
        name: json.loads((tmp_path / f"{name}.template.json").read_text()) for name in stack_names()
    }
    with_api = [
        name
        for name, template in templates.items()
        if any(r["Type"] == "AWS::ApiGateway::RestApi" for r in template["Resources"].values())
    ]
    assert with_api == ["AsyncOrders-prod-Orders"]
