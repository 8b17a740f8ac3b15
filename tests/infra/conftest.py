"""The app synthesized once a session as `npx cdk synth` does it (stage prod, the default: WAF on),
and once as the dev stage (WAF off, data destroyed with the stacks, short logs)."""

from __future__ import annotations

import pytest

from infra.topology import TOPOLOGY
from tests.infra.synth import Json, Synth, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_with_waf(synthesized: Synth) -> Synth:
    """The default stage, prod, has the WAF web ACL."""
    return synthesized


@pytest.fixture(scope="session")
def synthesized_dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out.dev"), stage="dev")


@pytest.fixture(scope="session")
def api_template(synthesized: Synth) -> Json:
    """The stack of the component that serves the API."""
    return synthesized.of_component(TOPOLOGY.api_function().component)
