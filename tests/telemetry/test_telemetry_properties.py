"""Property: whatever the field values (wrong types, huge numbers, NaN, unicode, NUL), the writer
never stalls, stores every valid record (coerced where that keeps its meaning) and drops every
invalid one exactly once, on SQLite and on PostgreSQL.

Each generated value carries what must be stored for it, or ``DROP``: the expectation comes from
the strategy, not from the code under test.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telemetry_testkit import PG_URL, make_call, needs_pg, unique_prefix

from telemetry import TelemetryBackend, TelemetryDropWarning, TelemetryStore

DROP = object()
I64 = 2**63 - 1
_ids = itertools.count()


def _clean_text(s: str) -> str:
    return s.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


any_text = st.text(st.characters(codec=None), max_size=40)  # NUL and lone surrogates included
wrong = st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                  st.binary(max_size=4), st.just(object()))  # fmt: skip


def text_value(required: bool) -> st.SearchStrategy[tuple[Any, Any]]:
    return st.one_of(
        any_text.map(lambda s: (s, _clean_text(s))),
        st.integers(-(10**30), 10**30).map(lambda i: (i, str(i))),
        st.just((None, "" if required else None)),
        wrong.map(lambda v: (v, DROP)),
    )


int_value = st.one_of(
    st.integers(-I64 - 1, I64).map(lambda i: (i, i)),
    st.sampled_from([I64, -I64 - 1, 2**62]).map(lambda i: (i, i)),  # sums in a rollup overflow 64 bits
    st.integers(I64 + 1, 2**200).map(lambda i: (i, DROP)),
    st.integers(-(2**200), -I64 - 2).map(lambda i: (i, DROP)),
    st.integers(-(2**52), 2**52).map(lambda i: (float(i), i)),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e30, -1e300]).map(lambda f: (f, DROP)),
    st.one_of(any_text, wrong).map(lambda v: (v, DROP)),
)
cost_value = st.one_of(
    st.floats(-1e12, 1e12).map(lambda f: (f, f)),
    st.sampled_from([float("nan"), float("inf"), -float("inf")]).map(lambda f: (f, DROP)),
    st.one_of(any_text, wrong).map(lambda v: (v, DROP)),
)
bool_value = st.one_of(st.booleans().map(lambda b: (b, b)), st.one_of(any_text, wrong).map(lambda v: (v, DROP)))
tags_value = st.one_of(
    st.dictionaries(any_text, any_text, max_size=3).map(
        lambda d: (d, DROP if len({_clean_text(k) for k in d}) != len(d) else {_clean_text(k): _clean_text(v) for k, v in d.items()})
    ),
    st.dictionaries(st.integers(0, 1000), st.text(max_size=5), min_size=1, max_size=3).map(
        lambda d: (d, {str(k): _clean_text(v) for k, v in d.items()})  # integer keys become text; NUL goes from values too
    ),
    st.dictionaries(st.text(max_size=3), st.lists(st.integers(), max_size=1), min_size=1, max_size=2).map(lambda d: (d, DROP)),
    st.one_of(st.lists(st.text(max_size=3), min_size=1, max_size=2), st.text(min_size=1, max_size=3)).map(lambda v: (v, DROP)),
)

FIELDS: dict[str, st.SearchStrategy[tuple[Any, Any]]] = {
    "task_type": text_value(True),
    "provider": text_value(True),
    "error_message": text_value(False),
    "request_id": text_value(False),
    "input_tokens": int_value,
    "latency_ms": int_value,
    "cost": cost_value,
    "success": bool_value,
    "tags": tags_value,
}
record_spec = st.fixed_dictionaries({}, optional=FIELDS)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=needs_pg)])
def shared_backend(request: pytest.FixtureRequest) -> Iterator[TelemetryBackend]:
    prefix = unique_prefix()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/p.db" if request.param == "sqlite" else PG_URL
        assert url is not None
        b = TelemetryBackend(url, table_prefix=prefix, flush_interval=0.01, spool_path=os.path.join(tmp, "p.spool"))
        yield b
        b.close()
        store = TelemetryStore(url, table_prefix=prefix)
        store.drop_tables()
        store.close()


@settings(max_examples=int(os.environ.get("ATTUNE_PROPERTY_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(specs=st.lists(record_spec, min_size=1, max_size=8))
def test_every_valid_record_stored_every_invalid_dropped_once(shared_backend: TelemetryBackend, specs: list[dict[str, Any]]) -> None:
    b = shared_backend
    before = b.stats
    expected: dict[str, dict[str, Any]] = {}
    dropped = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TelemetryDropWarning)
        for spec in specs:
            n = next(_ids)
            r = replace(make_call(n), call_id=f"p{n}", **{k: v for k, (v, _) in spec.items()})
            if any(want is DROP for _, want in spec.values()):
                dropped += 1
            else:
                expected[r.call_id] = {k: want for k, (_, want) in spec.items()}
            b.submit(r)
        b.flush_sync(timeout=20)  # never stalls: a poison record cannot hold the batch
    after = b.stats
    assert after.written - before.written == len(expected)
    assert after.dropped - before.dropped == dropped
    assert after.pending == 0 and after.spooled == 0 and after.duplicates == before.duplicates
    if expected:
        got = {r.call_id: r for r in b.query_sync(call_id=list(expected), fresh=False)}
        assert set(got) == set(expected)
        for cid, want in expected.items():
            for name, value in want.items():
                assert getattr(got[cid], name) == value, (cid, name)
