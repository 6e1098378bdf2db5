"""Resolve and redact store URLs without importing SQLAlchemy."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_FILE", "ENV_VAR", "redact_text", "redact_url", "resolve_url", "url_password"]

ENV_VAR = "ATTUNE_TELEMETRY_URL"
DEFAULT_FILE = "attune-telemetry.db"
_PASSWORD = re.compile(r"(://[^:/@]*:)([^@]*)(@)")


def resolve_url(url: str | None) -> str:
    """The URL to open: ``url``, else ``$ATTUNE_TELEMETRY_URL``, else a SQLite file in the cwd.

    ``postgresql://`` and ``postgres://`` map to the psycopg 3 driver; a bare path is a
    SQLite file.
    """
    if url is None:
        url = os.environ.get(ENV_VAR) or f"sqlite:///{os.path.abspath(DEFAULT_FILE)}"
    if not isinstance(url, str) or not url:
        raise ValueError("telemetry URL must be a non-empty string")
    if "://" not in url:
        return f"sqlite:///{os.path.abspath(url)}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg3"):
        scheme = "postgresql+psycopg"
    if scheme in ("sqlite+pysqlite",):
        scheme = "sqlite"
    if scheme not in ("sqlite", "postgresql+psycopg"):
        raise ValueError(
            f"unsupported telemetry URL scheme {scheme!r}: use sqlite:///path or postgresql+psycopg://..."
        )
    return f"{scheme}://{rest}"


def url_password(url: str) -> str | None:
    """The password in ``url``, or None."""
    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _PASSWORD.sub(r"\1***\3", url)


def redact_text(text: str, url: str) -> str:
    """``text`` with the URL's password (raw and percent-encoded) replaced by ``***``."""
    text = redact_url(text)
    raw = _PASSWORD.search(url)
    for secret in {url_password(url), raw.group(2) if raw else None}:
        if secret:
            text = text.replace(secret, "***")
    return text


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///`` URL, or None for other URLs and in-memory databases."""
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite:///"):]
    if not path or path == ":memory:":
        return None
    return path
