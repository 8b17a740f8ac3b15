"""Each function's settings: a model of the variables it reads, validated at handler entry.

A field `orders_table_name` is read from `ORDERS_TABLE_NAME`. Every field a function needs is
required and has no default that restates the topology (infra/topology.py gives the values); a
test holds each model to exactly the variables the topology gives its function. A missing or
malformed variable fails the invocation with its name, before the event is touched.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError


class SettingsError(RuntimeError):
    """The function was deployed without a variable it needs, or with a malformed one."""


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Settings = TypeVar("Settings", bound=FunctionSettings)


def variables(model: type[FunctionSettings]) -> set[str]:
    """The environment variable names the model reads."""
    return {name.upper() for name in model.model_fields}


def load_settings(model: type[Settings]) -> Settings:
    """The model from the environment as it is now (cached while it does not change)."""
    names = sorted(variables(model))
    settings: Settings = _load(model, tuple((name, os.environ.get(name)) for name in names))
    return settings


@cache
def _load(model: type[Settings], values: tuple[tuple[str, str | None], ...]) -> Settings:
    present = {name.lower(): value for name, value in values if value is not None}
    missing = [
        name
        for name, value in values
        if value is None and model.model_fields[name.lower()].is_required()
    ]
    if missing:
        raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
    try:
        settings: Settings = model.model_validate(present)
        return settings
    except ValidationError as error:
        names = sorted({str(e["loc"][0]).upper() for e in error.errors()})
        raise SettingsError(f"invalid environment variable(s): {', '.join(names)}") from error
