"""The app synthesized once a session, as `npx cdk synth` does it, and once more with WAF on."""

from __future__ import annotations

import pytest

from infra.topology import TOPOLOGY
from tests.infra.synth import Json, Synth, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_with_waf(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out.waf"), waf="true")


@pytest.fixture(scope="session")
def api_template(synthesized: Synth) -> Json:
    """The stack of the component that serves the API."""
    return synthesized.of_component(TOPOLOGY.api_function().component)
