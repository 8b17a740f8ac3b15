"""JSON Schema 2020-12, as Pydantic writes events/schemas, to draft 4, as API Gateway models take it.

Both backends use it: the CDK stack for its request models, the local gateway to validate
request bodies as API Gateway's request validator does.

A pure function: no CDK, no I/O. The gateway's model must never refuse a body the API function
accepts, so every keyword is either kept as it is (draft 4 has it with the same meaning),
rewritten to its draft-4 form, dropped because it only annotates or because the function checks
it more strictly, or refused with an error: a schema this cannot translate fails the synth
instead of being enforced differently in the cloud.
"""

from __future__ import annotations

import copy
from typing import Any

DRAFT4 = "http://json-schema.org/draft-04/schema#"

# Draft-4 keywords kept as they are; those holding subschemas are walked below.
KEPT = frozenset(
    {
        "type",
        "enum",
        "required",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "minimum",
        "maximum",
        "title",
        "description",
    }
)
SUBSCHEMA = frozenset({"not", "additionalProperties", "additionalItems", "items"})
SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties"})
# Annotations (and identifiers) with no effect on what is accepted (API Gateway does not apply
# `default`s), and `format`: API Gateway
# checks formats its own way (a URI validator is not Pydantic's HttpUrl), and the function
# checks them more strictly anyway (callbackUrl goes through the SSRF guard).
DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
        "format",
    }
)
# 2019-09/2020-12 keywords with their draft-4 rewrite below.
REWRITTEN = frozenset({"$ref", "const", "exclusiveMinimum", "exclusiveMaximum"})


def to_draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """A self-contained draft-4 schema accepting exactly what `schema` accepts.

    Local references (`#/$defs/X`, `#/definitions/X`) are inlined, `const` becomes a
    one-value `enum`, numeric `exclusiveMinimum`/`exclusiveMaximum` become draft 4's boolean
    form beside `minimum`/`maximum`. Raises ValueError for a keyword with no draft-4 form
    (e.g. `prefixItems`, `if`), a reference that is not local, or a recursive reference.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return {"$schema": DRAFT4, **_convert(schema, definitions, path="#", resolving=())}


def _convert(
    schema: Any, definitions: dict[str, Any], path: str, resolving: tuple[str, ...]
) -> Any:
    if isinstance(schema, bool):  # `true`/`false` subschemas: draft 4 allows them only here
        return schema
    if not isinstance(schema, dict):
        raise ValueError(f"{path}: a schema must be an object, not {schema!r}")
    unknown = (
        set(schema) - KEPT - SUBSCHEMA - SUBSCHEMA_LISTS - SUBSCHEMA_MAPS - DROPPED - REWRITTEN
    )
    if unknown:
        raise ValueError(f"{path}: no draft-4 equivalent for {', '.join(sorted(unknown))}")

    def walk(value: Any, where: str) -> Any:
        return _convert(value, definitions, f"{path}/{where}", resolving)

    out: dict[str, Any] = {key: copy.deepcopy(schema[key]) for key in KEPT if key in schema}
    if "const" in schema:
        out["enum"] = [copy.deepcopy(schema["const"])]
    for key in SUBSCHEMA & schema.keys():
        value = schema[key]
        if key in ("items", "additionalItems") and isinstance(value, list):
            out[key] = [walk(item, f"{key}/{i}") for i, item in enumerate(value)]
        else:
            out[key] = walk(value, key)
    for key in SUBSCHEMA_LISTS & schema.keys():
        out[key] = [walk(item, f"{key}/{i}") for i, item in enumerate(schema[key])]
    for key in SUBSCHEMA_MAPS & schema.keys():
        out[key] = {name: walk(value, f"{key}/{name}") for name, value in schema[key].items()}
    _bound(out, schema, "minimum", "exclusiveMinimum", stricter=lambda a, b: a >= b)
    _bound(out, schema, "maximum", "exclusiveMaximum", stricter=lambda a, b: a <= b)
    order = [key for key in schema if key in out] + [key for key in out if key not in schema]
    out = {key: out[key] for key in order}  # the source's key order, for readable templates

    if "$ref" not in schema:
        return out
    target = _resolve(schema["$ref"], definitions, path, resolving)
    inlined = _convert(target, definitions, schema["$ref"], (*resolving, schema["$ref"]))
    # Beside $ref, 2020-12 applies both; draft 4 would ignore the siblings: say it with allOf.
    return {"allOf": [inlined], **out} if out else inlined


def _resolve(ref: str, definitions: dict[str, Any], path: str, resolving: tuple[str, ...]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            name = ref.removeprefix(prefix)
            break
    else:
        raise ValueError(f"{path}: only local references can be inlined, not {ref!r}")
    if ref in resolving:
        raise ValueError(f"{path}: {ref} refers to itself: a recursive schema cannot be inlined")
    if name not in definitions:
        raise ValueError(f"{path}: {ref} is not defined")
    return definitions[name]


def _bound(
    out: dict[str, Any],
    schema: dict[str, Any],
    inclusive: str,
    exclusive: str,
    stricter: Any,
) -> None:
    """Draft 4 marks `minimum`/`maximum` exclusive with a boolean; later drafts give a number."""
    if exclusive not in schema:
        return
    limit = schema[exclusive]
    if isinstance(limit, bool):  # already draft 4's form
        out[exclusive] = limit
        return
    if inclusive in schema and not stricter(limit, schema[inclusive]):
        return  # the inclusive bound is the stricter one and is already kept
    out[inclusive] = limit
    out[exclusive] = True
