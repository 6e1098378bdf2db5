"""``.with_raw_response``: the serving attempt's HTTP status and headers, with ``parse()``
returning the object ``create`` would have (the SDK's ``LegacyAPIResponse`` shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RawResponse"]


class RawResponse:
    """What ``client.chat.completions.with_raw_response.create(...)`` returns."""

    def __init__(self, parsed: Any, *, status_code: int | None, headers: Mapping[str, str] | None) -> None:
        self._parsed = parsed
        self.status_code = status_code
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.request_id: str | None = self.headers.get("x-request-id")
        # the routing facts of the serving attempt (also on the parsed object)
        self.deployment: str | None = getattr(parsed, "deployment", None)

    def parse(self) -> Any:
        """The ``ChatCompletion`` (or stream) ``create`` returns."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<RawResponse status_code={self.status_code} deployment={self.deployment!r}>"
