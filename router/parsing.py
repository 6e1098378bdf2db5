"""``chat.completions.parse(response_format=Model)``: the pydantic model as a strict
``json_schema`` response format (as the SDK's ``type_to_response_format_param`` makes it), and
the answer's content validated into ``message.parsed``.

Every adapter receives the same ``response_format`` (the Anthropic and Gemini adapters
translate ``json_schema`` to their native structured output).
"""

from __future__ import annotations

import json
from typing import Any

import pydantic

from router.errors import AttuneError, InvalidRequestError
from router.sdk_errors import sdk_variant
from router.types.chat import ChatCompletion
from router.types.parsed import ParsedChatCompletion

__all__ = ["ContentFilterFinishReasonError", "LengthFinishReasonError", "parse_completion", "response_format_param", "strict_json_schema"]


class LengthFinishReasonError(AttuneError):
    """The answer was cut at the token limit, so it cannot be parsed (raised as a subclass of
    the SDK's error of this name too when ``openai`` is imported)."""

    def __init__(self, *, completion: ChatCompletion) -> None:
        Exception.__init__(self, f"could not parse the response content: the length limit was reached - {completion.usage}")
        self.completion = completion


class ContentFilterFinishReasonError(AttuneError):
    """The provider's content filter stopped the answer (the SDK's error of this name)."""

    def __init__(self, *, completion: ChatCompletion) -> None:
        Exception.__init__(self, "could not parse the response content: the request was rejected by the content filter")
        self.completion = completion


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` in OpenAI's strict mode: every object closed (``additionalProperties: false``)
    with every property required, a lone ``allOf`` unwrapped, ``default: null`` dropped."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = {k: walk(v) for k, v in node.items()}
        if node.get("type") == "object" or "properties" in node:
            node.setdefault("additionalProperties", False)
            node["required"] = list(node.get("properties", {}))
        if "default" in node and node["default"] is None:
            del node["default"]
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **all_of[0]}
        return node

    return walk(schema)  # type: ignore[no-any-return]


def response_format_param(response_format: Any) -> Any:
    """The body's ``response_format`` for ``parse``: a pydantic model class becomes a strict
    ``json_schema`` format named after it; a dict passes as given."""
    if isinstance(response_format, type) and issubclass(response_format, pydantic.BaseModel):
        return {
            "type": "json_schema",
            "json_schema": {"schema": strict_json_schema(response_format.model_json_schema()), "name": response_format.__name__, "strict": True},
        }
    if isinstance(response_format, dict) or response_format is None:
        return response_format
    raise InvalidRequestError(
        f"response_format must be a pydantic model class or a dict, got {type(response_format).__name__}", argument="response_format"
    )


def parse_completion(completion: ChatCompletion, response_format: Any) -> ParsedChatCompletion:
    """``completion`` with ``message.parsed`` set on each choice (None on a refusal)."""
    parsed = ParsedChatCompletion.lazy(completion.to_dict(), **completion.__pydantic_private__)
    model = response_format if isinstance(response_format, type) and issubclass(response_format, pydantic.BaseModel) else None
    for choice in parsed.choices:
        if choice.finish_reason == "length":
            raise sdk_variant(LengthFinishReasonError)(completion=completion)
        if choice.finish_reason == "content_filter":
            raise sdk_variant(ContentFilterFinishReasonError)(completion=completion)
        msg = choice.message
        if msg.content is None or msg.refusal:
            continue
        if model is not None:
            msg.parsed = model.model_validate_json(msg.content)
        elif isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            msg.parsed = json.loads(msg.content)
    return parsed
