"""A call's arguments checked before anything is routed or sent.

A caller's mistake is an ``InvalidRequestError`` that names the argument (and the path into
it, ``messages[0].content``); it never reaches a provider, a retry or a breaker. What is
checked: ``messages`` (a non-empty list of dicts with a string ``role``), ``task_type`` (a
non-empty string), ``tags`` (a mapping of strings to strings), ``deadline_s`` (a finite number
> 0, not a bool) and every value of ``messages`` and the provider parameters being something
JSON can carry (dicts with string keys, lists, tuples, strings, finite numbers, bools, None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from router.errors import InvalidRequestError
from router.options import plain_messages

__all__ = ["check_deadline", "check_json", "check_messages", "check_params", "check_tags", "check_task_type", "estimate_parts", "estimate_tokens"]

_MAX_DEPTH = 64
_SCALARS = (str, int, bool, type(None))


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """``messages`` as a list, or ``InvalidRequestError`` naming what is wrong."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a non-empty list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}",
            argument="messages",
        )
    messages = plain_messages(messages)  # SDK or router message objects as dicts
    if not messages:
        raise InvalidRequestError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts, got an empty list", argument="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise InvalidRequestError(f"messages[{i}] must be a dict with a string 'role'", argument=f"messages[{i}]")
        check_json(m, f"messages[{i}]")
    return [m if type(m) is dict else dict(m) for m in messages]


def estimate_tokens(messages: list[Mapping[str, Any]]) -> int:
    """A rough prompt size (characters / 4), or -1 when ``messages`` is not a list of plain dicts
    whose values are all plain strings (the caller then validates it in full)."""
    if not messages:
        return -1
    n = 0
    for m in messages:
        if type(m) is not dict or type(m.get("role")) is not str:
            return -1
        for k, v in m.items():
            if type(v) is not str or type(k) is not str:
                return -1  # parts, tool calls, None: the full check looks at them
        n += len(m.get("content") or "")
    return n // 4 + 1


def estimate_parts(messages: list[Mapping[str, Any]]) -> int:
    """The size estimate of checked ``messages`` that may hold content parts."""
    n = 0
    for m in messages:
        c = m.get("content")
        if type(c) is str:
            n += len(c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    n += len(part["text"])
    return n // 4 + 1


def check_json(value: Any, where: str, *, depth: int = 0) -> None:
    """Raise ``InvalidRequestError`` naming ``where`` unless JSON can encode ``value``."""
    t = type(value)
    if t in _SCALARS:
        return
    if t is float:
        if not math.isfinite(value):
            raise InvalidRequestError(f"{where} must be a finite number, got {value!r}", argument=where)
        return
    if depth >= _MAX_DEPTH:
        raise InvalidRequestError(f"{where} is nested deeper than {_MAX_DEPTH} levels", argument=where)
    if isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) is not str:
                raise InvalidRequestError(f"{where}: dict keys must be strings, got {type(k).__name__} {k!r:.60}", argument=where)
            check_json(v, f"{where}.{k}", depth=depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json(v, f"{where}[{i}]", depth=depth + 1)
        return
    if isinstance(value, (str, int)) and not isinstance(value, bool):  # subclasses (IntEnum, StrEnum)
        return
    if isinstance(value, float):
        check_json(float(value), where)
        return
    raise InvalidRequestError(
        f"{where} must be a value JSON can carry (str, number, bool, None, list, dict), got {t.__name__}", argument=where
    )


def check_params(params: Mapping[str, Any]) -> None:
    """Every provider parameter JSON-encodable (``temperature=object()`` names ``temperature``)."""
    for name, value in params.items():
        if type(value) in _SCALARS:
            continue
        check_json(value, name)


def check_task_type(task_type: Any) -> str:
    if type(task_type) is not str or not task_type:
        raise InvalidRequestError(f"task_type must be a non-empty string, got {task_type!r:.80}", argument="task_type")
    return task_type


def check_tags(tags: Any) -> dict[str, str]:
    """``tags`` as a new dict of strings to strings."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidRequestError(f"tags must be a dict of strings to strings, got {type(tags).__name__} {tags!r:.80}", argument="tags")
    out: dict[str, str] = {}
    for k, v in tags.items():
        if type(k) is not str or type(v) is not str:
            raise InvalidRequestError(f"tags must map strings to strings, got {k!r:.40}: {v!r:.40}", argument=f"tags[{k!r:.40}]")
        out[k] = v
    return out


def check_deadline(deadline_s: Any, *, argument: str = "deadline_s") -> float | None:
    """``deadline_s`` as a finite number > 0 (``None``: the router's default)."""
    if deadline_s is None:
        return None
    t = type(deadline_s)
    if (t is not int and t is not float) or not (0 < deadline_s < math.inf):  # NaN fails every comparison
        raise InvalidRequestError(f"{argument} must be a finite number of seconds > 0, got {deadline_s!r:.40}", argument=argument)
    return float(deadline_s)
