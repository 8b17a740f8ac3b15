"""Shared test helpers: sample events from events/ and a fake Lambda context."""

from __future__ import annotations

import copy
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "events" / "samples"

# the local runtime's fixture for any topology (`local_runtime`), as an outside project enables it
pytest_plugins = ["infra.local.pytest_plugin"]

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AsyncOrdersTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "orders")


def load_event(name: str) -> dict[str, Any]:
    """A sample Lambda event from events/samples, e.g. `api/place_order` (a fresh copy)."""
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text()))


@dataclass
class FakeContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for moto (`mock_aws`), never a real endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
