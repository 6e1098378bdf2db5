"""Records checked at the store's boundary, before any value is bound to SQL.

``clean_record`` returns the record ready to store (the same object when nothing needed to
change, else a coerced copy) or raises ``InvalidRecord`` with a reason naming the field and
the value. What is coerced is only what keeps the meaning: a number or bool given for a text
field becomes its text, ``None`` for a required text field becomes ``""`` (the field's
default), an integral float for an integer field becomes the int, a NUL character is removed
(PostgreSQL refuses it in text, so neither dialect stores it), an unencodable surrogate
becomes ``?``, scalar tag keys and values become text. Everything else that a database could
not take, or that would poison a rollup sum (NaN or infinite numbers, integers beyond the
column's range, lists where text belongs, a timestamp that is not a datetime), is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ._columns import KEY_WIDTH
from .records import AttemptRecord, LLMCallRecord, SkippedDeployment

__all__ = ["InvalidRecord", "clean_record", "plain_record"]

INT64 = (1 << 63) - 1
INT32 = (1 << 31) - 1
_WIDTH = KEY_WIDTH  # column widths the schema declares (PostgreSQL enforces them)

_REQUIRED_TEXT = ("provider", "model", "tier", "task_type", "deployment")
_OPTIONAL_TEXT = ("original_provider", "original_model", "circuit_breaker_state", "error_type",
                  "error_message", "request_id", "policy")  # fmt: skip
_INTS = (("input_tokens", INT64), ("output_tokens", INT64), ("latency_ms", INT64), ("retry_count", INT32))
_BOOLS = ("fallback_used", "success")
_LISTS = ("fallback_chain", "plan_order")


class InvalidRecord(ValueError):
    """A record (or one of its attempts) that cannot be stored; the message says why."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(name: str, v: Any, *, required: bool) -> Any:
    """``v`` as storable text (the same object when it already is), or raise."""
    if type(v) is str:
        if v.isascii():
            return v.replace("\x00", "") if "\x00" in v else v
        v = v.replace("\x00", "")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            v = v.encode("utf-8", "replace").decode("utf-8")
        return v
    if v is None:
        if required:
            return ""
        return None
    if isinstance(v, str):  # a str subclass: store its plain text
        return _text(name, str.__str__(v), required=required)
    if isinstance(v, (bool, int, float)):
        return str(v)
    raise InvalidRecord(f"{name} must be text, got {type(v).__name__} {_show(v)}")


def _int(name: str, v: Any, limit: int, *, optional: bool = False) -> Any:
    if type(v) is int:
        if -limit - 1 <= v <= limit:
            return v
        raise InvalidRecord(f"{name}={_show(v)} is outside the stored integer range (±{limit})")
    if v is None and optional:
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InvalidRecord(f"{name} must be a finite number, got {v!r}")
        if not -limit - 1 <= v <= limit:
            raise InvalidRecord(f"{name}={v!r} is outside the stored integer range (±{limit})")
        return _int(name, int(round(v)), limit)
    if isinstance(v, bool):
        return int(v)
    if hasattr(type(v), "__index__") and not isinstance(v, str):  # numpy integers
        return _int(name, v.__index__(), limit)
    raise InvalidRecord(f"{name} must be an integer, got {type(v).__name__} {_show(v)}")


def _float(name: str, v: Any) -> float:
    if type(v) is float:
        if v - v == 0.0:  # finite
            return v
        raise InvalidRecord(f"{name} must be a finite number, got {v!r}")
    if isinstance(v, (int, float)) and not isinstance(v, bool) or hasattr(type(v), "__float__") and not isinstance(v, str):
        try:
            f = float(v)
        except (OverflowError, TypeError, ValueError):
            raise InvalidRecord(f"{name} must be a finite number, got {type(v).__name__} {_show(v)}") from None
        return _float(name, f)
    raise InvalidRecord(f"{name} must be a number, got {type(v).__name__} {_show(v)}")


def _bool(name: str, v: Any) -> bool:
    if v is True or v is False:
        return v
    if type(v) is int and v in (0, 1):
        return bool(v)
    raise InvalidRecord(f"{name} must be a bool, got {type(v).__name__} {_show(v)}")


def _time(name: str, v: Any) -> datetime:
    if not isinstance(v, datetime):
        raise InvalidRecord(f"{name} must be a datetime, got {type(v).__name__} {_show(v)}")
    return v


def _strings(name: str, v: Any) -> Any:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        raise InvalidRecord(f"{name} must be a list of text, got {type(v).__name__} {_show(v)}")
    out = [_text(f"{name}[{i}]", x, required=True) for i, x in enumerate(v)]
    if type(v) is list and all(a is b for a, b in zip(out, v)):
        return v
    return out


def _tags(v: Any) -> Any:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise InvalidRecord(f"tags must be a mapping of text to text, got {type(v).__name__} {_show(v)}")
    out = {_text("tags key", k, required=True): _text(f"tags[{k!r}]", x, required=True) for k, x in v.items()}
    if len(out) != len(v):
        raise InvalidRecord(f"tags keys collide once made text: {_show(v)}")
    if type(v) is dict and all(type(k) is str and out.get(k) is x for k, x in v.items()):
        return v
    return out


def _skipped(v: Any) -> Any:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        raise InvalidRecord(f"skipped must be a list of SkippedDeployment, got {type(v).__name__}")
    out = []
    for i, s in enumerate(v):
        if not isinstance(s, SkippedDeployment):
            raise InvalidRecord(f"skipped[{i}] must be a SkippedDeployment, got {type(s).__name__} {_show(s)}")
        d = _text(f"skipped[{i}].deployment", s.deployment, required=True)
        why = _text(f"skipped[{i}].reason", s.reason, required=True)
        out.append(s if d is s.deployment and why is s.reason else SkippedDeployment(d, why))
    return v if type(v) is list and all(a is b for a, b in zip(out, v)) else out


def _attempt(i: int, a: Any) -> AttemptRecord:
    if not isinstance(a, AttemptRecord):
        raise InvalidRecord(f"attempts[{i}] must be an AttemptRecord, got {type(a).__name__} {_show(a)}")
    p = f"attempts[{i}]."
    changes: dict[str, Any] = {}
    for n in ("call_id", "deployment", "provider", "model", "outcome"):
        _keep(changes, a, n, _text(p + n, getattr(a, n), required=True))
    _keep(changes, a, "error_type", _text(p + "error_type", a.error_type, required=False))
    _keep(changes, a, "position", _int(p + "position", a.position, INT32))
    _keep(changes, a, "retry_number", _int(p + "retry_number", a.retry_number, INT32))
    _keep(changes, a, "http_status", _int(p + "http_status", a.http_status, INT32, optional=True))
    _keep(changes, a, "latency_ms", _float(p + "latency_ms", a.latency_ms))
    _time(p + "started_at", a.started_at)
    return replace(a, **changes) if changes else a


def _keep(changes: dict[str, Any], obj: Any, name: str, value: Any) -> None:
    if value is not getattr(obj, name):
        changes[name] = value


_LO64, _LO32 = -INT64 - 1, -INT32 - 1


def plain_record(r: LLMCallRecord) -> bool:
    """True when every field of ``r`` already has its type and range, and its text is ASCII
    without NUL: the common case, checked with few Python operations (the writer runs this on
    every record). False sends the record through the field-by-field checks."""
    try:
        if not (
            type(r.input_tokens) is int and type(r.output_tokens) is int and type(r.latency_ms) is int
            and type(r.retry_count) is int and type(r.cost) is float and r.cost - r.cost == 0.0
            and type(r.fallback_used) is bool and type(r.success) is bool
            and _LO64 <= min(r.input_tokens, r.output_tokens, r.latency_ms)
            and max(r.input_tokens, r.output_tokens, r.latency_ms) <= INT64 and _LO32 <= r.retry_count <= INT32
            and (r.ttft_ms is None or type(r.ttft_ms) is int and _LO64 <= r.ttft_ms <= INT64)
            and type(r.fallback_chain) is list and type(r.plan_order) is list and type(r.tags) is dict
            and type(r.skipped) is list and type(r.attempts) is list and isinstance(r.timestamp, datetime)
            and 0 < len(r.call_id) <= 200 and len(r.task_type) <= 200 and 0 < len(r.deployment) <= 300
        ):  # fmt: skip
            return False
        texts = [r.call_id, r.provider, r.model, r.tier, r.task_type, r.deployment, *r.fallback_chain,
                 *r.plan_order, *r.tags, *r.tags.values()]  # fmt: skip
        texts += [x for x in (r.original_provider, r.original_model, r.circuit_breaker_state, r.error_type,
                              r.error_message, r.request_id, r.policy) if x is not None]  # fmt: skip
        for x in r.skipped:
            if type(x) is not SkippedDeployment:
                return False
            texts += (x.deployment, x.reason)
        for a in r.attempts:
            if not (
                type(a) is AttemptRecord and type(a.position) is int and type(a.retry_number) is int
                and _LO32 <= min(a.position, a.retry_number) and max(a.position, a.retry_number) <= INT32
                and (a.http_status is None or type(a.http_status) is int and _LO32 <= a.http_status <= INT32)
                and type(a.latency_ms) is float and a.latency_ms - a.latency_ms == 0.0
                and isinstance(a.started_at, datetime)
            ):  # fmt: skip
                return False
            texts += (a.call_id, a.deployment, a.provider, a.model, a.outcome)
            if a.error_type is not None:
                texts.append(a.error_type)
        joined = "".join(texts)  # TypeError unless every one is text
    except (TypeError, AttributeError):
        return False
    return joined.isascii() and "\x00" not in joined


def clean_record(r: Any) -> LLMCallRecord:
    """``r`` ready to bind (itself, or a coerced copy); ``InvalidRecord`` says why it cannot be."""
    if not isinstance(r, LLMCallRecord):
        raise InvalidRecord(f"expected an LLMCallRecord, got {type(r).__name__}")
    if plain_record(r):
        return r
    changes: dict[str, Any] = {}
    call_id = _text("call_id", r.call_id, required=True)
    if not call_id:
        raise InvalidRecord("call_id is empty")
    _keep(changes, r, "call_id", call_id)
    _time("timestamp", r.timestamp)
    for n in _REQUIRED_TEXT:
        _keep(changes, r, n, _text(n, getattr(r, n), required=True))
    for n in _OPTIONAL_TEXT:
        _keep(changes, r, n, _text(n, getattr(r, n), required=False))
    for n, limit in _INTS:
        _keep(changes, r, n, _int(n, getattr(r, n), limit))
    _keep(changes, r, "ttft_ms", _int("ttft_ms", r.ttft_ms, INT64, optional=True))
    _keep(changes, r, "cost", _float("cost", r.cost))
    for n in _BOOLS:
        _keep(changes, r, n, _bool(n, getattr(r, n)))
    for n in _LISTS:
        _keep(changes, r, n, _strings(n, getattr(r, n)))
    _keep(changes, r, "tags", _tags(r.tags))
    _keep(changes, r, "skipped", _skipped(r.skipped))
    attempts = r.attempts
    if not isinstance(attempts, (list, tuple)):
        raise InvalidRecord(f"attempts must be a list of AttemptRecord, got {type(attempts).__name__}")
    cleaned = [_attempt(i, a) for i, a in enumerate(attempts)]
    if type(attempts) is not list or any(a is not b for a, b in zip(cleaned, attempts)):
        changes["attempts"] = cleaned
    out = replace(r, **changes) if changes else r
    deployment = out.deployment or f"{out.provider}/{out.model}"
    for n, value in (("call_id", out.call_id), ("task_type", out.task_type), ("deployment", deployment)):
        if len(value) > _WIDTH[n]:
            raise InvalidRecord(f"{n} is {len(value)} characters long; at most {_WIDTH[n]} are stored")
    return out
