"""The pydantic side of ``router.validation``: the strict base model, models generated from
settings dataclasses, and pydantic errors turned into one ``ConfigError``.

Imported on first use (pydantic costs about 0.2 s to import).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from router._limits import MAX_SECONDS, Range, cut
from router.errors import ConfigError

__all__ = ["STRICT", "FileModel", "NonEmpty", "Seconds", "build", "join", "model_for", "problems", "validate"]

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

NonEmpty = Annotated[str, Field(min_length=1)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]

# values never shown in an error, whatever is wrong with them
_HIDDEN = frozenset({"api_key", "headers", "password", "secret"})
_USERINFO = re.compile(r"(://[^:/@]*:)([^@]*)(@)")  # the password of a URL's user info
# unknown keys that deserve more than "unknown key"
_UNKNOWN_HINTS = {
    "api_key": "keys never go in config files: put the key in an environment variable and name it with api_key_env",
}


class FileModel(BaseModel):
    """Base of every file section: unknown keys, NaN and loose types are errors."""

    model_config = STRICT


@functools.cache
def model_for(cls: type, names: tuple[str, ...] | None = None) -> type[BaseModel]:
    """A strict model of a dataclass's init fields (or of ``names`` only), bounds from
    ``Range`` metadata.

    Fields default to ``None`` (not given): the defaults live in the dataclass only.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    chosen = [f.name for f in dataclasses.fields(cls) if f.init and (names is None or f.name in names)]
    fields: dict[str, Any] = {name: (_translate(hints[name]), None) for name in chosen}
    return create_model(cls.__name__, __config__=STRICT, **fields)


def _translate(hint: Any) -> Any:
    if typing.get_origin(hint) is Annotated:
        base, *meta = typing.get_args(hint)
        extra = [Field(gt=m.gt, ge=m.ge, lt=m.lt, le=m.le) if isinstance(m, Range) else m for m in meta]
        return Annotated[(_translate(base), *extra)]  # type: ignore[return-value]
    if typing.get_origin(hint) in (Union, types.UnionType):
        return Union[tuple(_translate(a) for a in typing.get_args(hint))]  # type: ignore[return-value]
    if dataclasses.is_dataclass(hint):
        return model_for(hint)  # type: ignore[arg-type]
    return hint


def build(cls: type, spec: BaseModel) -> Any:
    """An instance of the settings dataclass ``cls`` from the fields ``spec`` was given."""
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {}
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        target = _unwrap(hints[name])
        if isinstance(value, BaseModel) and dataclasses.is_dataclass(target):
            try:
                value = build(target, value)  # type: ignore[arg-type]
            except ConfigError as exc:
                raise exc.relocated(prefix=name) from None
        kwargs[name] = value
    return cls(**kwargs)


def validate(model: type[BaseModel], data: Any, *, source: str, prefix: str = "", from_attributes: bool = False) -> Any:
    """``model`` validated from ``data``; a ``ConfigError`` listing every problem otherwise."""
    try:
        return model.model_validate(data, from_attributes=from_attributes)
    except ValidationError as exc:
        raise ConfigError(source=source, problems=problems(exc, model, prefix)) from None
    except RecursionError:
        raise ConfigError("is nested too deeply", key=prefix or None, source=source) from None


def problems(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[tuple[str | None, str, str | None]]:
    """``(key path, problem, cut value)`` for every error pydantic found."""
    out: list[tuple[str | None, str, str | None]] = []
    for e in exc.errors(include_url=False):
        loc = tuple(e["loc"])
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
            problem = "bad key: " + _reword(e)
        elif e["type"] == "missing":
            problem = "is required"
        elif e["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            problem = _UNKNOWN_HINTS.get(str(loc[-1])) or "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        else:
            problem = _reword(e)
        hidden = e["type"] == "missing" or any(str(seg) in _HIDDEN for seg in loc)
        shown = None if hidden else cut(e["input"])
        if shown is not None and loc and str(loc[-1]).endswith("url"):
            shown = _USERINFO.sub(r"\1***\3", shown)
        out.append((join(prefix, loc) or None, problem, shown))
    return out


def join(prefix: str, loc: Sequence[Any]) -> str:
    """``a.b[0].c`` from a key path prefix and a location."""
    path = prefix
    for seg in loc:
        if isinstance(seg, int) or seg == "":
            path += f"[{seg!r}]"
        else:
            path += f".{seg}" if path else str(seg)
    return path


def _reword(e: Mapping[str, Any]) -> str:
    kind, msg, ctx = e["type"], str(e["msg"]), e.get("ctx") or {}
    if kind in ("model_type", "dict_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping"
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "assertion_error":
        return msg.removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "must be", 1)


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys allowed by the model found at ``loc`` under ``model`` (none if not a model)."""
    t: Any = model
    for seg in loc:
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = t.model_fields.get(str(seg))
            if field is None:
                return []
            t = field.annotation
        elif typing.get_origin(t) in (dict, Mapping):
            t = typing.get_args(t)[1]
        elif typing.get_origin(t) in (list, tuple, Sequence):
            t = typing.get_args(t)[0]
        else:
            return []
    t = _unwrap(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else []


def _unwrap(t: Any) -> Any:
    while True:
        if typing.get_origin(t) is Annotated:
            t = typing.get_args(t)[0]
        elif typing.get_origin(t) in (Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            if len(args) != 1:
                return t
            t = args[0]
        else:
            return t
