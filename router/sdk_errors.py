"""Routed failures as the OpenAI SDK's exception classes, so ``except openai.RateLimitError``
(and ``openai.APIStatusError as e: e.status_code``) catches them.

The classes here carry the SDK's names, tree and attributes, and every one is a
``RoutingError`` carrying every attempt. When the ``openai`` package is imported (the
drop-in clients import it when it is installed), a failure is raised as a subclass of both the
class here and the SDK's class of the same name (``sdk_variant``), so both
``except router.sdk_errors.RateLimitError`` and ``except openai.RateLimitError`` catch it::

    APIError (RoutingError)
     ├── APIStatusError                 status_code, response, request_id
     │    ├── BadRequestError           400 (also a request refused before sending)
     │    ├── AuthenticationError       401
     │    ├── PermissionDeniedError     403
     │    ├── NotFoundError             404
     │    ├── ConflictError             409
     │    ├── UnprocessableEntityError  422
     │    ├── RateLimitError            429 (also: held back by a Retry-After window)
     │    └── InternalServerError       >= 500 (also: every breaker open, 503)
     ├── APIConnectionError             connection failures, unreadable answers
     │    └── APITimeoutError           the call's deadline or an attempt's timeout
     └── APIResponseValidationError     a 2xx answer of the wrong shape

The rule for a call that made several attempts: the class follows the call's ``error_type``
(a deadline that ran out is ``APITimeoutError``), and for an answer with an HTTP status the
status of the **last attempt** (the error that ended the call, ``RoutingError.last_error``),
mapped as the SDK maps statuses. ``response`` is that attempt's HTTP answer; when nothing was
sent (held back, refused) it is a synthesized answer with the status above and an OpenAI error
body, addressed to ``http://attune-router/v1/chat/completions``.

``message`` and ``str(e)`` are the SDK's, built as ``openai._base_client`` builds them:
``"Error code: 429 - <the answer's error.message>"`` (``"Error code: 429"`` when the body names
no message), ``"Request timed out."``, ``"Connection error."``, ``"Data returned by API invalid
for expected schema."``. The router's account of the call (``"all deployments of tier 'x'
failed (tried: a, b); last error: ..."``) is ``e.summary`` and a note on the exception, so a
printed traceback shows it under the SDK's line.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeVar

from router.errors import ProviderError, RoutingError, error_object

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "error_message",
    "routing_error",
    "sdk_class_for",
    "sdk_message",
    "sdk_variant",
]

_PLACEHOLDER_URL = "http://attune-router/v1/chat/completions"


class APIError(RoutingError):
    """A routed call failed (``openai.APIError``)."""


class APIStatusError(APIError):
    """The call ended on an HTTP error status (``openai.APIStatusError``)."""


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class APIConnectionError(APIError):
    pass


class APITimeoutError(APIConnectionError):
    pass


class APIResponseValidationError(APIError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
# the status assumed when the failure had none (nothing sent, or refused before sending)
_STATUS_FOR_TYPE = {"rate_limited": 429, "circuit_open": 503, "overloaded": 503, "server_error": 500, "auth": 401, "bad_request": 400, "context_length": 400}


_VARIANTS: dict[type, type] = {}
_E = TypeVar("_E", bound=BaseException)


def sdk_variant(cls: type[_E]) -> type[_E]:
    """``cls`` also subclassing the ``openai`` SDK's class of the same name, when ``openai`` is
    imported; ``cls`` itself otherwise (importing the SDK on a failure would stall the loop)."""
    variant = _VARIANTS.get(cls)
    if variant is not None:
        return variant
    sdk = sys.modules.get("openai")
    base = getattr(sdk, cls.__name__, None) if sdk is not None else None
    if not isinstance(base, type):
        return cls
    variant = _VARIANTS[cls] = type(cls.__name__, (cls, base), {"__module__": __name__, "__doc__": cls.__doc__})
    return variant


def _status_class(status: int) -> type[APIStatusError]:
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return InternalServerError if status >= 500 else APIStatusError


def sdk_class_for(error_type: str, last_error: BaseException | None) -> tuple[type[APIError], int | None]:
    """The class a failed call is raised as, and the HTTP status it carries (see the module doc)."""
    status = last_error.status if isinstance(last_error, ProviderError) else None
    if error_type == "timeout":
        return APITimeoutError, status
    if error_type == "connection":
        return APIConnectionError, status
    if error_type == "invalid_response":
        if status is not None and status < 400:
            return APIResponseValidationError, status
        return APIConnectionError, status
    if status is None or status < 400:
        status = _STATUS_FOR_TYPE.get(error_type, 500)
    return _status_class(status), status


def _error_object(resp: httpx.Response | None) -> object | None:
    """The SDK's ``body``: the answer's ``error`` object (or the whole JSON, or its text)."""
    return None if resp is None else error_object(resp.content)


_FIXED_MESSAGES: dict[type, str] = {
    APITimeoutError: "Request timed out.",
    APIConnectionError: "Connection error.",
    APIResponseValidationError: "Data returned by API invalid for expected schema.",
}


def error_message(body: object) -> str | None:
    """The message the SDK puts in its exception text: ``error.message`` of a JSON error body
    (the body itself when it has no ``error``), when that is a non-empty string."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else None


def sdk_message(cls: type[APIError], status: int | None, body: object) -> str:
    """``e.message`` as the SDK builds it for a failure of class ``cls`` (``body``: the SDK's
    ``body``, the answer's error object)."""
    fixed = _FIXED_MESSAGES.get(cls)
    if fixed is not None:
        return fixed
    text = f"Error code: {status}"
    message = error_message(body)
    return f"{text} - {message}" if message is not None else text


def routing_error(message: str, *, error_type: str, last_error: BaseException | None = None, **fields: Any) -> RoutingError:
    """The ``RoutingError`` to raise for a failed call: of the SDK-named class its failure maps
    to (``sdk_class_for``), with the SDK's attributes; ``message`` (the router's account of the
    call) becomes ``summary``. ``fields`` are the rest of ``RoutingError``'s keyword arguments
    (``call_id``, ``attempts``, ``record``)."""
    import httpx  # loaded on the first failure, as the rest of the wire is (``import router`` stays light)

    cls, status = sdk_class_for(error_type, last_error)
    answered = isinstance(last_error, ProviderError) and last_error.response is not None
    resp = last_error.response if answered else None  # type: ignore[union-attr]
    with_status = issubclass(cls, (APIStatusError, APIResponseValidationError))
    if resp is None and with_status:
        payload = {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}
        resp = httpx.Response(status or 500, json=payload, request=httpx.Request("POST", _PLACEHOLDER_URL))
    # the provider's error object as the adapter kept it (scrubbed of secrets), else the answer's
    body = last_error.api_body if answered and last_error.api_body is not None else _error_object(resp) if with_status else None  # type: ignore[union-attr]
    text = sdk_message(cls, resp.status_code if resp is not None else status, body)
    err = sdk_variant(cls)(text, error_type=error_type, last_error=last_error, **fields)
    err.summary = message
    err.add_note(message)
    err.request = resp.request if resp is not None else httpx.Request("POST", _PLACEHOLDER_URL)
    if with_status:
        err.response = resp
        err.status_code = resp.status_code if resp is not None else status
        err.request_id = resp.headers.get("x-request-id") if resp is not None else None
        err.body = body
    if isinstance(body, dict):
        code = body.get("code")
        err.code = str(code) if code is not None else None
        err.param = body.get("param") if isinstance(body.get("param"), str) else None
        err.type = body.get("type") if isinstance(body.get("type"), str) else None
    return err
