"""The Google Gemini API (``POST {base_url}/{api_version}/models/{model}:generateContent``) over
httpx. The key goes in the ``x-goog-api-key`` header, never in the URL, so it never lands in an
access log. Streaming uses ``:streamGenerateContent?alt=sse``.

Requests arrive in the OpenAI chat shape and are converted: system (and developer) messages
become ``systemInstruction``, user messages role ``user``, assistant messages role ``model``,
text content ``parts: [{text}]``; ``max_tokens`` / ``max_completion_tokens`` ->
``generationConfig.maxOutputTokens``, ``temperature``, ``top_p`` -> ``topP``, ``top_k`` ->
``topK``, ``stop`` -> ``stopSequences``, ``seed``, ``presence_penalty`` / ``frequency_penalty``,
``response_format`` ``json_object`` -> ``responseMimeType: application/json`` and
``json_schema`` -> that plus ``responseJsonSchema`` (JSON Schema as given); function ``tools``
-> ``tools: [{functionDeclarations: [{name, description, parametersJsonSchema}]}]``,
``tool_choice`` -> ``toolConfig.functionCallingConfig`` (auto AUTO, none NONE, required ANY, a
named function ANY with ``allowedFunctionNames``); assistant ``tool_calls`` -> ``functionCall``
parts, ``tool`` messages -> ``functionResponse`` parts (a JSON-object content as the response,
other text as ``{"result": text}``); ``image_url`` parts -> ``inlineData`` (data URLs) or
``fileData`` (http URLs, the type from the extension). Other parts and parameters
(``logprobs``, ``logit_bias``, ``parallel_tool_calls: false``, ...) raise ``BadRequestError``
before anything is sent.

Responses: the first candidate's text parts joined (thought parts left out) are the content,
its ``functionCall`` parts the ``tool_calls`` (ids ``call_<n>``, finish reason "tool_calls");
``output_tokens`` is ``candidatesTokenCount + thoughtsTokenCount`` (thinking is billed as
output). Finish reasons: STOP -> "stop", MAX_TOKENS -> "length", SAFETY, RECITATION, BLOCKLIST,
PROHIBITED_CONTENT, SPII, IMAGE_SAFETY -> "content_filter", others lower-cased. A prompt blocked
by ``promptFeedback.blockReason`` (no candidate) is a *successful* response with empty content
and finish reason "content_filter": the provider worked, and sending the same prompt to the next
provider is the caller's decision, not the router's.

Errors, by the body's ``error.status`` first, else by HTTP status::

    RESOURCE_EXHAUSTED (429)        -> "rate_limited" (RetryInfo.retryDelay, else Retry-After;
                                       a per-day QuotaFailure is flagged as a spend limit)
    UNAVAILABLE (503)               -> "overloaded"
    INTERNAL (500), other 5xx       -> "server_error"
    DEADLINE_EXCEEDED (504)         -> "timeout"
    UNAUTHENTICATED (401), PERMISSION_DENIED (403), FAILED_PRECONDITION (400: billing or
    region), 400 "API key not valid" -> "auth"
    INVALID_ARGUMENT (400) "exceeds the maximum number of tokens" -> "context_length"
    other 400, 404                  -> "bad_request"
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from router.errors import (
    AuthError,
    BadRequestError,
    InvalidResponseError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
)
from router.providers._convert import (
    check_params,
    content_parts,
    data_url,
    guess_media_type,
    json_schema_format,
    max_tokens,
    stop_sequences,
    text_parts,
    tool_arguments,
    tool_names,
)
from router.providers._http import SSE, ChunkStream, HTTPAdapter, chunk, json_object, parse_guard, provider_error, retry_after_header
from router.providers.base import DEFAULT_BASE_URLS, ProviderRequest, ProviderResponse

__all__ = ["GeminiProvider", "from_gemini", "gemini_error", "to_gemini"]

_API = "Gemini"
_PARAMS = (
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "seed",
    "presence_penalty", "frequency_penalty", "response_format", "stream_options", "tools", "tool_choice",
    "parallel_tool_calls", "stream",
)
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_CONFIG = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed",
           "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"}
_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
_BY_STATUS: dict[str, type[ProviderError]] = {
    "UNAVAILABLE": OverloadedError,
    "INTERNAL": ServerError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
    "UNAUTHENTICATED": AuthError,
    "PERMISSION_DENIED": AuthError,
    "FAILED_PRECONDITION": AuthError,
}
_CONTEXT_HINTS = ("exceeds the maximum number of tokens", "input token count", "context window")
_VERSION = re.compile(r"v\d+[a-z0-9]*")


# -- errors -------------------------------------------------------------------------------


def _duration(value: Any) -> float | None:
    """A protobuf Duration string (``"17s"``, ``"45.8379s"``) in seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    return None


def gemini_error(status: int, payload: dict[str, Any], *, retry_after: float | None = None, secret: str | None = None) -> ProviderError:
    """Map a Google API error object (``{"error": {"code", "message", "status", "details"}}``)."""
    err = payload.get("error")
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or "")
    details = [d for d in err.get("details") or () if isinstance(d, dict)]
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo") and _duration(d.get("retryDelay")) is not None:
            retry_after = _duration(d.get("retryDelay"))
    per_day = any("PerDay" in str(v.get("quotaId") or "") for d in details for v in (d.get("violations") or ()) if isinstance(v, dict))
    bad_key = any(d.get("reason") == "API_KEY_INVALID" for d in details) or "api key not valid" in message.lower()
    return provider_error(
        status, str(err.get("status") or ""), message, by_kind=_BY_STATUS, rate_limit_kind="RESOURCE_EXHAUSTED", context_hints=_CONTEXT_HINTS,
        retry_after=retry_after, spend_limit=per_day, auth=bad_key, timeout_statuses=(504,), secret=secret,
    )  # fmt: skip


# -- request ------------------------------------------------------------------------------


def _parts(m: dict[str, Any], where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """The Gemini parts of one user, assistant or tool message."""
    if m.get("role") == "tool":
        call_id = m.get("tool_call_id")
        if call_id not in names:
            raise BadRequestError(f"{where} (role 'tool') needs the tool_call_id of an earlier assistant tool call ({_API} adapter)")
        text = "".join(text_parts(m.get("content"), where, _API))
        try:
            response = json.loads(text)
        except ValueError:
            response = None
        return [{"functionResponse": {"name": names[call_id], "response": response if isinstance(response, dict) else {"result": text}}}]
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content_parts(m.get("content"), where, _API)):
        at = f"{where}.content[{i}].image_url.url"
        if part.kind == "text":
            parts.append({"text": part.value})
        elif part.value.startswith("data:"):
            media, data = data_url(part.value, at, _API)
            parts.append({"inlineData": {"mimeType": media, "data": data}})
        else:
            parts.append({"fileData": {"mimeType": guess_media_type(part.value, at, _API), "fileUri": part.value}})
    for j, call in enumerate(m.get("tool_calls") or ()):
        _, name, args = tool_arguments(call, f"{where}.tool_calls[{j}]", _API)
        parts.append({"functionCall": {"name": name, "args": args}})
    return parts


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system parts, contents); consecutive turns of one role are merged."""
    names = tool_names(messages)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in text_parts(m.get("content"), where, _API))
            continue
        if role not in ("user", "assistant", "tool"):
            raise BadRequestError(f"{where}.role {role!r} is not converted by the {_API} adapter (system, user, assistant and tool only)")
        grole = "model" if role == "assistant" else "user"
        parts = _parts(m, where, names)
        if contents and contents[-1]["role"] == grole:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": grole, "parts": parts})
    return system, contents


def _tools(params: dict[str, Any]) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` of the body."""
    out: dict[str, Any] = {}
    declarations = []
    for i, tool in enumerate(params.get("tools") or ()):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequestError(f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ...}}}} ({_API} adapter)")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        if fn.get("parameters"):
            decl["parametersJsonSchema"] = fn["parameters"]
        declarations.append(decl)
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
    if params.get("parallel_tool_calls") is False:
        raise BadRequestError(f"parameter 'parallel_tool_calls': false cannot be enforced by the {_API} adapter (Gemini may call several functions)")
    choice = params.get("tool_choice")
    if choice is None:
        return out
    if isinstance(choice, str) and choice in _MODES:
        config: dict[str, Any] = {"mode": _MODES[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and isinstance(choice["function"].get("name"), str):
        config = {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    else:
        raise BadRequestError(f"parameter 'tool_choice' must be 'auto', 'required', 'none' or a function choice, got {choice!r} ({_API} adapter)")
    out["toolConfig"] = {"functionCallingConfig": config}
    return out


def _generation_config(params: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = max_tokens(params, None, _API)
    if limit is not None:
        config["maxOutputTokens"] = limit
    for name, field in _CONFIG.items():
        if params.get(name) is not None:
            config[field] = params[name]
    if params.get("stop") is not None:
        config["stopSequences"] = stop_sequences(params["stop"], _API)
    if params.get("response_format") is not None:
        schema = json_schema_format(params["response_format"], _API)
        if schema is not None:
            config["responseMimeType"] = "application/json"
        if schema:
            config["responseJsonSchema"] = schema
    return config


def to_gemini(request: ProviderRequest) -> dict[str, Any]:
    """The generateContent body for an OpenAI-shaped request (the model goes in the URL)."""
    params = request.params
    check_params(params, _PARAMS, _API)
    if params.get("n", 1) not in (1, None):
        raise BadRequestError(f"parameter 'n' must be 1 for the {_API} adapter, got {params['n']!r}")
    system, contents = _contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    body.update(_tools(params))
    config = _generation_config(params)
    if config:
        body["generationConfig"] = config
    return body


# -- response -----------------------------------------------------------------------------


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    reason = str(reason)
    if reason == "STOP":
        return "stop"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in _FILTERED else reason.lower()


def _usage(meta: dict[str, Any]) -> tuple[int, int]:
    output = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return int(meta.get("promptTokenCount") or 0), output


def _text(candidate: dict[str, Any]) -> str:
    parts = (candidate.get("content") or {}).get("parts") or ()
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))


def _calls(candidate: dict[str, Any], first: int = 0) -> list[dict[str, Any]]:
    """The candidate's ``functionCall`` parts as OpenAI tool calls (ids ``call_<n>`` from ``first``)."""
    parts = (candidate.get("content") or {}).get("parts") or ()
    calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
    return [
        {"id": f"call_{first + i}", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c.get("args") or {})}}
        for i, c in enumerate(calls)
    ]


def _blocked(data: dict[str, Any]) -> bool:
    return not data.get("candidates") and bool((data.get("promptFeedback") or {}).get("blockReason"))


def from_gemini(data: dict[str, Any], *, http_status: int = 200, ttft_s: float | None = None) -> ProviderResponse:
    """A ``GenerateContentResponse`` as a ``ProviderResponse`` (raises on a wrong shape)."""
    tokens_in, tokens_out = _usage(data.get("usageMetadata") or {})
    calls: list[dict[str, Any]] = []
    if _blocked(data):
        content, finish = "", "content_filter"
    else:
        candidate = data["candidates"][0]
        content, finish, calls = _text(candidate), _finish(candidate.get("finishReason")), _calls(candidate)
        if calls and finish == "stop":
            finish = "tool_calls"
    return ProviderResponse(
        content=content if content or not calls else None,
        message={"role": "assistant", "content": content or None, "tool_calls": calls} if calls else None,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        finish_reason=finish,
        response_id=data.get("responseId"),
        model=data.get("modelVersion"),
        ttft_s=ttft_s,
        http_status=http_status,
    )


# -- adapter ------------------------------------------------------------------------------


class GeminiProvider(HTTPAdapter):
    """One Gemini API endpoint. ``api_version`` defaults to ``v1beta``; a ``base_url`` ending in a
    version segment (``.../v1``) sets it instead."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URLS["gemini"],
        api_key: str | None = None,
        name: str = "gemini",
        api_version: str | None = None,
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        max_connections: int = 64,
        keepalive_s: float = 15.0,
    ) -> None:
        super().__init__(
            name=name,
            base_url=base_url,
            api_key=api_key,
            headers={"x-goog-api-key": api_key} if api_key else {},
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            http_client=http_client,
            extra_headers=extra_headers,
            max_connections=max_connections,
            keepalive_s=keepalive_s,
        )
        head, _, last = self.base_url.rpartition("/")
        if _VERSION.fullmatch(last) and "://" in head:
            if api_version is not None and api_version != last:
                raise ValueError(f"base_url {self.base_url!r} ends in version {last!r} but api_version is {api_version!r}")
            self.base_url, api_version = head, last
        self.api_version = api_version or "v1beta"

    def _url(self, model: str, method: str) -> str:
        name = model.removeprefix("models/")
        return f"{self.base_url}/{self.api_version}/models/{quote(name, safe='-._~')}:{method}"

    def _error(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return gemini_error(status, json_object(body), retry_after=retry_after_header(headers, time.time()), secret=self._key)

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        body = to_gemini(request)
        data, resp, elapsed = await self._post_json(self._url(request.model, "generateContent"), body, timeout, "Gemini response body", request)
        with parse_guard("Gemini response body", resp.status_code):
            return from_gemini(data, http_status=resp.status_code, ttft_s=elapsed)

    async def open_stream(self, request: ProviderRequest, *, timeout: float) -> _GeminiStream:
        """Start a streamed generation; returns once the first text (or the end) has arrived."""
        url = self._url(request.model, "streamGenerateContent") + "?alt=sse"
        return await self._open_stream(url, to_gemini(request), timeout, lambda sse: _GeminiStream(sse, request.model, self._key), request)


class _GeminiStream(ChunkStream):
    """``alt=sse`` events (each a ``GenerateContentResponse`` with the next piece of text) as
    OpenAI chunks; usage rides on the chunk with the finish reason. A body that ends before a
    finish reason is cut short (``invalid_response``)."""

    def __init__(self, sse: SSE, model: str, secret: str | None) -> None:
        super().__init__(sse)
        self._model = model
        self._secret = secret
        self._finished = False
        self._calls = 0  # tool calls sent so far

    async def _next_chunk(self) -> dict[str, Any] | None:
        while True:
            item = await self._sse.next()
            if item is None:
                if not self._finished:
                    raise InvalidResponseError("stream ended before a finishReason", status=self.http_status)
                return None
            data = self._sse.json(item[1])
            if not isinstance(data, dict):
                continue
            if "error" in data:
                raise gemini_error(self.http_status or 200, data, secret=self._secret)
            with parse_guard("Gemini stream event", self.http_status):
                out = self._translate(data)
            if out is not None:
                return out

    def _translate(self, data: dict[str, Any]) -> dict[str, Any] | None:
        id_ = data.get("responseId") or ""
        self._model = data.get("modelVersion") or self._model
        usage = _usage(data["usageMetadata"]) if data.get("usageMetadata") else None
        if _blocked(data):
            text, finish = "", "content_filter"
        elif data.get("candidates"):
            candidate = data["candidates"][0]
            text, finish = _text(candidate), _finish(candidate.get("finishReason"))
        elif usage is not None and self._finished:  # usage that comes after the finish
            return {**chunk(id_, self._model, {}, None, usage), "choices": []}
        else:
            return None
        calls = _calls(candidate, self._calls) if data.get("candidates") and not _blocked(data) else []
        if not text and not calls and finish is None:
            return None
        delta: dict[str, Any] = {"content": text} if text else {}
        if calls:
            delta["tool_calls"] = [{"index": self._calls + i, **c} for i, c in enumerate(calls)]
            self._calls += len(calls)
        if finish == "stop" and self._calls:
            finish = "tool_calls"
        self._finished = self._finished or finish is not None
        return self._emit(id_, self._model, delta, finish, usage if finish is not None else None)
