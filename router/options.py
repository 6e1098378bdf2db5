"""The OpenAI SDK's per-call options, taken out of a call's parameters so none reaches a
provider's body: ``timeout`` (bounds the whole routed call), ``max_retries`` (retries per
deployment), ``extra_headers`` / ``extra_query`` / ``extra_body`` (applied to every upstream
request by the transport, as the SDK applies them). Also: ``messages`` given as SDK or router
objects (``messages.append(resp.choices[0].message)``) turned into the API's dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.errors import InvalidRequestError

__all__ = ["OPTION_KEYS", "CallOptions", "deadline_from_timeout", "plain_messages", "split_call_options"]

OPTION_KEYS = frozenset({"timeout", "max_retries", "extra_headers", "extra_query", "extra_body"})


@dataclass(slots=True)
class CallOptions:
    """What the SDK's request options ask of one routed call."""

    extra_headers: dict[str, str] | None = None
    extra_query: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None
    max_retries: int | None = None  # retries per deployment (fallbacks are not retries)
    deadline_s: float | None = None  # from ``timeout``


def deadline_from_timeout(timeout: Any) -> float | None:
    """Seconds for the whole call from the SDK's ``timeout``: a number, or an ``httpx.Timeout``
    (its largest phase: the call as a whole must fit in the longest wait the caller allowed)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool):
        raise InvalidRequestError(f"timeout must be a number of seconds or an httpx.Timeout, got {timeout!r}", argument="timeout")
    if isinstance(timeout, (int, float)):
        value: float | None = float(timeout)
    elif all(hasattr(timeout, a) for a in ("connect", "read", "write", "pool")):
        phases = [p for p in (timeout.connect, timeout.read, timeout.write, timeout.pool) if p is not None]
        value = float(max(phases)) if phases else None
    else:
        raise InvalidRequestError(f"timeout must be a number of seconds or an httpx.Timeout, got {type(timeout).__name__}", argument="timeout")
    if value is not None and value <= 0:
        raise InvalidRequestError(f"timeout must be > 0, got {timeout!r}", argument="timeout")
    return value


def _mapping(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = params.pop(name, None)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"{name} must be a dict, got {type(value).__name__}", argument=name)
    return dict(value)


def split_call_options(params: dict[str, Any]) -> CallOptions | None:
    """Pop the SDK's request options from ``params`` (in place); None when there are none."""
    if OPTION_KEYS.isdisjoint(params):
        return None
    opts = CallOptions(_mapping(params, "extra_headers"), _mapping(params, "extra_query"), _mapping(params, "extra_body"))
    if opts.extra_headers:
        opts.extra_headers = {str(k): str(v) for k, v in opts.extra_headers.items() if v is not None}
    retries = params.pop("max_retries", None)
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise InvalidRequestError(f"max_retries must be an integer >= 0, got {retries!r}", argument="max_retries")
    opts.max_retries = retries
    opts.deadline_s = deadline_from_timeout(params.pop("timeout", None))
    return opts


def _plain(value: Any) -> Any:
    """An SDK/pydantic object as the API's JSON (fields it was given only, as the SDK sends it)."""
    dump = getattr(value, "model_dump", None)
    if dump is None or isinstance(value, type):
        return value
    exclude = getattr(value, "__api_exclude__", None)  # ParsedChatCompletionMessage: not "parsed"
    return dump(mode="json", exclude_unset=True, exclude=exclude)


def plain_messages(messages: Sequence[Any]) -> list[Any]:
    """``messages`` with SDK or router objects (a message, its tool calls) turned into dicts;
    anything else is left for the call's own validation to judge."""
    out = []
    for m in messages:
        m = _plain(m)
        if isinstance(m, Mapping) and isinstance(m.get("tool_calls"), list):
            calls = m["tool_calls"]
            if any(not isinstance(c, Mapping) for c in calls):
                m = {**m, "tool_calls": [_plain(c) for c in calls]}
        out.append(m)
    return out
