"""Each function's settings model asks for exactly what the topology gives it, and fails fast."""

from __future__ import annotations

import importlib

import pytest

from infra.topology import TOPOLOGY, Function
from shared.settings import FunctionSettings, SettingsError, load_settings, variables

# Variables only the local runtime sets (never the topology): optional, with a safe default.
LOCAL_ONLY = {"WEBHOOK_LOCAL_MODE"}


def settings_of(function: Function) -> type[FunctionSettings]:
    """The model a function validates at entry: its handler module's SETTINGS."""
    module = importlib.import_module(function.handler.rsplit(".", 1)[0])
    model: type[FunctionSettings] = module.SETTINGS
    return model


def required(model: type[FunctionSettings]) -> set[str]:
    return {name.upper() for name, field in model.model_fields.items() if field.is_required()}


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_the_model_asks_for_exactly_what_the_topology_gives(function: Function) -> None:
    model = settings_of(function)
    assert required(model) == TOPOLOGY.settings_variables(function)
    assert variables(model) - required(model) <= LOCAL_ONLY


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_the_topology_s_values_validate(
    function: Function, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the topology's static values and a stand-in for each resource name
    for variable in TOPOLOGY.environment_names(function):
        monkeypatch.setenv(variable, f"deployed-{variable.lower()}")
    for variable, value in TOPOLOGY.static_environment(function).items():
        monkeypatch.setenv(variable, value)

    settings = load_settings(settings_of(function))

    assert settings.model_dump()  # every field parsed


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_a_missing_variable_is_named(function: Function, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in TOPOLOGY.settings_variables(function):
        monkeypatch.delenv(variable, raising=False)

    with pytest.raises(SettingsError, match="missing environment variable") as error:
        load_settings(settings_of(function))

    named = str(error.value).split(": ", 1)[1].split(", ")
    assert set(named) == required(settings_of(function))


def test_a_malformed_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    function = TOPOLOGY.function("sweeper")
    for variable in TOPOLOGY.environment_names(function):
        monkeypatch.setenv(variable, "x")
    for variable, value in TOPOLOGY.static_environment(function).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("SWEEP_MAX_REENQUEUES", "three")

    with pytest.raises(SettingsError, match=r"invalid environment variable\(s\): SWEEP_MAX"):
        load_settings(settings_of(function))
