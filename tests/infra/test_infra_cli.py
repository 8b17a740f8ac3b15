"""`npx cdk synth` works from a fresh checkout, offline: cdk.json, the app and the CLI agree."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="CDK CLI not installed: run `npm ci` first")
def test_cdk_synth_succeeds_offline(tmp_path: Path) -> None:
    env = os.environ | {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}

    # npx resolves `cdk` to this same local binary; calling it directly never reaches npm.
    result = subprocess.run(  # noqa: S603 - a fixed command, no outside input
        [str(CDK), "synth", "-q", "--no-notices", "--output", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "AsyncOrders.template.json").read_text())
    assert any(r["Type"] == "AWS::ApiGateway::RestApi" for r in template["Resources"].values())
