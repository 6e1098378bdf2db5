"""A record as it waits for the writer thread: its spool line (JSON bytes), not the live object.

A queued ``LLMCallRecord`` keeps about seven objects the garbage collector tracks (the record,
its attempt, its lists, its tags) alive until the writer has written its batch. CPython starts a
young collection after every 700 tracked objects allocated and not yet freed, so at a few
thousand calls a second a queue of records brought several times as many collections as the
calls themselves, each scanning every call in flight; and every tenth of them moved those
calls' objects to the oldest generation, which is what brings full collections, each as long
as the application's heap is large. Bytes are not tracked: with them the process collects
about as often as with no telemetry (benchmarks/RESULTS.md, "the queue as spool lines").

A record that passes the store's fast check (``_validate.plain_record``: the exact types,
ASCII text without NUL, values in range, as every record the router builds does) is queued as
the line the writer would have made of it (``_rows.queue_line``: its spool line, with the
list and tags columns as JSON arrays and objects): checked once, on the
caller's thread (3-5 µs), and then only bound, or appended to the spool file as it is. Any
other record is queued as the object and checked, coerced or refused by the writer as before,
with the same messages.
"""

from __future__ import annotations

from typing import Any

from ._rows import _loads, queue_line
from ._validate import plain_record
from .records import LLMCallRecord

__all__ = ["call_id_of", "queued"]


def queued(record: LLMCallRecord) -> bytes | LLMCallRecord:
    """What goes on the writer's queue for ``record``: its spool line, or the record itself."""
    if type(record) is not LLMCallRecord or not plain_record(record):
        return record
    try:
        return queue_line(record)
    except (TypeError, ValueError):  # not JSON after all: the writer checks the object
        return record


def call_id_of(item: bytes | LLMCallRecord) -> Any:
    """The call id of a queued item (for messages about it)."""
    if type(item) is bytes:
        try:
            return _loads(item)[0]
        except (ValueError, IndexError, KeyError, TypeError):  # not a line after all
            return "?"
    return getattr(item, "call_id", "?")
