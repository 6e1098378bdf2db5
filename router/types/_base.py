"""The base of the SDK-shaped objects: pydantic models that keep every field the provider sent
(unknown ones too, as the OpenAI SDK's models do) and dump with the SDK's keyword arguments."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Optional

import pydantic
from pydantic import PrivateAttr
from typing_extensions import Self

from router.types._construct import construct

__all__ = ["LazyModel", "OpenAIObject"]


class OpenAIObject(pydantic.BaseModel):
    """``model_dump()`` / ``model_dump_json()`` are pydantic's; ``to_dict()`` / ``to_json()``
    are the SDK's (fields the provider did not send left out by default)."""

    model_config = pydantic.ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> dict[str, Any]:
        """The object as the API sent it (the SDK's ``to_dict``)."""
        return self.model_dump(
            mode=mode,
            by_alias=use_api_names,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            warnings=warnings,
        )

    def to_json(
        self,
        *,
        indent: int | None = 2,
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> str:
        """The object as a JSON string as the API sent it (the SDK's ``to_json``)."""
        return self.model_dump_json(
            indent=indent,
            by_alias=use_api_names,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            warnings=warnings,
        )

    def __str__(self) -> str:
        return f"{self.__repr_name__()}({self.__repr_str__(', ')})"


_log = logging.getLogger("attune.router")
_PRIVATE_DEFAULTS: dict[type, dict[str, Any]] = {}


_TWINS: dict[type, type[OpenAIObject]] = {}
_WARNED: set[type] = set()  # classes whose lenient build was logged at WARNING once


def _twin(cls: type[OpenAIObject]) -> type[OpenAIObject]:
    """A plain model with ``cls``'s fields: validating it skips the private attributes and the
    overrides of ``LazyModel``, which made ``model_validate`` several times slower."""
    twin = _TWINS.get(cls)
    if twin is None:
        fields: dict[str, Any] = {name: (f.annotation, f) for name, f in cls.model_fields.items()}
        twin = _TWINS[cls] = pydantic.create_model(cls.__name__, __base__=OpenAIObject, **fields)
    return twin


class LazyModel(OpenAIObject):
    """A top-level response built from the provider's JSON on first use: routing a call costs a
    ``__new__`` and a dict; reading any field validates the whole body once (as
    ``model_validate`` would, strictly). A body with a value of an unexpected type is built
    without validation as the SDK builds every response (``router.types._construct``: every
    other field still an object, the odd value kept as sent), and logged (WARNING once per
    class, then DEBUG)."""

    _body: Any = PrivateAttr(default=None)  # the JSON body, or a function assembling it, until first read

    @classmethod
    def lazy(cls, body: dict[str, Any], **private: Any) -> Self:
        """An instance that validates ``body`` on first access; ``private`` sets private attributes."""
        obj = cls.__new__(cls)
        defaults = _PRIVATE_DEFAULTS.get(cls)
        if defaults is None:
            defaults = _PRIVATE_DEFAULTS[cls] = {k: a.get_default() for k, a in cls.__private_attributes__.items()}
        private["_body"] = body
        _set = object.__setattr__
        _set(obj, "__pydantic_private__", {**defaults, **private})
        _set(obj, "__pydantic_fields_set__", set())
        _set(obj, "__pydantic_extra__", {})
        return obj

    def _materialize(self) -> None:
        priv = object.__getattribute__(self, "__pydantic_private__")
        body = priv.get("_body") if priv else None
        if body is None:
            return
        priv["_body"] = None
        if callable(body):  # the body is assembled on first read too (adapters that translate)
            body = body()
        cls = type(self)
        twin = _twin(cls)
        try:  # strict: a value of another type is kept as sent below, as the SDK keeps it
            built: pydantic.BaseModel = twin.model_validate(body, strict=True)
        except pydantic.ValidationError as exc:
            log = _log.debug if cls in _WARNED else _log.warning
            _WARNED.add(cls)
            log("%s body has %d values of an unexpected type; built without validation, as the SDK builds it", cls.__name__, exc.error_count())
            built = construct(twin, body)
        _set = object.__setattr__
        _set(self, "__dict__", built.__dict__)
        _set(self, "__pydantic_fields_set__", built.__pydantic_fields_set__)
        _set(self, "__pydantic_extra__", built.__pydantic_extra__)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            priv = object.__getattribute__(self, "__pydantic_private__")
            if priv and priv.get("_body") is not None and not name.startswith("__"):
                self._materialize()
                return getattr(self, name)
            return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._materialize()
        super().__setattr__(name, value)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        self._materialize()
        return super().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:  # type: ignore[override]
        self._materialize()
        return super().model_dump_json(**kwargs)

    def model_copy(self, **kwargs: Any) -> Self:  # type: ignore[override]
        self._materialize()
        return super().model_copy(**kwargs)

    @property
    def model_fields_set(self) -> set[str]:  # type: ignore[override]
        self._materialize()
        return self.__pydantic_fields_set__

    @property
    def model_extra(self) -> dict[str, Any] | None:  # type: ignore[override]
        self._materialize()
        return self.__pydantic_extra__

    def __eq__(self, other: object) -> bool:
        self._materialize()
        if isinstance(other, LazyModel):
            other._materialize()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Any:
        self._materialize()
        return super().__iter__()

    def __repr_args__(self) -> Any:
        self._materialize()
        return super().__repr_args__()

    def __getstate__(self) -> dict[Any, Any]:
        self._materialize()
        return super().__getstate__()

    def __copy__(self) -> Self:
        self._materialize()
        return super().__copy__()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        self._materialize()
        return super().__deepcopy__(memo)
