"""Breaking changes between two versions of a message's JSON Schema.

A published message version may only widen, so that a producer and a consumer deployed in
either order still understand each other: a consumer on the old schema reads what a producer on
the new one sends, and the other way round. Breaking, and so needing a new version:
- a field removed or renamed (a consumer of the old schema would miss it);
- a new required field (a producer of the old schema would not send it);
- a narrower type, enum, const, pattern, length or range (old values would be refused).
Adding an optional field, or widening a type or an enum, is compatible.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """What in `new` breaks readers or writers of `old`; empty when `new` only widens it."""
    return _compare(old, new, old, new, "")


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {})[name]
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return [b for branch in schema["anyOf"] for b in _branches(branch, root)]
    return [schema]


def _types(schema: Schema, root: Schema) -> set[str]:
    found: set[str] = set()
    for branch in _branches(schema, root):
        kind = branch.get("type")
        if kind is None:
            found.add("any")
        elif isinstance(kind, list):
            found.update(kind)
        else:
            found.add(kind)
    if "number" in found:
        found.add("integer")
    return found


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    where = path or "/"
    problems: list[str] = []
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in new_types and not old_types <= new_types:
        lost = ", ".join(sorted(old_types - new_types))
        problems.append(f"{where}: type narrowed (no longer {lost})")
    old_branches, new_branches = _branches(old, old_root), _branches(new, new_root)
    problems += _values(old_branches, new_branches, where)
    old_objects = [b for b in old_branches if b.get("type") == "object" or "properties" in b]
    new_objects = [b for b in new_branches if b.get("type") == "object" or "properties" in b]
    if old_objects and new_objects:
        problems += _objects(old_objects[0], new_objects[0], old_root, new_root, path)
    old_arrays = [b for b in old_branches if b.get("type") == "array" and "items" in b]
    new_arrays = [b for b in new_branches if b.get("type") == "array" and "items" in b]
    if old_arrays and new_arrays:
        problems += _compare(
            old_arrays[0]["items"], new_arrays[0]["items"], old_root, new_root, f"{path}/items"
        )
    return problems


def _values(old: list[Schema], new: list[Schema], where: str) -> list[str]:
    """Enums, consts, patterns and bounds may only widen."""
    problems: list[str] = []
    old_enum, new_enum = _allowed(old), _allowed(new)
    if new_enum is not None and (old_enum is None or not old_enum <= new_enum):
        problems.append(f"{where}: allowed values narrowed")
    for key in _LOWER_BOUNDS + _UPPER_BOUNDS + ("pattern",):
        old_values = [b[key] for b in old if key in b]
        new_values = [b[key] for b in new if key in b]
        if not new_values:
            continue
        if not old_values:
            problems.append(f"{where}: {key} added")
        elif key == "pattern" and old_values[0] != new_values[0]:
            problems.append(f"{where}: pattern changed")
        elif key in _LOWER_BOUNDS and new_values[0] > old_values[0]:
            problems.append(f"{where}: {key} raised")
        elif key in _UPPER_BOUNDS and new_values[0] < old_values[0]:
            problems.append(f"{where}: {key} lowered")
    return problems


def _allowed(branches: list[Schema]) -> set[str] | None:
    """The values an enum or const allows, or None when any value of the type is allowed."""
    values: set[str] = set()
    for branch in branches:
        if "enum" in branch:
            values.update(map(repr, branch["enum"]))
        elif "const" in branch:
            values.add(repr(branch["const"]))
        elif branch.get("type") != "null":
            return None
    return values


def _objects(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    problems: list[str] = []
    old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
    for name in old_fields:
        if name not in new_fields:
            problems.append(f"{path}/{name}: field removed or renamed")
        else:
            problems += _compare(
                old_fields[name], new_fields[name], old_root, new_root, f"{path}/{name}"
            )
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}/{name}: new required field")
    if (
        old.get("additionalProperties", True) is not False
        and new.get("additionalProperties") is False
    ):
        problems.append(f"{path or '/'}: unknown fields now refused")
    return problems
