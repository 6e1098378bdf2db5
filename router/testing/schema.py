"""Top-level request-body checks for the fake provider: which keys an API accepts, of which JSON
types, and which it requires. Each wire renders a ``Problem`` in its provider's own 400 shape.

A spec maps a key to its JSON types joined by ``|`` (``str``, ``int``, ``num``, ``bool``,
``obj``, ``list``, ``null`` for a nullable field, ``any``). The key sets follow the official
SDKs' request types (``openai.types.chat.CompletionCreateParams``,
``anthropic.types.MessageCreateParams``) and Google's ``GenerateContentRequest``; a test checks
them against the SDKs. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Problem", "check_body", "json_type"]

_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "obj": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
    "any": lambda v: True,
}


class Problem(NamedTuple):
    """What is wrong with a body: ``kind`` is ``unknown``, ``missing`` or ``type``; ``expected``
    the spec's types (for ``type``), ``got`` the JSON type found."""

    kind: str
    key: str
    expected: str = ""
    got: str = ""


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def check_body(payload: Mapping[str, Any], spec: Mapping[str, str], required: tuple[str, ...], *, aliases: Mapping[str, str] | None = None) -> Problem | None:
    """The first problem of ``payload`` against ``spec`` (unknown keys, then missing, then types),
    or None. ``aliases`` maps other spellings of a key (Gemini's snake_case) to the spec's."""
    names = {k: (aliases or {}).get(k, k) for k in payload}
    for key, name in names.items():
        if name not in spec:
            return Problem("unknown", key)
    present = set(names.values())
    for key in required:
        if key not in present:
            return Problem("missing", key)
    for key, name in names.items():
        types = spec[name].split("|")
        if not any(_CHECKS[t](payload[key]) for t in types):
            return Problem("type", key, spec[name], json_type(payload[key]))
    return None
