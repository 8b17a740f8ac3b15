"""The versioned envelope every queue message travels in, and the registry of message types.

`type` and `version` let consumers route and evolve; `correlationId` starts at the API request
and follows the work; `id` is unique per logical message (redeliveries keep it). Each message
type is registered once, with `@message`: (type, version) -> model -> its published schema,
`events/schemas/messages/<type>.v<version>.schema.json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Payload = TypeVar("Payload", bound=BaseModel)


class Envelope(BaseModel, Generic[Payload]):
    # defer_build: a model's validator is built when first used, not at import, so each
    # function builds only the messages it handles (cold start; docs/performance.md)
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    correlation_id: str = Field(min_length=1, max_length=128)
    occurred_at: datetime
    data: Payload


class EnvelopeHeader(BaseModel):
    """Just enough of a message to route it: its type and version."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    type: str
    version: int


@dataclass(frozen=True)
class MessageType:
    name: str
    version: int
    model: type[Envelope[Any]]

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def schema_stem(self) -> str:
        """Its published schema: events/schemas/<stem>.schema.json."""
        return f"messages/{self.name.replace('.', '-')}.v{self.version}"


REGISTRY: dict[str, MessageType] = {}

Model = TypeVar("Model", bound=type[BaseModel])


def message(type_: str, version: int) -> Callable[[Model], Model]:
    """Register an envelope model as message `type_` at `version` (once per pair)."""

    def register(model: Model) -> Model:
        if not issubclass(model, Envelope):
            raise TypeError(f"{model.__name__} is not an Envelope")
        entry = MessageType(type_, version, model)
        if entry.key in REGISTRY:
            raise ValueError(f"message {entry.key} is registered twice")
        fields = model.__pydantic_fields__
        if fields["type"].default != type_ or fields["version"].default != version:
            raise ValueError(f"{model.__name__} must default type={type_!r}, version={version}")
        REGISTRY[entry.key] = entry
        return model

    return register


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_wire(envelope: Envelope[Any]) -> str:
    return envelope.model_dump_json(by_alias=True)
