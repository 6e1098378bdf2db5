"""The ``attune`` command: dispatch, explain from a store, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router import Deployment, MemoryProvider, Router, Tier
from router.cli import main
from router.errors import OverloadedError
from telemetry import TelemetryBackend


def test_help_and_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "explain" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


async def test_explain_reads_what_the_router_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    backend = TelemetryBackend(url)
    flaky = MemoryProvider("openai", fail_with=[OverloadedError("busy", status=503)] * 3)
    deps = [Deployment("openai/gpt-4o", flaky, "gpt-4o"), Deployment("anthropic/claude-sonnet-4", MemoryProvider("anthropic"), "claude-sonnet-4")]
    router = Router(deployments=deps, tiers=[Tier("capable", [d.key for d in deps], policy="static")], telemetry=backend)
    for _ in range(5):
        await router.acompletion("capable", [{"role": "user", "content": "hi"}], task_type="review")
    await backend.aclose()
    assert main(["explain", "--db", url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = rows
    assert (row["tier"], row["task_type"], row["policy"]) == ("capable", "review", "static")
    assert row["order"] == ["openai/gpt-4o", "anthropic/claude-sonnet-4"]
    assert main(["explain", "--db", url]) == 0
    text = capsys.readouterr().out
    assert "tier capable" in text and "openai/gpt-4o" in text


def test_explain_falls_back_to_the_newest_calls_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime, timezone

    from telemetry import LLMCallRecord, TelemetryStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = TelemetryStore(url)
    ts = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)  # e.g. simulated calls from attune bench
    store.write_batch([LLMCallRecord(call_id=f"c{i}", timestamp=ts, provider="openai", model="gpt-4o", tier="capable",
                                     task_type="chat", deployment="openai/gpt-4o", policy="adaptive",
                                     plan_order=["openai/gpt-4o"]) for i in range(3)])
    store.close()
    assert main(["explain", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "showing the 900 s before the newest call" in out and "tier capable" in out


def test_explain_prints_aligned_columns_whatever_the_names(capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli_explain import print_explain

    def dep(key: str, p: float) -> dict[str, object]:
        return {"deployment": key, "p_success": p, "attempts_weight": 12.0, "latency_p50_ms": 900, "latency_p95_ms": 2500,
                "failed_attempt_ms": None, "retry_rate": 0.25, "regime": "steady", "errors": {"timeout": 0.5}}

    long = "a-very-long-provider-name/an-even-longer-model-name-2025"
    rows = [{"tier": "t", "task_type": "chat", "policy": "adaptive", "last_call_at": "2025-06-15T12:00:00", "order": [long, "p/b"],
             "skipped": [], "deployments": [dep(long, 0.5), dep("p/b", 0.875)]}]
    print_explain(rows)
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if "p(ok)" in line)
    end = lines[header].index("p(ok)") + len("p(ok)")
    assert lines[header + 1][end - 5 : end] == "0.500" and lines[header + 2][end - 5 : end] == "0.875"
    assert lines[header + 1].startswith(f" {long}") and "timeout 50%" in lines[header + 1]
