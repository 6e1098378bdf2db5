"""Reading the store's rows with SQLModel sessions."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, create_engine, func, select

from telemetry import AttemptRecord, LLMCallRecord, TelemetryStore
from telemetry.models import AttemptRow, CallRow


def test_sqlmodel_reads_what_the_store_wrote(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    store = TelemetryStore(url)
    recs = []
    for i in range(6):
        ok = i % 3 != 0
        att = AttemptRecord(f"c{i}", 0, 0, "openai/gpt-4o", "openai", "gpt-4o", "success" if ok else "error", None if ok else "timeout", 200 if ok else None, 12.5)
        recs.append(LLMCallRecord(call_id=f"c{i}", provider="openai", model="gpt-4o", tier="capable", task_type="review",
                                  success=ok, error_type=None if ok else "timeout", latency_ms=100 * i, deployment="openai/gpt-4o", attempts=[att]))
    store.write_batch(recs)
    store.close()
    engine = create_engine(url)
    with Session(engine) as s:
        failed = s.exec(select(CallRow).where(CallRow.success == False).order_by(CallRow.call_id)).all()  # noqa: E712
        assert [r.call_id for r in failed] == ["c0", "c3"] and failed[1].latency_ms == 300
        assert s.exec(select(func.count()).select_from(AttemptRow).where(AttemptRow.error_type == "timeout")).one() == 2
    engine.dispose()
