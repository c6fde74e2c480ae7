"""Field types for request models whose JSON Schema (the OpenAPI document) says exactly what they accept.

pydantic's ``strip_whitespace`` checks lengths and patterns after stripping, which the document
cannot express (it would call ``" a"`` too long for ``maxLength: 1``, yet the API would take it).
Here limits apply to the text as sent, blank text is refused by a pattern the document carries,
and surrounding whitespace is removed afterwards. Likewise JSON Schema counts ``3.0`` as an
integer, so strict integer fields take whole-number floats as the integers they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BeforeValidator, Field

#: The characters ``str.strip()`` removes, spelled out: ``\s`` means three different sets in
#: JSON Schema's regexes (ECMA-262), pydantic's (Rust) and Python's.
WHITESPACE = (r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000")


def _strip(value: str) -> str:
    return value.strip()


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: Put after ``StringConstraints``: the stored text has no surrounding whitespace.
Stripped = AfterValidator(_strip)

#: Put on a strict ``int`` field: ``3.0`` counts as ``3`` (as in JSON Schema), ``"3"`` and ``true`` do not.
WholeNumber = BeforeValidator(_whole)


def _without_null(schema: dict[str, Any]) -> None:
    options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)


def omittable() -> Any:
    """The default of an ``X | None`` field that may be left out but not sent as null (PATCH bodies).

    The document shows only ``X``; pydantic keeps the plain nullable field, so errors name the
    field itself (a ``SkipJsonSchema[None]`` union would add the union member to the name).
    """
    return Field(None, json_schema_extra=_without_null)
