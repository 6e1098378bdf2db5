"""The conformance harness: one user-code pattern run through the official ``openai.AsyncOpenAI``
(``max_retries=0``) and through our ``router.AsyncClient``, against ONE recording server (the
strict fake provider, with deterministic ids), then compared:

- upstream: every request's method, path, decoded query and parsed JSON body, and its headers
  less the ones that differ by design (``IGNORED_HEADERS``, docs/conformance.md);
- returned: every SDK object the user code returns, field by field, after validating ours with
  the SDK's own type (``type(sdk_value).model_validate``), our routing extras left out
  (``OUR_EXTRAS``); plain values (what the user code computed) by equality;
- raised: the same exception class (ours an instance of the SDK's) with the same
  ``status_code``, ``message`` and ``body``.

Differences are reported all at once, each with its path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import pydantic

from router import AsyncClient
from router.testing import FakeProviderServer, Fault, RecordedRequest

KEY = "sk-conformance-0123456789"
CHAT_MODEL, EMBED_MODEL = "gpt-4o-mini", "text-embedding-3-small"
# headers whose difference is by design (docs/conformance.md): the SDK's telemetry and
# client identity, framing the HTTP clients choose, and what its retry loop adds
IGNORED_HEADERS = {"user-agent", "content-length", "accept-encoding", "connection", "host"}
IGNORED_PREFIXES = ("x-stainless-",)
OUR_EXTRAS = {"provider", "deployment", "call_id", "fallback_used", "retry_count"}


def expected_body(sdk_body: Any) -> Any:
    """The body we send for the one the SDK sent: the same, except (by design, docs/conformance.md)
    a stream always asks for usage upstream, so the call's record has its tokens; the router hands
    the usage chunk on only to a caller who asked for it."""
    if isinstance(sdk_body, dict) and sdk_body.get("stream") is True:
        opts = sdk_body.get("stream_options")
        if not (isinstance(opts, dict) and opts.get("include_usage")):
            return {**sdk_body, "stream_options": {**(opts if isinstance(opts, dict) else {}), "include_usage": True}}
    return sdk_body

Call = Callable[[Any], Awaitable[Any]]


@dataclass
class Pattern:
    """One usage pattern: ``call(client)`` is the user code (the same for both clients);
    ``setup(server)`` scripts the fake before each run."""

    name: str
    call: Call
    setup: Callable[[FakeProviderServer], None] | None = None
    waits_for: str | None = None  # what unlanded work it waits for (strict xfail)


@dataclass
class Observed:
    requests: list[RecordedRequest]
    result: Any = None
    error: BaseException | None = None


@dataclass
class Differences:
    items: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def headers_compared(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in IGNORED_HEADERS and not k.startswith(IGNORED_PREFIXES)}


def compare_requests(
    sdk: list[RecordedRequest], ours: list[RecordedRequest], out: Differences, *, expected: Callable[[Any], Any] = expected_body
) -> None:
    """Requests pairwise; ``expected`` maps the SDK's body to the one we should send."""
    if len(sdk) != len(ours):
        out.add("requests", f"the SDK sent {len(sdk)}, we sent {len(ours)}")
    for i, (a, b) in enumerate(zip(sdk, ours)):
        for name in ("method", "path", "query_params"):
            if getattr(a, name) != getattr(b, name):
                out.add(f"requests[{i}].{name}", f"SDK {getattr(a, name)!r} != ours {getattr(b, name)!r}")
        if expected(a.body) != b.body:
            out.add(f"requests[{i}].body", f"SDK {a.body!r} (expected from us: {expected(a.body)!r}) != ours {b.body!r}")
        ha, hb = headers_compared(a.headers), headers_compared(b.headers)
        for key in sorted(set(ha) | set(hb)):
            if ha.get(key) != hb.get(key):
                out.add(f"requests[{i}].headers[{key}]", f"SDK {ha.get(key)!r} != ours {hb.get(key)!r}")


def _our_dump(value: Any) -> Any:
    dump = value.model_dump() if hasattr(value, "model_dump") else None
    if isinstance(dump, dict):
        for key in OUR_EXTRAS:
            dump.pop(key, None)
    return dump


def _sdk_type(sdk: pydantic.BaseModel) -> type[pydantic.BaseModel]:
    """The SDK object's class; a generic left open at run time (``ParsedChatCompletion[T]`` of
    ``parse()``) is closed with ``Any`` so ``parsed`` validates as data (the parsed object itself is
    compared where the user code returns it)."""
    cls = type(sdk)
    params = getattr(cls, "__pydantic_generic_metadata__", {}).get("parameters")
    return cls[tuple(Any for _ in params)] if params else cls  # type: ignore[index]


def compare_values(sdk: Any, ours: Any, path: str, out: Differences) -> None:
    """``ours`` against the SDK's ``sdk``, recursively; SDK objects field by field."""
    if isinstance(sdk, pydantic.BaseModel):
        dump = _our_dump(ours)
        if dump is None:
            out.add(path, f"ours is a {type(ours).__name__} without model_dump(), the SDK's a {type(sdk).__name__}")
            return
        try:
            validated = _sdk_type(sdk).model_validate(dump)
        except pydantic.ValidationError as exc:
            out.add(path, f"ours does not validate as {type(sdk).__name__}: {str(exc)[:300]}")
            return
        compare_values(sdk.model_dump(), validated.model_dump(), path, out)
        return
    if isinstance(sdk, dict) and isinstance(ours, dict):
        for key in sorted(set(sdk) | set(ours), key=str):
            if key not in ours or key not in sdk:
                out.add(f"{path}.{key}", f"only in {'the SDK' if key in sdk else 'ours'} ({(sdk if key in sdk else ours)[key]!r})")
            else:
                compare_values(sdk[key], ours[key], f"{path}.{key}", out)
        return
    if isinstance(sdk, (list, tuple)) and isinstance(ours, (list, tuple)):
        if len(sdk) != len(ours):
            out.add(path, f"SDK has {len(sdk)} items, ours {len(ours)}")
        for i, (a, b) in enumerate(zip(sdk, ours)):
            compare_values(a, b, f"{path}[{i}]", out)
        return
    if sdk != ours:
        out.add(path, f"SDK {sdk!r} != ours {ours!r}")


def compare_errors(sdk: BaseException | None, ours: BaseException | None, out: Differences) -> None:
    if sdk is None and ours is None:
        return
    if sdk is None or ours is None:
        out.add("raised", f"SDK raised {sdk!r}, ours raised {ours!r}")
        return
    if not isinstance(ours, type(sdk)):
        out.add("raised", f"ours raised {type(ours).__name__} ({str(ours)[:200]}), not an instance of the SDK's {type(sdk).__name__}")
        return
    for name in ("status_code", "message", "body"):
        if getattr(sdk, name, None) != getattr(ours, name, None):
            out.add(f"raised.{name}", f"SDK {getattr(sdk, name, None)!r} != ours {getattr(ours, name, None)!r}")


async def observe(server: FakeProviderServer, pattern: Pattern, client: Any) -> Observed:
    server.reset()
    if pattern.setup is not None:
        pattern.setup(server)
    try:
        result = await pattern.call(client)
    except Exception as exc:  # compared with what the SDK raised
        return Observed(server.recordings(), error=exc)
    return Observed(server.recordings(), result)


async def run_pattern(fake: FakeProviderServer, pattern: Pattern, sdk: openai.AsyncOpenAI, ours: AsyncClient) -> None:
    """Run ``pattern`` both ways and fail with every difference found."""
    fake.require_api_key(KEY)
    a = await observe(fake, pattern, sdk)
    b = await observe(fake, pattern, ours)
    assert a.requests, f"{pattern.name}: the SDK sent no request"
    out = Differences()
    compare_requests(a.requests, b.requests, out)
    compare_errors(a.error, b.error, out)
    if a.error is None and b.error is None:
        compare_values(a.result, b.result, "result", out)
    assert not out.items, f"{pattern.name} differs from the SDK:\n  " + "\n  ".join(out.items)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


__all__ = ["CHAT_MODEL", "EMBED_MODEL", "KEY", "Fault", "Pattern", "compare_values", "run_pattern"]
