"""Messages of the orders component."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.envelope import Envelope, message


class OrderRef(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )

    order_id: str = Field(min_length=1, max_length=64)


@message("order.placed", 1)
class OrderPlaced(Envelope[OrderRef]):
    """On the orders queue: an accepted order waiting to be settled."""

    type: Literal["order.placed"] = "order.placed"
    version: Literal[1] = 1
