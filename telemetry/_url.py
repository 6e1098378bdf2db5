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
    out = f"{scheme}://{rest}"
    if scheme == "sqlite":
        if rest and not rest.startswith("/"):
            raise ValueError(f"telemetry URL {redact_url(url)!r}: a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    else:
        _check_server_url(out)
    return out


def _check_server_url(url: str) -> None:
    """Raise ``ValueError`` naming the bad part of a PostgreSQL URL (never its password)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        netloc = urlsplit(shown).netloc
        raise ValueError(f"telemetry URL {shown!r}: bad host or port in {netloc!r} ({exc})") from None
    if port == 0:
        raise ValueError(f"telemetry URL {shown!r}: port 0 is not a port")
    if "\x00" in url or any(c in url for c in "\r\n"):
        raise ValueError(f"telemetry URL {shown!r} contains a control character")


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
