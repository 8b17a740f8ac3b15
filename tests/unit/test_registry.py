"""Message types: registered once, published as schemas, and handled by exactly the consumers
of the queues that carry them."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import messages
from infra.tools.contracts import SCHEMAS_DIR
from infra.topology import TOPOLOGY, Function
from shared.envelope import REGISTRY, Envelope, message


def test_every_registered_type_has_a_published_schema() -> None:
    assert messages.__all__
    for entry in REGISTRY.values():
        assert (SCHEMAS_DIR / f"{entry.schema_stem}.schema.json").is_file(), entry.key


def test_every_type_a_queue_carries_is_registered() -> None:
    carried = {key for queue in TOPOLOGY.queues for key in queue.carries}
    assert carried <= set(REGISTRY)
    assert set(REGISTRY) <= carried, "a registered type no queue carries"


@pytest.mark.parametrize("function", [f for f, _ in TOPOLOGY.consumers()], ids=lambda f: f.name)
def test_a_consumer_handles_exactly_what_its_queue_carries(function: Function) -> None:
    module = importlib.import_module(function.handler.rsplit(".", 1)[0])
    assert function.event_source is not None
    assert module.router.message_types == set(TOPOLOGY.queue(function.event_source.queue).carries)


def test_a_type_and_version_is_registered_once() -> None:
    entry = REGISTRY["order.placed@1"]
    with pytest.raises(ValueError, match="registered twice"):
        message("order.placed", 1)(entry.model)


def test_a_model_must_carry_its_type_and_version() -> None:
    class Mislabelled(Envelope[Any]):
        pass

    with pytest.raises(ValueError, match="must default type"):
        message("toy.mislabelled", 1)(Mislabelled)
