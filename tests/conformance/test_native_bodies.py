"""The bodies our Anthropic and Gemini adapters send, compared with what the official
``anthropic`` SDK sends for the same request (both recorded by the strict fake provider), and
with the JSON of Google's Gemini API documentation (ai.google.dev/api, the REST examples of
"Text generation", "Function calling", "Structured output" and "Image understanding"; the docs
mix snake_case and camelCase field names, which the API reads alike: they are written here in
camelCase, as we send them). Azure OpenAI: ``openai.AsyncAzureOpenAI`` against our adapter."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest
from conformance_kit import KEY, Differences, Pattern, compare_requests, run_pattern

from router import AsyncClient, Deployment, Router, RouterSettings
from router.providers.anthropic import AnthropicProvider
from router.providers.azure import AzureOpenAIProvider
from router.providers.gemini import GeminiProvider
from router.testing import FakeProviderServer, RecordedRequest
from telemetry import MemorySink

CLAUDE, GEMINI = "claude-sonnet-4-6", "gemini-2.5-flash"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
WEATHER_SCHEMA = {"type": "object", "properties": {"location": {"type": "string", "description": "The city and state"}}, "required": ["location"]}
OPENAI_WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather", "parameters": WEATHER_SCHEMA}}
ANTHROPIC_WEATHER = {"name": "get_weather", "description": "Get the current weather", "input_schema": WEATHER_SCHEMA}
RECIPE = {"type": "object", "properties": {"recipe_name": {"type": "string"}, "ingredients": {"type": "array", "items": {"type": "string"}}},
          "required": ["recipe_name", "ingredients"], "additionalProperties": False}
SETTINGS = RouterSettings(max_attempts_per_deployment=1, deadline_s=10.0, attempt_timeout_s=10.0)


def router_for(adapter: Any, model: str) -> AsyncClient:
    return AsyncClient(Router(deployments=[Deployment(model, adapter, model)], tiers=[], settings=SETTINGS, telemetry=MemorySink()))


@pytest.fixture
async def claude_sdk(fake: FakeProviderServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=fake.base, api_key=KEY, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def ours_claude(fake: FakeProviderServer) -> AsyncIterator[AsyncClient]:
    client = router_for(AnthropicProvider(base_url=fake.base, api_key=KEY, default_max_tokens=1024), CLAUDE)
    yield client
    await client.aclose()


# (name, our OpenAI-shaped call, the anthropic SDK call that means the same)
ANTHROPIC_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("system and max_tokens",
     {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello, Claude"}], "max_tokens": 256},
     {"system": "You are terse.", "messages": [{"role": "user", "content": "Hello, Claude"}], "max_tokens": 256}),
    ("default max_tokens, stop, user",
     {"messages": [{"role": "user", "content": "Count"}], "stop": ["5"], "user": "u-1"},
     {"messages": [{"role": "user", "content": "Count"}], "max_tokens": 1024, "stop_sequences": ["5"], "metadata": {"user_id": "u-1"}}),
    ("multi-turn",
     {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Explain LLMs"}]},
     {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Explain LLMs"}],
      "max_tokens": 1024}),
    ("tools, tool_choice auto",
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "tools": [OPENAI_WEATHER], "tool_choice": "auto"},
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "max_tokens": 1024, "tools": [ANTHROPIC_WEATHER], "tool_choice": {"type": "auto"}}),
    ("tool_choice required, no parallel calls",
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "tools": [OPENAI_WEATHER], "tool_choice": "required", "parallel_tool_calls": False},
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "max_tokens": 1024, "tools": [ANTHROPIC_WEATHER],
      "tool_choice": {"type": "any", "disable_parallel_tool_use": True}}),
    ("a named tool",
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "tools": [OPENAI_WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
     {"messages": [{"role": "user", "content": "Weather in SF?"}], "max_tokens": 1024, "tools": [ANTHROPIC_WEATHER],
      "tool_choice": {"type": "tool", "name": "get_weather"}}),
    ("tool round trip",
     {"messages": [{"role": "user", "content": "Weather in SF?"},
                   {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_01", "type": "function",
                                                                         "function": {"name": "get_weather", "arguments": '{"location": "SF"}'}}]},
                   {"role": "tool", "tool_call_id": "toolu_01", "content": "15 degrees"}], "tools": [OPENAI_WEATHER]},
     {"messages": [{"role": "user", "content": "Weather in SF?"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "SF"}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "15 degrees"}]}],
      "max_tokens": 1024, "tools": [ANTHROPIC_WEATHER]}),
    ("image, base64 and url",
     {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                                                {"type": "image_url", "image_url": {"url": "https://example.com/ant.jpg"}},
                                                {"type": "text", "text": "Describe these images."}]}]},
     {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                                                {"type": "image", "source": {"type": "url", "url": "https://example.com/ant.jpg"}},
                                                {"type": "text", "text": "Describe these images."}]}], "max_tokens": 1024}),
    ("json_schema as structured output",
     {"messages": [{"role": "user", "content": "A cookie recipe"}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "recipe", "schema": RECIPE, "strict": True}}},
     {"messages": [{"role": "user", "content": "A cookie recipe"}], "max_tokens": 1024,
      "output_config": {"format": {"type": "json_schema", "schema": RECIPE}}}),
    # sampling parameters: the SDK's types dropped them, the API takes them (this model: not temperature with top_p)
    ("temperature and top_k (extra_body in the SDK)",
     {"messages": [{"role": "user", "content": "Hello"}], "temperature": 0.3, "top_k": 40},
     {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1024, "extra_body": {"temperature": 0.3, "top_k": 40}}),
    ("top_p (extra_body in the SDK)",
     {"messages": [{"role": "user", "content": "Hello"}], "top_p": 0.9},
     {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1024, "extra_body": {"top_p": 0.9}}),
    ("streaming",
     {"messages": [{"role": "user", "content": "Hello"}], "stream": True},
     {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1024, "stream": True}),
]


async def _consume(result: Any) -> None:
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass


async def _recorded(fake: FakeProviderServer, call: Any) -> list[RecordedRequest]:
    fake.reset()
    await _consume(await call())
    return fake.recordings()


@pytest.mark.parametrize(("name", "ours_kw", "sdk_kw"), ANTHROPIC_CASES, ids=[c[0] for c in ANTHROPIC_CASES])
async def test_anthropic_body_as_the_sdk_sends_it(fake: FakeProviderServer, claude_sdk: anthropic.AsyncAnthropic, ours_claude: AsyncClient,
                                                  name: str, ours_kw: dict[str, Any], sdk_kw: dict[str, Any]) -> None:
    fake.require_api_key(KEY)
    sdk = await _recorded(fake, lambda: claude_sdk.messages.create(model=CLAUDE, **sdk_kw))
    ours = await _recorded(fake, lambda: ours_claude.chat.completions.create(model=CLAUDE, **ours_kw))
    out = Differences()
    compare_requests(sdk, ours, out, expected=lambda body: body)  # Anthropic streams carry their usage anyway
    assert not out.items, f"{name}:\n  " + "\n  ".join(out.items)


# (name, our OpenAI-shaped call, the request body of Google's documentation for it)
GEMINI_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("system instruction and generation config",
     {"messages": [{"role": "system", "content": "You are a cat. Your name is Neko."}, {"role": "user", "content": "Hello there"}],
      "temperature": 1.0, "top_p": 0.8, "top_k": 10, "max_tokens": 800, "stop": ["Title"]},
     {"systemInstruction": {"parts": [{"text": "You are a cat. Your name is Neko."}]},
      "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
      "generationConfig": {"stopSequences": ["Title"], "temperature": 1.0, "maxOutputTokens": 800, "topP": 0.8, "topK": 10}}),
    ("multi-turn chat",
     {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Great to meet you."}, {"role": "user", "content": "I have 2 dogs."}]},
     {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}, {"role": "model", "parts": [{"text": "Great to meet you."}]},
                   {"role": "user", "parts": [{"text": "I have 2 dogs."}]}]}),
    ("function calling, forced",
     {"messages": [{"role": "user", "content": "Weather in Boston?"}], "tools": [OPENAI_WEATHER],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
     {"contents": [{"role": "user", "parts": [{"text": "Weather in Boston?"}]}],
      "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Get the current weather", "parametersJsonSchema": WEATHER_SCHEMA}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}}),
    ("function response",
     {"messages": [{"role": "user", "content": "Weather in Boston?"},
                   {"role": "assistant", "content": None, "tool_calls": [{"id": "call_0", "type": "function",
                                                                         "function": {"name": "get_weather", "arguments": '{"location": "Boston"}'}}]},
                   {"role": "tool", "tool_call_id": "call_0", "content": '{"temperature": 22, "unit": "celsius"}'}], "tools": [OPENAI_WEATHER]},
     {"contents": [{"role": "user", "parts": [{"text": "Weather in Boston?"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Boston"}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temperature": 22, "unit": "celsius"}}}]}],
      "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Get the current weather", "parametersJsonSchema": WEATHER_SCHEMA}]}]}),
    ("inline image",
     {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                                                {"type": "text", "text": "Caption this image."}]}]},
     {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}, {"text": "Caption this image."}]}]}),
    ("structured output with a JSON schema",
     {"messages": [{"role": "user", "content": "List a few cookie recipes"}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "recipe", "schema": RECIPE}}},
     {"contents": [{"role": "user", "parts": [{"text": "List a few cookie recipes"}]}],
      "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": RECIPE}}),
    ("JSON mode",
     {"messages": [{"role": "user", "content": "A JSON recipe"}], "response_format": {"type": "json_object"}},
     {"contents": [{"role": "user", "parts": [{"text": "A JSON recipe"}]}], "generationConfig": {"responseMimeType": "application/json"}}),
]


@pytest.mark.parametrize(("name", "ours_kw", "documented"), GEMINI_CASES, ids=[c[0] for c in GEMINI_CASES])
async def test_gemini_body_as_google_documents_it(fake: FakeProviderServer, name: str, ours_kw: dict[str, Any], documented: dict[str, Any]) -> None:
    fake.require_api_key(KEY)
    client = router_for(GeminiProvider(base_url=fake.base, api_key=KEY), GEMINI)
    try:
        (rec,) = await _recorded(fake, lambda: client.chat.completions.create(model=GEMINI, **ours_kw))
    finally:
        await client.aclose()
    assert (rec.method, rec.path, rec.query) == ("POST", f"/v1beta/models/{GEMINI}:generateContent", "")
    assert rec.headers["x-goog-api-key"] == KEY and rec.headers["content-type"] == "application/json"
    assert rec.body == documented


AZURE_DEPLOYMENT, AZURE_VERSION = "my-gpt-4o", "2024-10-21"


@pytest.fixture
async def azure_sdk(fake: FakeProviderServer) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    client = openai.AsyncAzureOpenAI(azure_endpoint=fake.base, api_key=KEY, api_version=AZURE_VERSION, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def ours_azure(fake: FakeProviderServer) -> AsyncIterator[AsyncClient]:
    client = router_for(AzureOpenAIProvider(base_url=fake.base, api_key=KEY, api_version=AZURE_VERSION), AZURE_DEPLOYMENT)
    yield client
    await client.aclose()


async def _azure_stream(c: Any) -> Any:
    """Azure users guard ``if chunk.choices`` (Azure opens with a content-filter chunk without
    choices, which we drop by design: docs/conformance.md)."""
    stream = await c.chat.completions.create(model=AZURE_DEPLOYMENT, messages=[{"role": "user", "content": "Hi"}], stream=True)
    return [chunk async for chunk in stream if chunk.choices]


AZURE_PATTERNS = [
    Pattern("azure chat", lambda c: c.chat.completions.create(model=AZURE_DEPLOYMENT, messages=[{"role": "user", "content": "Hi"}], temperature=0.1)),
    Pattern("azure tools", lambda c: c.chat.completions.create(model=AZURE_DEPLOYMENT, messages=[{"role": "user", "content": "Weather?"}],
                                                               tools=[OPENAI_WEATHER], tool_choice="required")),
    Pattern("azure stream, chunks with choices", _azure_stream),
]


@pytest.mark.parametrize("pattern", AZURE_PATTERNS, ids=[p.name for p in AZURE_PATTERNS])
async def test_azure_as_the_sdk(fake: FakeProviderServer, azure_sdk: openai.AsyncAzureOpenAI, ours_azure: AsyncClient, pattern: Pattern) -> None:
    await run_pattern(fake, pattern, azure_sdk, ours_azure)
