"""A published message version only ever widens: the schema the models give now must not break
the committed one. A breaking change needs a new version (docs/extending.md)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.tools import contracts
from infra.tools.compatibility import breaking_changes
from shared.envelope import REGISTRY

PUBLISHED = sorted(REGISTRY.values(), key=lambda entry: entry.key)


@pytest.mark.parametrize("entry", PUBLISHED, ids=lambda entry: entry.key)
def test_each_published_message_schema_is_unbroken(entry: Any) -> None:
    path = contracts.SCHEMAS_DIR / f"{entry.schema_stem}.schema.json"
    committed = json.loads(path.read_text())
    now = json.loads(contracts.render()[path])

    assert breaking_changes(committed, now) == []


def delivery_update() -> dict[str, Any]:
    path = contracts.SCHEMAS_DIR / "messages" / "webhook-delivery-updated.v1.schema.json"
    return dict(json.loads(path.read_text()))


def changed(edit: Any) -> list[str]:
    old = delivery_update()
    new = copy.deepcopy(old)
    edit(new["$defs"]["DeliveryUpdate"])
    return breaking_changes(old, new)


def test_identical_schemas_are_compatible() -> None:
    assert breaking_changes(delivery_update(), delivery_update()) == []


def test_a_new_optional_field_is_compatible() -> None:
    assert changed(lambda model: model["properties"].update(note={"type": "string"})) == []


def test_a_removed_field_breaks() -> None:
    assert changed(lambda model: model["properties"].pop("attempts")) == [
        "/data/attempts: field removed or renamed"
    ]


def test_a_renamed_field_breaks() -> None:
    def rename(model: dict[str, Any]) -> None:
        model["properties"]["tries"] = model["properties"].pop("attempts")

    assert "/data/attempts: field removed or renamed" in changed(rename)


def test_a_new_required_field_breaks() -> None:
    def require(model: dict[str, Any]) -> None:
        model["properties"]["tenant"] = {"type": "string"}
        model["required"].append("tenant")

    assert changed(require) == ["/data/tenant: new required field"]


def test_a_narrower_type_breaks() -> None:
    def narrow(model: dict[str, Any]) -> None:
        model["properties"]["lastStatusCode"] = {"type": "integer"}  # was integer or null

    assert changed(narrow) == ["/data/lastStatusCode: type narrowed (no longer null)"]


def test_a_narrower_enum_breaks_and_a_wider_one_does_not() -> None:
    old = delivery_update()
    narrower, wider = copy.deepcopy(old), copy.deepcopy(old)
    narrower["$defs"]["DeliveryStatus"]["enum"].remove("FAILED")
    wider["$defs"]["DeliveryStatus"]["enum"].append("PAUSED")

    assert breaking_changes(old, narrower) == ["/data/status: allowed values narrowed"]
    assert breaking_changes(old, wider) == []


def test_a_tighter_bound_breaks() -> None:
    def tighten(model: dict[str, Any]) -> None:
        model["properties"]["eventId"]["maxLength"] = 32

    assert changed(tighten) == ["/data/eventId: maxLength lowered"]
