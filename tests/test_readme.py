"""Every Python example in README.md runs, in order, against the fake provider over real HTTP
(``attune.yaml`` in a temporary directory points each deployment at a route of the fake
server); every YAML block that is a whole config builds a router. Top-level ``await`` runs on
an event loop, as in a notebook or ``python -m asyncio``."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.testing import FakeProviderServer

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[tuple[int, str]]:
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 1, m.group(2)) for m in _BLOCK.finditer(text) if m.group(1) == lang]


def config(server: FakeProviderServer) -> dict[str, Any]:
    """The README's tiers and deployment names, every deployment on a fake-server route."""
    return {
        "telemetry": {"url": "sqlite:///attune-telemetry.db"},
        "settings": {"deadline_s": 10, "attempt_timeout_s": 5, "backoff_initial_s": 0.01, "backoff_max_s": 0.05},
        "deployments": {
            "openai/gpt-4o": {"model": "gpt-4o", "base_url": server.url_for("a"), "api_key_env": "OPENAI_API_KEY"},
            "anthropic/claude-sonnet-4": {"model": "claude-sonnet-4-20250514", "api": "anthropic", "base_url": server.base_for("b"), "api_key_env": "ANTHROPIC_API_KEY"},
            "local/llama": {"model": "llama-3.1-70b", "base_url": server.url_for("c"), "price": {"input_per_mtok": 0.5, "output_per_mtok": 0.8}},
            "openai/text-embedding-3-small": {"model": "text-embedding-3-small", "base_url": server.url_for("e"), "api_key_env": "OPENAI_API_KEY"},
        },
        "tiers": {
            "capable": {"chain": ["openai/gpt-4o", "anthropic/claude-sonnet-4", "local/llama"], "policy": "adaptive"},
            "embed": {"chain": ["openai/text-embedding-3-small"], "policy": "static"},
        },
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeProviderServer]]:
    with FakeProviderServer() as server:
        d = tmp_path_factory.mktemp("readme")
        (d / "attune.yaml").write_text(yaml.safe_dump(config(server)))
        yield d, server


def run_block(source: str, line: int) -> str:
    """Run one example; top-level ``await`` on a fresh event loop. Returns what it printed."""
    code = compile(source, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    ns: dict[str, Any] = {"__name__": "readme_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = eval(code, ns)  # noqa: S307 - our own README
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    return out.getvalue()


PY = blocks("python")


def test_the_readme_has_the_examples_this_test_expects() -> None:
    sources = "\n".join(src for _, src in PY)
    for needle in ("stream=True", "Client.from_config", "except openai.RateLimitError", "parse(", "embeddings.create", "from_litellm", "with_raw_response", "models.list"):
        assert needle in sources, needle


@pytest.mark.parametrize(("line", "source"), PY, ids=[f"line{line}" for line, _ in PY])
def test_python_example_runs(line: int, source: str, workdir: tuple[Path, FakeProviderServer], monkeypatch: pytest.MonkeyPatch) -> None:
    d, server = workdir
    monkeypatch.chdir(d)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(var, "sk-readme-test")
    from policies import policy_names, unregister_policy

    before, policies_before = server.total_requests, set(policy_names())
    try:
        run_block(source, line)
    finally:
        for name in set(policy_names()) - policies_before:  # an example's register_policy stays in the example
            unregister_policy(name)
    if "chat.completions" in source:
        assert server.total_requests > before  # it reached the (fake) provider


@pytest.mark.parametrize(("line", "source"), [b for b in blocks("yaml") if "deployments:" in b[1]], ids=lambda v: str(v)[:12])
def test_yaml_config_builds(line: int, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from router.config import build_router

    from router.providers.presets import PRESETS

    # every key variable the block names, and those its presets read
    for var in {*re.findall(r"api_key_env:\s*(\w+)", source), *(p.key_env for p in PRESETS.values())}:
        monkeypatch.setenv(var, "sk-readme-test")
    raw = yaml.safe_load(source)
    raw["telemetry"] = False
    router = build_router(raw)
    assert router.tiers
    asyncio.run(router.aclose())
