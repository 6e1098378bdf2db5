"""Errors raised by attune-router.

Exception tree::

    AttuneError
     ├── ConfigError (ValueError)             bad configuration: names the key and the file
     ├── InvalidRequestError (ValueError)     bad call arguments: names the argument
     │    └── UnknownModelError (LookupError) ``model=`` is neither a tier nor a deployment
     ├── ProviderError                         one attempt at one deployment failed
     │    ├── RateLimitedError                 429                      error_type "rate_limited"
     │    ├── OverloadedError                  529, 503                 "overloaded"
     │    ├── ServerError                      other 5xx                "server_error"
     │    ├── ProviderTimeoutError             connect/read timeout     "timeout"
     │    ├── ConnectionFailedError            reset, refused, DNS      "connection"
     │    ├── InvalidResponseError             unparsable/truncated     "invalid_response"
     │    ├── AuthError                        401, 403                 "auth"
     │    ├── ContextLengthError               400 context too long     "context_length"
     │    ├── BadRequestError                  other 400, 404, 422      "bad_request"
     │    └── CircuitOpenError                 breaker open, not sent   "circuit_open"
     └── RoutingError                          a routed call failed; carries every attempt

``ProviderError`` messages never contain the API key or prompt text: adapters build them
from the status code and the provider's error code/message only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.records import AttemptRecord, LLMCallRecord

__all__ = [
    "AttuneError",
    "AuthError",
    "BadRequestError",
    "CircuitOpenError",
    "ConfigError",
    "ConnectionFailedError",
    "ContextLengthError",
    "InvalidRequestError",
    "InvalidResponseError",
    "OverloadedError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "RoutingError",
    "ServerError",
    "UnknownModelError",
    "error_class_for",
    "error_object",
]


class AttuneError(Exception):
    """Base of every error this library raises."""


class ConfigError(AttuneError, ValueError):
    """Configuration is missing or wrong (a config or scenario file, or settings built in Python).

    One format everywhere: ``SOURCE: KEY.PATH: PROBLEM (got VALUE)``, one line per problem,
    every problem of one source at once (``problems`` holds them as ``(key, problem, value
    text or None)``); values are cut short and secrets never shown. ``key``, ``value`` and
    ``source`` are the first problem's.
    """

    def __init__(
        self,
        message: str = "",
        *,
        key: str | None = None,
        source: str | None = None,
        value: str | None = None,
        problems: Sequence[tuple[str | None, str, str | None]] = (),
    ) -> None:
        self.problems: tuple[tuple[str | None, str, str | None], ...] = tuple(problems) or ((key, message, value),)
        self.key, _, self.value = self.problems[0]
        self.source = source
        lines = [(f"{_cut(k, 200)}: " if k else "") + _cut(p, 300) + (f" (got {_cut(v, 200)})" if v is not None else "") for k, p, v in self.problems]
        head = f"{source}: " if source else ""
        if len(lines) == 1:
            super().__init__(head + lines[0])
        else:
            super().__init__(f"{head}{len(lines)} problems:\n  " + "\n  ".join(lines))

    def relocated(self, *, source: str | None = None, prefix: str = "") -> ConfigError:
        """The same problems under ``prefix`` (a key path) and from ``source``."""
        moved = [((f"{prefix}.{k}" if k else prefix) if prefix else k, p, v) for k, p, v in self.problems]
        return type(self)(source=source or self.source, problems=moved)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InvalidRequestError(AttuneError, ValueError):
    """A call argument is wrong; nothing was sent."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class UnknownModelError(InvalidRequestError, LookupError):
    """``model=`` names neither a configured tier nor a deployment."""


_BY_TYPE: dict[str, type[ProviderError]] = {}  # error_type -> class, filled as the classes below are defined


class ProviderError(AttuneError):
    """One attempt failed. ``error_type`` is the taxonomy name stored in telemetry."""

    error_type = "server_error"
    response: Any = None  # the provider's non-2xx answer (an ``httpx.Response``), when there was one
    api_body: Any = None  # that answer's error object as the SDK reads it (``body.get("error", body)``)

    def __init_subclass__(cls, error_type: str | None = None, **kwargs: Any) -> None:
        """``class X(ProviderError, error_type="name")`` sets the name and registers ``X`` as
        the class of that name (``error_class_for``)."""
        super().__init_subclass__(**kwargs)
        if error_type is not None:
            cls.error_type = error_type
            _BY_TYPE[error_type] = cls

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        deployment: str | None = None,
        spend_limit: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.deployment = deployment
        self.spend_limit = spend_limit

    def __str__(self) -> str:
        parts = [self.error_type]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.deployment:
            parts.append(f"from {self.deployment}")
        head = " ".join(parts)
        return f"{head}: {self.message}" if self.message else head


class RateLimitedError(ProviderError, error_type="rate_limited"):
    """429."""


class OverloadedError(ProviderError, error_type="overloaded"):
    """529, 503."""


class ServerError(ProviderError, error_type="server_error"):
    """Another 5xx."""


class ProviderTimeoutError(ProviderError, error_type="timeout"):
    """Connect or read timeout."""


class ConnectionFailedError(ProviderError, error_type="connection"):
    """Reset, refused, DNS."""


class InvalidResponseError(ProviderError, error_type="invalid_response"):
    """An unparsable or truncated body."""


class AuthError(ProviderError, error_type="auth"):
    """401, 403: the deployment is misconfigured."""


class ContextLengthError(ProviderError, error_type="context_length"):
    """400: the prompt is longer than the context window."""


class BadRequestError(ProviderError, error_type="bad_request"):
    """Another 400, 404, 422."""


class CircuitOpenError(ProviderError, error_type="circuit_open"):
    """The breaker is open: not sent."""


def error_object(body: bytes) -> object | None:
    """The SDK's ``body`` of an error answer: its JSON's ``error`` object (the whole JSON when it
    has none), or its text when it is not JSON; None when empty."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    return data.get("error", data) if isinstance(data, dict) else data


def error_class_for(error_type: str) -> type[ProviderError]:
    """The ``ProviderError`` subclass for a taxonomy name (``KeyError`` for an unknown name)."""
    try:
        return _BY_TYPE[error_type]
    except KeyError:
        raise KeyError(f"unknown error_type {error_type!r}; known: {sorted(_BY_TYPE)}") from None


class RoutingError(AttuneError):
    """A routed call failed. ``attempts`` holds every attempt made (and every skip), in order;
    ``record`` is the telemetry record written for the call.

    Routed failures are raised as subclasses named like the OpenAI SDK's exceptions (built by
    ``router.sdk_errors.routing_error``; subclasses of the SDK's own when ``openai`` is
    installed), with the SDK's attributes: ``status_code``, ``body``, ``request_id``, ``message``, ``response``,
    ``request``, ``code``, ``param``, ``type``; ``message`` and ``str(e)`` are then the SDK's
    (``"Error code: 429 - ..."``) and ``summary`` the router's account of the call (which
    deployments were tried, the last error)."""

    status_code: int | None = None
    body: object | None = None
    request_id: str | None = None
    response: Any = None
    request: Any = None
    code: str | None = None
    param: str | None = None
    type: str | None = None

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        call_id: str,
        attempts: list[AttemptRecord],
        record: LLMCallRecord | None = None,
        last_error: BaseException | None = None,
    ) -> None:
        Exception.__init__(self, message)  # not super(): the SDK's __init__ (later in the MRO) wants an HTTP response
        self.message = message
        self.summary = message
        self.error_type = error_type
        self.call_id = call_id
        self.attempts = attempts
        self.record = record
        self.last_error = last_error

