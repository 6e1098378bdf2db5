"""The one scrubbing boundary for text that comes from a provider.

Error messages, response ids and model names written by a provider are copied into our
exceptions, telemetry records, the spool and logs. A hostile or careless provider can echo the
request back, headers included, so every such text passes through a deployment's ``Redactor``
where it enters our objects (the call path applies it to every ``ProviderError`` an adapter
raises, before or during a stream, and to the ids of every answer). It replaces:

- the deployment's secrets: its API key and every header value its adapter sends
  (``adapter.sent_secrets()``), plus any the caller adds per request;
- key-shaped strings (``sk-...``, ``sk-ant-...``, ``AIza...``, ``Bearer ...``), whoever's they are.

The HTTP stack under the adapters logs response headers at DEBUG (``httpcore``): a filter on
those loggers scrubs the secrets of every redactor registered with ``redact_http_logs`` and
key-shaped strings from such records (it runs only when DEBUG logging is on for them).

An exception is scrubbed in place with its whole ``__cause__`` / ``__context__`` chain (a
``ValueError`` from ``int('<echoed text>')`` under an ``InvalidResponseError`` included), so
``str``, ``repr`` and a printed traceback are clean.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["KEY_SHAPED", "MASK", "Redactor", "redact_http_logs", "redact_url"]

MASK = "***"
KEY_SHAPED = re.compile(
    r"\b(?:sk|rk|pk|gsk|xai)[-_][A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic (sk-ant-), Groq, xAI...
    r"|\bAIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|\b[Bb]earer\s+[A-Za-z0-9._~+/\-]{8,}=*"
)


def _may_hold_key(text: str) -> bool:
    """Whether ``text`` has what a ``KEY_SHAPED`` match needs (``k-``/``k_`` of sk, rk, pk and
    gsk, ``xai``, ``AIza``, ``earer``): a few substring tests instead of the regex's scan, which
    ids and model names (``chatcmpl-...``, ``gpt-4o-...``, ``fp_...``) nearly always fail."""
    return "k-" in text or "k_" in text or "xai" in text or "AIza" in text or "earer" in text


_MIN_SECRET = 6  # shorter header values (``1``, ``true``) would mask ordinary words


class Redactor:
    """Scrubs the secrets of one deployment (and key-shaped strings) out of provider text."""

    __slots__ = ("secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET}
        self.secrets: tuple[str, ...] = tuple(sorted(found, key=len, reverse=True))  # longest first

    @classmethod
    def for_adapter(cls, adapter: Any) -> Redactor:
        """The redactor of an adapter: what its ``sent_secrets()`` names (none if it has none)."""
        sent = getattr(adapter, "sent_secrets", None)
        return cls(sent() if callable(sent) else ())

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        """This redactor plus ``extra`` (header values a caller sends with one request)."""
        return Redactor((*self.secrets, *extra))

    def text(self, text: str) -> str:
        """``text`` with every secret and key-shaped string replaced by ``***``."""
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        if _may_hold_key(text):
            text = KEY_SHAPED.sub(MASK, text)
        return text

    def value(self, value: Any) -> Any:
        """A string scrubbed, the strings in a dict or list (a parsed error body) too; anything
        else returned as it is."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def error(self, exc: BaseException) -> BaseException:
        """Scrub ``exc`` and every exception chained to it, in place; returns ``exc``."""
        seen: set[int] = set()
        e: BaseException | None = exc
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            self._scrub_one(e)
            e = e.__cause__ or e.__context__
        return exc

    def _scrub_one(self, e: BaseException) -> None:
        e.args = tuple(self.value(a) for a in e.args)
        d = getattr(e, "__dict__", None)
        if d:
            for name, v in d.items():
                if isinstance(v, (str, dict, list)):
                    d[name] = self.value(v)


_HTTP_LOGGERS = ("httpx", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy")


class _LogRedaction(logging.Filter):
    """Scrubs log records of the HTTP stack with every registered secret."""

    def __init__(self) -> None:
        super().__init__()
        self.redactor = Redactor()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self.redactor = self.redactor.with_secrets(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        msg = record.getMessage()
        clean = r.text(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


_log_filter: _LogRedaction | None = None


def redact_http_logs(redactor: Redactor) -> None:
    """Scrub ``redactor``'s secrets from the DEBUG logs of httpx and httpcore (idempotent)."""
    global _log_filter
    if _log_filter is None:
        _log_filter = _LogRedaction()
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(_log_filter)
    if redactor.secrets and not set(redactor.secrets) <= set(_log_filter.redactor.secrets):
        _log_filter.add(redactor.secrets)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@/\s]+)(@)")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (``redis://:s3cret@host`` -> ``redis://:***@host``)."""
    return _URL_PASSWORD.sub(r"\1***\3", url)
