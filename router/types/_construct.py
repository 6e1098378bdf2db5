"""Building a response object without validation, as the OpenAI SDK builds every response
(``openai._models.construct_type``): values of the expected type become the expected objects all
the way down, a value of another type is kept as it is, so one wrong-typed leaf leaves every
other field readable as an attribute.

The rules, after the SDK's: a union takes its value validated (lax: ``"12"`` for an
``Optional[int]`` is ``12``), else the member named by the value's ``type`` (the SDK's
discriminator), else the first model member; a model
is built from a mapping (a list of mappings becomes a list of models); dict and list values are
built item by item; an int where a float belongs becomes a float; a ``None`` field gets the
field's default (None for a required one); keys the model does not name are kept as extras.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

import pydantic
from pydantic_core import PydanticUndefined

__all__ = ["construct", "construct_value"]

_M = TypeVar("_M", bound=pydantic.BaseModel)
_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def construct(cls: type[_M], values: Mapping[str, Any]) -> _M:
    """An instance of ``cls`` from ``values`` without validation (the SDK's ``BaseModel.construct``)."""
    obj = cls.__new__(cls)
    fields: dict[str, Any] = {}
    fields_set: set[str] = set()
    for name, field in cls.model_fields.items():
        key = field.alias if field.alias is not None and field.alias in values else name
        if key in values:
            value = values[key]
            fields[name] = _default(field) if value is None else construct_value(value, field.annotation)
            fields_set.add(name)
        else:
            fields[name] = _default(field)
    extra = {k: v for k, v in values.items() if k not in cls.model_fields and not _is_alias(cls, k)}
    _set = object.__setattr__
    _set(obj, "__dict__", fields)
    _set(obj, "__pydantic_extra__", extra)
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_private__", {k: a.get_default() for k, a in cls.__private_attributes__.items()} or None)
    return obj


def _default(field: Any) -> Any:
    """The field's default; None for a required field (the SDK's ``field_get_default``)."""
    value = field.get_default(call_default_factory=True)
    return None if value is PydanticUndefined else value


def _is_alias(cls: type[pydantic.BaseModel], key: str) -> bool:
    return any(f.alias == key for f in cls.model_fields.values())


def _is_model(t: Any) -> bool:
    return inspect.isclass(t) and issubclass(t, pydantic.BaseModel)


def construct_value(value: Any, type_: Any) -> Any:
    """``value`` built as ``type_`` where it has that type's shape, else ``value`` as it is."""
    origin = get_origin(type_) or type_
    if origin is Union or origin is types.UnionType:
        return _union(value, type_)
    if origin is dict:
        args = get_args(type_)
        return {k: construct_value(v, args[1] if len(args) > 1 else Any) for k, v in value.items()} if isinstance(value, Mapping) else value
    if _is_model(origin):
        if isinstance(value, list):
            return [construct(origin, v) if isinstance(v, Mapping) else v for v in value]
        return construct(origin, value) if isinstance(value, Mapping) else value
    if origin is list:
        args = get_args(type_)
        return [construct_value(v, args[0] if args else Any) for v in value] if isinstance(value, list) else value
    if origin is float and isinstance(value, int) and not isinstance(value, bool) and float(value) == value:
        return float(value)
    return value


def _union(value: Any, type_: Any) -> Any:
    adapter = _ADAPTERS.get(type_)
    if adapter is None:
        adapter = _ADAPTERS[type_] = pydantic.TypeAdapter(type_)
    try:
        return adapter.validate_python(value)  # lax, as the SDK validates a union member
    except pydantic.ValidationError:
        pass
    members = [m for m in get_args(type_) if m is not type(None)]
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        for m in members:
            if _is_model(m) and "type" in m.model_fields and m.model_fields["type"].default == value["type"]:
                return construct(m, value)
    for m in members:
        if _is_model(m) or get_origin(m) in (list, dict):
            return construct_value(value, m)
    return value

