"""Azure OpenAI chat completions over httpx: OpenAI's bodies behind Azure's deployment URLs.

``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}``
with the key in an ``api-key`` header, as ``openai.AsyncAzureOpenAI`` sends it (the deployment is
the ``Deployment.model``, and stays in the body's ``model`` as the SDK leaves it). Azure's
error bodies (``{"error": {"code": "429", "message": ...}}``, ``DeploymentNotFound``,
``content_filter``) map like OpenAI's, by status and code. A stream's leading chunk without
choices (Azure's ``prompt_filter_results``) is skipped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx

from router.providers.base import ProviderRequest, ProviderResponse
from router.providers.openai import OpenAIProvider, _OpenAIStream

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIProvider"]

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version when this was written


class AzureOpenAIProvider(OpenAIProvider):
    """One Azure OpenAI resource (``base_url`` is its endpoint, ``https://NAME.openai.azure.com``);
    share one instance between the deployments of a resource."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        name: str = "azure",
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        max_connections: int = 64,
        keepalive_s: float = 15.0,
    ) -> None:
        if not isinstance(api_version, str) or not api_version:
            raise ValueError(f"api_version must be a non-empty string such as {DEFAULT_API_VERSION!r}, got {api_version!r}")
        super().__init__(
            base_url=base_url.rstrip("/").removesuffix("/openai"),
            api_key=None,
            name=name,
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            http_client=http_client,
            extra_headers={**({"api-key": api_key} if api_key else {}), **(extra_headers or {})},
            max_connections=max_connections,
            keepalive_s=keepalive_s,
        )
        self._key = api_key  # scrubbed from error messages
        self.api_version = api_version

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_version={self.api_version!r}, name={self.name!r})"

    def _deployment_url(self, deployment: str, path: str) -> str:
        return f"{self.base_url}/openai/deployments/{quote(deployment, safe='')}/{path}?{urlencode({'api-version': self.api_version})}"

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        return await self._complete(self._deployment_url(request.model, "chat/completions"), request, timeout)

    async def open_stream(self, request: ProviderRequest, *, timeout: float) -> _AzureStream:
        """Start a streamed completion; returns once the first chunk with a choice has arrived."""
        return await self._start_stream(self._deployment_url(request.model, "chat/completions"), request, timeout, _AzureStream)


class _AzureStream(_OpenAIStream):
    """OpenAI chunks, less Azure's content-filter preamble (a chunk with no choices and no usage)."""

    async def _next_chunk(self) -> dict[str, Any] | None:
        while True:
            event = await super()._next_chunk()
            if event is None or event.get("choices") or event.get("usage"):
                return event
