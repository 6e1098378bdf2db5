"""``attune keys create|list|revoke --config FILE``: the gateway's API keys.

``create`` prints the new key once, on its last line; only its SHA-256 digest is stored, in
the telemetry database named by the config.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="create a key and print it (once)")
    c.add_argument("--config", required=True)
    c.add_argument("--name", required=True, help="who the key is for (stored in every record of its calls)")
    c.add_argument("--rpm", type=int, help="requests per minute")
    c.add_argument("--tpm", type=int, help="tokens per minute (input + output)")
    c.add_argument("--budget-usd", type=float, help="total spend allowed, in US dollars")
    c.add_argument("--tiers", help="comma-separated tiers or deployments the key may use (default: all)")
    ls = sub.add_parser("list", help="list keys (never the keys themselves)")
    ls.add_argument("--config", required=True)
    ls.add_argument("--json", action="store_true")
    r = sub.add_parser("revoke", help="revoke a key by name")
    r.add_argument("--config", required=True)
    r.add_argument("--name", required=True)


def _store(config: str):  # type: ignore[no-untyped-def]
    from router.gateway.serve import open_keys

    return open_keys(config)[2]


def run(args: argparse.Namespace) -> int:
    from router.errors import ConfigError
    from telemetry.keys import KeyStoreError

    try:
        store = _store(args.config)
        try:
            return _act(store, args)
        finally:
            store.close()
    except (ConfigError, KeyStoreError, ValueError) as exc:
        print(f"attune keys: {exc}", file=sys.stderr)
        return 2


def _act(store, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    if args.action == "create":
        tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
        key, secret = store.create(args.name, rpm=args.rpm, tpm=args.tpm, budget_usd=args.budget_usd, tiers=tiers)
        limits = ", ".join(f"{k}={v}" for k, v in (("rpm", key.rpm), ("tpm", key.tpm), ("budget_usd", key.budget_usd), ("tiers", ",".join(key.tiers) if key.tiers else None)) if v is not None)
        print(f"created key {key.name!r} ({limits or 'no limits'}); it is shown once, store it now:", file=sys.stderr)
        print(secret)
        return 0
    if args.action == "list":
        keys = store.list()
        if args.json:
            print(json.dumps([k.as_dict() for k in keys]))
            return 0
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "key", "status", "rpm", "tpm", "budget $", "spent $", "tiers")
        for k in keys:
            table.add_row(k.name, k.prefix + "...", "active" if k.active else "revoked", str(k.rpm or "-"), str(k.tpm or "-"),
                          f"{k.budget_usd:g}" if k.budget_usd else "-", f"{k.spent_usd:.4f}", ",".join(k.tiers) if k.tiers else "all")
        Console().print(table)
        return 0
    key = store.revoke(args.name)
    print(f"revoked key {key.name!r}")
    return 0
