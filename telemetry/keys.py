"""Gateway API keys, stored hashed in the telemetry database (SQLite or PostgreSQL).

A key is ``sk-attune-`` followed by 43 random URL-safe characters (256 bits). Only its
SHA-256 digest is stored, with an 8-character prefix that lets ``attune keys list`` tell keys
apart; a key is shown once, when it is created. A fast digest is the right tool here: the
secret is random and long, so there is nothing for a slow password hash to protect against
(the same reasoning as GitHub's and Stripe's tokens).

Each key carries its limits (requests and tokens per minute, a budget in US dollars, the tiers
it may use) and the money spent so far, which gateways add to as their calls' records come in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telemetry._url import redact_url, resolve_url

__all__ = ["ApiKey", "KeyStore", "KeyStoreError", "hash_key", "new_secret"]

KEY_PREFIX = "sk-attune-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TABLE_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class KeyStoreError(ValueError):
    """A key operation got a bad argument (a bad name, a duplicate, an unknown key)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One gateway key as stored: never the secret itself."""

    name: str
    prefix: str  # the first characters of the secret, for telling keys apart
    created_at: float
    revoked_at: float | None
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    tiers: tuple[str, ...] | None  # None: every tier and deployment
    spent_usd: float

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, model: str) -> bool:
        return self.tiers is None or model in self.tiers

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "tiers": list(self.tiers) if self.tiers is not None else None,
            "spent_usd": self.spent_usd,
        }


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise KeyStoreError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def _budget(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not (0 < value < float("inf")):
        raise KeyStoreError(f"budget_usd must be a finite number > 0, got {value!r}")
    return float(value)


class KeyStore:
    """Create, list, revoke and look up keys in ``{table_prefix}api_keys``.

    Blocking (SQLAlchemy Core); the gateway calls it from a worker thread and caches lookups.
    """

    def __init__(self, url: str | None = None, *, table_prefix: str = "attune_") -> None:
        if not isinstance(table_prefix, str) or not _TABLE_PREFIX.match(table_prefix):
            raise KeyStoreError(f"table_prefix must be lowercase letters, digits and '_', got {table_prefix!r}")
        try:
            self._url = resolve_url(url)
        except ValueError as exc:
            raise KeyStoreError(f"bad key store URL {redact_url(str(url))!r}: {exc}") from None
        import sqlalchemy as sa

        md = sa.MetaData()
        self.table = sa.Table(
            f"{table_prefix}api_keys",
            md,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("prefix", sa.String(24), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("revoked_at", sa.Float, nullable=True),
            sa.Column("rpm", sa.Integer, nullable=True),
            sa.Column("tpm", sa.Integer, nullable=True),
            sa.Column("budget_usd", sa.Float, nullable=True),
            sa.Column("tiers", sa.Text, nullable=True),
            sa.Column("spent_usd", sa.Float, nullable=False, default=0.0),
        )
        self._sa = sa
        self._engine = sa.create_engine(self._url, pool_pre_ping=True)
        md.create_all(self._engine)

    def __repr__(self) -> str:
        return f"KeyStore({redact_url(self._url)!r})"

    # -- administration ---------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        tiers: list[str] | tuple[str, ...] | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key: its stored row and the secret (shown once, never stored)."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise KeyStoreError(f"key name must be 1-64 letters, digits, '_', '.' or '-', got {name!r}")
        rpm, tpm, budget = _positive_int("rpm", rpm), _positive_int("tpm", tpm), _budget(budget_usd)
        if tiers is not None:
            tiers = tuple(tiers)
            if not tiers or not all(isinstance(t, str) and t for t in tiers):
                raise KeyStoreError(f"tiers must be a non-empty list of tier or deployment names, got {list(tiers)!r}")
        secret = new_secret()
        row = {
            "name": name,
            "key_hash": hash_key(secret),
            "prefix": secret[: len(KEY_PREFIX) + 4],
            "created_at": time.time(),
            "revoked_at": None,
            "rpm": rpm,
            "tpm": tpm,
            "budget_usd": budget,
            "tiers": json.dumps(list(tiers)) if tiers is not None else None,
            "spent_usd": 0.0,
        }
        sa = self._sa
        with self._engine.begin() as conn:
            if conn.execute(sa.select(self.table.c.name).where(self.table.c.name == name)).first():
                raise KeyStoreError(f"a key named {name!r} exists already; revoke it or choose another name")
            conn.execute(self.table.insert().values(**row))
        return _from_row(row), secret

    def list(self) -> list[ApiKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(self._sa.select(self.table).order_by(self.table.c.name)).mappings().all()
        return [_from_row(r) for r in rows]

    def get(self, name: str) -> ApiKey | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._sa.select(self.table).where(self.table.c.name == name)).mappings().first()
        return _from_row(row) if row else None

    def revoke(self, name: str) -> ApiKey:
        """Revoke key ``name`` (its row stays, for the records that name it)."""
        t = self.table
        with self._engine.begin() as conn:
            n = conn.execute(
                t.update().where(t.c.name == name, t.c.revoked_at.is_(None)).values(revoked_at=time.time())
            ).rowcount
        key = self.get(name)
        if key is None:
            raise KeyStoreError(f"no key named {name!r}")
        if n == 0 and key.revoked_at is None:  # pragma: no cover - a concurrent change
            raise KeyStoreError(f"key {name!r} could not be revoked")
        return key

    # -- the gateway's side -----------------------------------------------------------
    def lookup(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None (wrong, unknown or revoked)."""
        if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        digest = hash_key(secret)
        t = self.table
        with self._engine.connect() as conn:
            row = conn.execute(self._sa.select(t).where(t.c.key_hash == digest)).mappings().first()
        if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["revoked_at"] is not None:
            return None
        return _from_row(row)

    def add_spend(self, spend: Mapping[str, float]) -> None:
        """Add each key's new spend in one transaction (atomic per row, safe across processes)."""
        t = self.table
        with self._engine.begin() as conn:
            for name, usd in spend.items():
                if usd:
                    conn.execute(t.update().where(t.c.name == name).values(spent_usd=t.c.spent_usd + float(usd)))

    def close(self) -> None:
        self._engine.dispose()


def _from_row(row: Mapping[str, Any]) -> ApiKey:
    tiers = row.get("tiers")
    return ApiKey(
        name=row["name"],
        prefix=row["prefix"],
        created_at=float(row["created_at"]),
        revoked_at=row.get("revoked_at"),
        rpm=row.get("rpm"),
        tpm=row.get("tpm"),
        budget_usd=row.get("budget_usd"),
        tiers=tuple(json.loads(tiers)) if tiers else None,
        spent_usd=float(row.get("spent_usd") or 0.0),
    )
