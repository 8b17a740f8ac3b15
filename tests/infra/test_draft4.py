"""The 2020-12 -> draft-4 converter behind the API's request models: pure, no CDK."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft202012Validator

from infra.draft4 import DRAFT4, to_draft4

Json = dict[str, Any]


def accepts(schema: Json, instance: Any) -> bool:
    return Draft4Validator(schema).is_valid(instance)


def test_the_result_declares_draft_4_and_is_a_valid_draft_4_schema() -> None:
    converted = to_draft4({"$schema": "https://json-schema.org/draft/2020-12/schema"})

    assert converted == {"$schema": DRAFT4}
    Draft4Validator.check_schema(converted)


def test_local_references_are_inlined_and_definitions_dropped() -> None:
    # Given a 2020-12 schema whose items refer to a definition
    schema = {
        "$defs": {"Line": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "type": "array",
        "items": {"$ref": "#/$defs/Line"},
    }

    converted = to_draft4(schema)

    # Then the definition is in place and nothing refers anywhere
    assert converted["items"] == {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert "$defs" not in converted
    assert "$ref" not in str(converted)


def test_a_reference_with_siblings_keeps_both_constraints() -> None:
    # 2020-12 applies $ref and its siblings together; draft 4 would ignore the siblings
    schema = {
        "$defs": {"Short": {"type": "string", "maxLength": 3}},
        "properties": {"code": {"$ref": "#/$defs/Short", "minLength": 2}},
    }

    converted = to_draft4(schema)

    assert converted["properties"]["code"] == {
        "allOf": [{"type": "string", "maxLength": 3}],
        "minLength": 2,
    }
    assert accepts(converted, {"code": "ab"})
    assert not accepts(converted, {"code": "a"})
    assert not accepts(converted, {"code": "abcd"})


def test_annotations_and_format_are_dropped() -> None:
    schema = {
        "$id": "urn:x",
        "type": "string",
        "format": "uri",
        "examples": ["a"],
        "default": None,
        "title": "T",
        "description": "D",
    }

    assert to_draft4(schema) == {
        "$schema": DRAFT4,
        "type": "string",
        "title": "T",
        "description": "D",
    }


def test_const_becomes_a_one_value_enum() -> None:
    converted = to_draft4({"properties": {"kind": {"const": "order.placed"}}})

    assert converted["properties"]["kind"] == {"enum": ["order.placed"]}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"exclusiveMinimum": 0}, {"minimum": 0, "exclusiveMinimum": True}),
        ({"exclusiveMaximum": 10}, {"maximum": 10, "exclusiveMaximum": True}),
        # both bounds given: the stricter one wins, as it does in 2020-12
        ({"minimum": 5, "exclusiveMinimum": 0}, {"minimum": 5}),
        ({"minimum": 0, "exclusiveMinimum": 0}, {"minimum": 0, "exclusiveMinimum": True}),
        ({"maximum": 5, "exclusiveMaximum": 10}, {"maximum": 5}),
        # already draft 4's form
        ({"minimum": 1, "exclusiveMinimum": True}, {"minimum": 1, "exclusiveMinimum": True}),
    ],
)
def test_numeric_exclusive_bounds_become_draft_4_booleans(schema: Json, expected: Json) -> None:
    converted = to_draft4({"type": "number", **schema})

    assert converted == {"$schema": DRAFT4, "type": "number", **expected}
    # And it accepts exactly what the original accepts, at and around the bounds
    original = Draft202012Validator(schema)
    if not isinstance(schema.get("exclusiveMinimum"), bool):
        for value in (-1, 0, 0.5, 1, 4, 5, 6, 9.5, 10, 11):
            assert accepts(converted, value) == original.is_valid(value), value


def test_every_subschema_position_is_converted() -> None:
    leaf = {"const": 1}
    schema = {
        "properties": {"p": leaf},
        "patternProperties": {"^x": leaf},
        "additionalProperties": leaf,
        "items": [leaf, leaf],
        "additionalItems": leaf,
        "allOf": [leaf],
        "anyOf": [leaf],
        "oneOf": [leaf],
        "not": leaf,
    }

    converted = to_draft4(schema)

    assert "const" not in str(converted)
    assert str(converted).count("'enum': [1]") == 10


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"prefixItems": [{"type": "string"}]}, "prefixItems"),
        ({"if": {}, "then": {}}, "if, then"),
        ({"properties": {"a": {"unevaluatedProperties": False}}}, "#/properties/a"),
        ({"$ref": "https://example.com/s.json"}, "only local references"),
        ({"$ref": "#/$defs/Missing"}, "not defined"),
        ({"$defs": {"N": {"items": {"$ref": "#/$defs/N"}}}, "$ref": "#/$defs/N"}, "itself"),
    ],
)
def test_what_draft_4_cannot_say_is_refused_not_dropped(schema: Json, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        to_draft4(schema)


def test_the_input_is_not_changed() -> None:
    schema = {"$defs": {"A": {"const": 1}}, "properties": {"a": {"$ref": "#/$defs/A"}}}
    before = repr(schema)

    to_draft4(schema)

    assert repr(schema) == before
