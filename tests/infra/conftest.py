"""The app synthesized once a session, as `npx cdk synth` does it, and once more with WAF on."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synth, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_with_waf(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out.waf"), waf="true")
