"""The strict fake provider accepts exactly the top-level keys the official SDKs' request types
name, so "the fake accepted it" means "the API would": checked against the installed SDKs."""

from __future__ import annotations

import typing

from anthropic.types import message_create_params
from openai.types import embedding_create_params
from openai.types.chat import completion_create_params

from router.testing.wire_anthropic import MESSAGE_PARAMS, SAMPLING_PARAMS
from router.testing.wire_openai import CHAT_PARAMS, EMBEDDING_PARAMS


def keys(*types: typing.Any) -> set[str]:
    return set().union(*(t.__required_keys__ | t.__optional_keys__ for t in types))


def test_openai_chat_keys_are_the_sdks() -> None:
    sdk = keys(completion_create_params.CompletionCreateParamsNonStreaming, completion_create_params.CompletionCreateParamsStreaming)
    assert set(CHAT_PARAMS) == sdk


def test_openai_embedding_keys_are_the_sdks() -> None:
    assert set(EMBEDDING_PARAMS) == keys(embedding_create_params.EmbeddingCreateParams)


def test_anthropic_message_keys_are_the_sdks() -> None:
    sdk = keys(message_create_params.MessageCreateParamsNonStreaming, message_create_params.MessageCreateParamsStreaming)
    assert set(MESSAGE_PARAMS) == sdk
    # temperature, top_p, top_k: gone from the SDK's types, still taken by the API (model by
    # model): the fake accepts them besides, with the API's rules (wire_anthropic.sampling_rule)
    assert not set(SAMPLING_PARAMS) & sdk and set(SAMPLING_PARAMS) == {"temperature", "top_p", "top_k"}
