"""``client.embeddings.create`` and ``client.models.list`` results in the OpenAI SDK's shape
(``openai.types.CreateEmbeddingResponse``, ``openai.types.Model``)."""

from __future__ import annotations

from typing import Optional, Union

from router.types._base import OpenAIObject
from router.types.chat import Routed

__all__ = ["CreateEmbeddingResponse", "Embedding", "EmbeddingUsage", "Model", "ModelList"]


class Embedding(OpenAIObject):
    embedding: Union[list[float], str]  # a base64 string with encoding_format="base64"
    index: int
    object: str = "embedding"


class EmbeddingUsage(OpenAIObject):
    """``openai.types.create_embedding_response.Usage``."""

    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(Routed):
    data: list[Embedding]
    model: str
    object: str = "list"
    usage: EmbeddingUsage


class Model(OpenAIObject):
    """A tier or a deployment, as ``openai.types.Model``: ``owned_by`` is ``"attune"`` for a
    tier and the provider for a deployment."""

    id: str
    created: int
    object: str = "model"
    owned_by: str
    shutdown_date: Optional[str] = None


class ModelList(OpenAIObject):
    """What ``client.models.list()`` returns: iterate it, or read ``.data`` (the SDK's page)."""

    data: list[Model]
    object: str = "list"

    def __iter__(self):  # type: ignore[override]
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
