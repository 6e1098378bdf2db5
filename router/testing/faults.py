"""Injectable faults for the fake provider, and their JSON form for the control endpoint.

A ``Fault`` is an immutable description of how the fake provider answers one request. Kinds:

==================  ==========================================================================
``ok``              success (``Fault.ok()``; ``Fault.delay(s)`` is success after ``s`` seconds)
``status``          an error response with that HTTP status, in the addressed API's error shape
``context_length``  400 with the API's context-window error (OpenAI ``context_length_exceeded``)
``stream_error``    a streamed request gets 200, its first content, then the API's error event
                    for ``status`` (a request that does not stream gets the plain status error)
``reset``           the connection is reset (RST, SO_LINGER 0) before any response byte
``reset_mid_body``  headers and part of the body are sent, then the connection is reset
``truncate``        a body shorter than its Content-Length is sent, then the connection closes
``hang``            no answer until the client closes the connection (or the server stops)
``invalid_json``    200 with a body that is not JSON
``stall``           a streamed request gets 200 and its first ``after`` events, then nothing more
                    until the client closes (a request that does not stream: ``hang``)
``error_rate``      with probability ``rate`` one of ``faults`` (weighted), otherwise success
==================  ==========================================================================

Every fault carries ``delay`` seconds of added latency before it takes effect
(``Fault.status(503).with_delay(0.2)``). For ``error_rate`` the delay applies to every outcome,
added to the delay of the chosen fault. Streams are sent event by event (chunked transfer
encoding, as the real APIs send them); ``gap`` seconds pass between events
(``Fault.ok().with_gap(0.05)``).

JSON form (``Fault.to_json`` / ``Fault.from_json``), accepted by ``POST /_control/faults``::

    null                                  success
    503                                   Fault.status(503)
    "reset" | "hang" | "truncate" | ...   a kind without parameters ("ok" is success)
    {"kind": "status", "status": 429, "retry_after": "2", "retry_after_ms": 2000,
     "message": "...", "code": "...", "headers": {"x-a": "b"}, "delay": 0.1}
    {"kind": "delay", "seconds": 0.5}     same as {"kind": "ok", "delay": 0.5}
    {"kind": "context_length", "delay": 0}
    {"kind": "stream_error", "status": 529, "message": "..."}
    {"kind": "ok", "gap": 0.05}           a stream with 50 ms between events
    {"kind": "stall", "after": 2}         a stream that stops after two events
    {"kind": "error_rate", "rate": 0.3, "faults": [503, "timeout"], "weights": [3, 1], "seed": 1}

``"timeout"`` is accepted as an alias of ``"hang"``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "Fault"]

FAULT_KINDS: tuple[str, ...] = (
    "context_length",
    "error_rate",
    "hang",
    "invalid_json",
    "ok",
    "reset",
    "reset_mid_body",
    "status",
    "stall",
    "stream_error",
    "truncate",
)

_SIMPLE_KINDS = frozenset(FAULT_KINDS) - {"error_rate", "status", "stream_error", "stall"}
_ALIASES = {"timeout": "hang", "success": "ok"}


@dataclass(frozen=True, slots=True)
class Fault:
    """How the fake provider answers one request; build with the class methods."""

    kind: str = "ok"
    status_code: int | None = None
    retry_after: str | None = None
    retry_after_ms: int | None = None
    message: str | None = None
    code_str: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    rate: float = 0.0
    faults: tuple[Fault | None, ...] = ()
    weights: tuple[float, ...] | None = None
    seed: int | None = None
    gap_s: float = 0.0
    after: int = 1
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.delay_s < 0 or self.gap_s < 0:
            raise ValueError("delay and gap must be >= 0")
        if isinstance(self.after, bool) or not isinstance(self.after, int) or self.after < 0:
            raise ValueError(f"a stall's 'after' must be a number of events >= 0, got {self.after!r}")
        if self.kind in ("status", "stream_error"):
            if self.status_code is None or not 400 <= self.status_code <= 599:
                raise ValueError(f"{self.kind} fault needs a 4xx/5xx code, got {self.status_code!r}")
        if self.kind == "error_rate":
            if not 0.0 <= self.rate <= 1.0:
                raise ValueError(f"error rate must be in [0, 1], got {self.rate!r}")
            if not self.faults:
                raise ValueError("error_rate needs at least one fault")
            if self.weights is not None and len(self.weights) != len(self.faults):
                raise ValueError("error_rate weights must match faults one to one")
            if self.rng is None:
                object.__setattr__(self, "rng", random.Random(self.seed))

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def ok(cls) -> Fault:
        """A normal successful completion."""
        return cls("ok")

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: str | None = None,
        retry_after_ms: int | None = None,
        message: str | None = None,
        code_str: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An OpenAI-shaped error with HTTP status ``code`` and optional Retry-After headers."""
        return cls(
            "status",
            status_code=code,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            message=message,
            code_str=code_str,
            headers=tuple((str(k), str(v)) for k, v in (headers or {}).items()),
        )

    @classmethod
    def context_length(cls, *, message: str | None = None) -> Fault:
        """400 invalid_request_error with code ``context_length_exceeded``."""
        return cls("context_length", message=message)

    @classmethod
    def stream_error(cls, code: int = 500, *, message: str | None = None, code_str: str | None = None) -> Fault:
        """On a streamed request: the first content, then the API's error event for ``code``."""
        return cls("stream_error", status_code=code, message=message, code_str=code_str)

    def as_status(self) -> Fault:
        """A ``stream_error`` as the plain status fault a request that does not stream gets."""
        assert self.status_code is not None
        return Fault("status", status_code=self.status_code, message=self.message, code_str=self.code_str, delay_s=self.delay_s)

    @classmethod
    def stall(cls, after: int = 1) -> Fault:
        """On a streamed request: 200 and the first ``after`` events, then silence until the
        client closes (a stall mid-stream); a request that does not stream hangs."""
        return cls("stall", after=after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Success after ``seconds`` of added latency."""
        return cls("ok", delay_s=float(seconds))

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection (RST) before sending any response byte."""
        return cls("reset")

    @classmethod
    def reset_mid_body(cls) -> Fault:
        """Send the headers and part of the body, then reset the connection."""
        return cls("reset_mid_body")

    @classmethod
    def truncate(cls) -> Fault:
        """Send a body shorter than its Content-Length, then close the connection."""
        return cls("truncate")

    @classmethod
    def hang(cls) -> Fault:
        """Never answer; the connection stays open until the client gives up."""
        return cls("hang")

    timeout = hang

    @classmethod
    def invalid_json(cls) -> Fault:
        """200 with an unparsable body."""
        return cls("invalid_json")

    @classmethod
    def error_rate(
        cls,
        rate: float,
        faults: Sequence[Fault | None] | None = None,
        *,
        weights: Sequence[float] | None = None,
        seed: int | None = None,
    ) -> Fault:
        """With probability ``rate`` answer with one of ``faults`` (default 503), else succeed."""
        return cls(
            "error_rate",
            rate=float(rate),
            faults=tuple(faults) if faults else (cls.status(503),),
            weights=tuple(float(w) for w in weights) if weights is not None else None,
            seed=seed,
        )

    # -- composition --------------------------------------------------------------------

    def with_delay(self, seconds: float) -> Fault:
        """The same fault, taking effect after ``seconds`` of added latency."""
        return dataclasses.replace(self, delay_s=float(seconds))

    def with_gap(self, seconds: float) -> Fault:
        """The same fault, its stream events ``seconds`` apart."""
        return dataclasses.replace(self, gap_s=float(seconds))

    def resolve(self) -> Fault:
        """The concrete fault for one request: draws ``error_rate``; delays add up."""
        if self.kind != "error_rate":
            return self
        assert self.rng is not None
        if self.rng.random() >= self.rate:
            chosen: Fault = Fault.ok()
        else:
            pick = self.rng.choices(self.faults, weights=self.weights)[0]
            chosen = (pick or Fault.ok()).resolve()
        if self.delay_s or self.gap_s:
            chosen = dataclasses.replace(chosen, delay_s=chosen.delay_s + self.delay_s, gap_s=chosen.gap_s or self.gap_s)
        return chosen

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> Any:
        """The JSON form of this fault (see the module docstring)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "stream_error":
            out["status"] = self.status_code
            if self.code_str is not None:
                out["code"] = self.code_str
        if self.kind == "status":
            out["status"] = self.status_code
            for key, value in (
                ("retry_after", self.retry_after),
                ("retry_after_ms", self.retry_after_ms),
                ("code", self.code_str),
            ):
                if value is not None:
                    out[key] = value
            if self.headers:
                out["headers"] = dict(self.headers)
        if self.message is not None:
            out["message"] = self.message
        if self.kind == "error_rate":
            out["rate"] = self.rate
            out["faults"] = [f.to_json() if f is not None else None for f in self.faults]
            if self.weights is not None:
                out["weights"] = list(self.weights)
            if self.seed is not None:
                out["seed"] = self.seed
        if self.kind == "stall":
            out["after"] = self.after
        if self.delay_s:
            out["delay"] = self.delay_s
        if self.gap_s:
            out["gap"] = self.gap_s
        return out

    @classmethod
    def from_json(cls, data: Any) -> Fault | None:
        """Parse the JSON form; ``None`` means success. Raises ``ValueError`` when malformed."""
        if data is None:
            return None
        if isinstance(data, bool):
            raise ValueError("a fault cannot be a boolean")
        if isinstance(data, int):
            return cls.status(data)
        if isinstance(data, str):
            kind = _ALIASES.get(data, data)
            if kind not in _SIMPLE_KINDS:
                raise ValueError(f"unknown fault {data!r}")
            return cls(kind)
        if not isinstance(data, dict):
            raise ValueError(f"a fault is null, an int, a string or an object, not {data!r}")
        known = {
            "kind", "status", "retry_after", "retry_after_ms", "message", "code", "headers",
            "delay", "seconds", "rate", "faults", "weights", "seed", "gap", "after",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        kind = data.get("kind")
        if kind is None and "status" in data:
            kind = "status"
        if not isinstance(kind, str):
            raise ValueError("a fault object needs a string 'kind'")
        kind = _ALIASES.get(kind, kind)
        delay = data.get("delay", 0.0)
        if kind in ("delay", "ok") and "seconds" in data:
            delay = data["seconds"]
        gap = data.get("gap", 0.0)
        for name, value in (("delay", delay), ("gap", gap)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{name!r} must be a number of seconds")
        if kind == "delay":
            kind = "ok"
        if kind == "status":
            status = data.get("status")
            if not isinstance(status, int) or isinstance(status, bool):
                raise ValueError("a status fault needs an integer 'status'")
            retry_after = data.get("retry_after")
            retry_after_ms = data.get("retry_after_ms")
            headers = data.get("headers") or {}
            if not isinstance(headers, dict):
                raise ValueError("'headers' must be an object")
            fault = cls.status(
                status,
                retry_after=None if retry_after is None else str(retry_after),
                retry_after_ms=None if retry_after_ms is None else int(retry_after_ms),
                message=data.get("message"),
                code_str=data.get("code"),
                headers={str(k): str(v) for k, v in headers.items()},
            )
        elif kind == "stream_error":
            status = data.get("status", 500)
            if not isinstance(status, int) or isinstance(status, bool):
                raise ValueError("a stream_error fault's 'status' must be an integer")
            fault = cls.stream_error(status, message=data.get("message"), code_str=data.get("code"))
        elif kind == "error_rate":
            raw_faults = data.get("faults")
            if raw_faults is not None and not isinstance(raw_faults, list):
                raise ValueError("'faults' must be a list")
            rate = data.get("rate")
            if not isinstance(rate, (int, float)) or isinstance(rate, bool):
                raise ValueError("an error_rate fault needs a numeric 'rate'")
            weights = data.get("weights")
            fault = cls.error_rate(
                float(rate),
                [cls.from_json(f) for f in raw_faults] if raw_faults else None,
                weights=weights,
                seed=data.get("seed"),
            )
        elif kind == "stall":
            after = data.get("after", 1)
            if isinstance(after, bool) or not isinstance(after, int):
                raise ValueError("a stall fault's 'after' must be an integer")
            fault = cls.stall(after)
        elif kind in _SIMPLE_KINDS:
            fault = cls(kind, message=data.get("message") if kind == "context_length" else None)
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = fault.with_delay(float(delay)) if delay else fault
        return fault.with_gap(float(gap)) if gap else fault
