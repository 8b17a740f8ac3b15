"""The versioned envelope every queue message travels in.

`type` and `version` let consumers route and evolve; `correlationId` starts at the API request
and follows the work; `id` is unique per logical message (redeliveries keep it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Payload = TypeVar("Payload", bound=BaseModel)


class Envelope(BaseModel, Generic[Payload]):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    version: Literal[1] = 1
    correlation_id: str = Field(min_length=1, max_length=128)
    occurred_at: datetime
    data: Payload


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_wire(envelope: Envelope[Payload]) -> str:
    return envelope.model_dump_json(by_alias=True)
