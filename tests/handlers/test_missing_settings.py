"""Every function refuses to run without its settings: the error names what is missing, and
nothing is read or written first (no AWS call is even attempted)."""

from __future__ import annotations

import importlib
import re
from typing import Any

import botocore.client
import botocore.session
import pytest

from infra.topology import TOPOLOGY, Function
from shared import aws as shared_aws
from shared.settings import SettingsError
from tests.conftest import FakeContext, load_event

# what each function is invoked with: a sample of the events it takes
SAMPLE_EVENTS = {
    "order-api": "api/place_order",
    "order-worker": "sqs/orders",
    "notifier": "sqs/notifications",
    "sweeper": "eventbridge/sweeper_schedule",
}


def test_every_function_has_a_sample_event() -> None:
    assert set(SAMPLE_EVENTS) == {f.name for f in TOPOLOGY.functions}


@pytest.fixture
def empty_environment(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No variable of any function set, and every AWS call (or client) recorded and refused."""
    for function in TOPOLOGY.functions:
        for name in TOPOLOGY.settings_variables(function):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WEBHOOK_LOCAL_MODE", raising=False)
    calls: list[str] = []

    def refuse(what: str) -> Any:
        def refused(*args: Any, **_: Any) -> Any:
            calls.append(f"{what} {args[1] if len(args) > 1 else ''}".strip())
            raise AssertionError(f"{what} called before the settings were checked")

        return refused

    shared_aws.dynamodb.cache_clear()
    shared_aws.sqs.cache_clear()
    monkeypatch.setattr(shared_aws, "dynamodb", refuse("shared.aws.dynamodb"))
    monkeypatch.setattr(shared_aws, "sqs", refuse("shared.aws.sqs"))
    monkeypatch.setattr(shared_aws, "secret_value", refuse("shared.aws.secret_value"))
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse("AWS call"))
    monkeypatch.setattr(botocore.session.Session, "create_client", refuse("AWS client"))
    return calls


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_a_function_without_its_settings_fails_naming_them_before_any_aws_call(
    empty_environment: list[str], function: Function
) -> None:
    module_name, handler_name = function.handler.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), handler_name)

    with pytest.raises(SettingsError) as raised:
        handler(load_event(SAMPLE_EVENTS[function.name]), FakeContext(function_name=function.name))

    found = re.fullmatch(r"missing environment variable\(s\): ([A-Z0-9_, ]+)", str(raised.value))
    assert found is not None, str(raised.value)
    named = set(found.group(1).split(", "))
    # every variable the topology gives the function, and nothing else, is named
    assert named == TOPOLOGY.settings_variables(function)
    assert empty_environment == []
