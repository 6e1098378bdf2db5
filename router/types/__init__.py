"""Response objects in the OpenAI SDK's shape (pydantic models, unknown fields kept), built
lazily from the provider's JSON. Routing facts (``provider``, ``deployment``, ``call_id``,
``fallback_used``, ``retry_count``) are attributes of the top-level objects, never dumped."""

from router.types.chat import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageToolCall,
    Choice,
    CompletionUsage,
    Function,
    RoutingFacts,
)
from router.types.chat_chunk import ChatCompletionChunk, ChoiceDelta, ChoiceDeltaToolCall, ChunkChoice
from router.types.embeddings import CreateEmbeddingResponse, Embedding, Model, ModelList

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageCustomToolCall",
    "ChatCompletionMessageFunctionToolCall",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChunkChoice",
    "CompletionUsage",
    "CreateEmbeddingResponse",
    "Embedding",
    "Function",
    "Model",
    "ModelList",
    "RoutingFacts",
]
