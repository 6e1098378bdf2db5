"""JSON for the HTTP path: orjson when it is installed, the standard library otherwise, with the
same results either way. What orjson refuses (NaN literals, non-string keys) goes through the
standard library instead of failing, and so does text with a run of 20 digits or more (orjson
reads integers beyond 64 bits as floats; json keeps them exact). One difference remains on the
way out: a float NaN or infinity is written as ``null`` (json writes ``NaN``, which no provider
accepts)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None  # type: ignore[assignment]


def _std_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


if orjson is not None:
    _orjson_loads, _orjson_dumps, _DecodeError, _EncodeError = orjson.loads, orjson.dumps, orjson.JSONDecodeError, orjson.JSONEncodeError

    _DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # digits -> "0", the rest -> " "
    _RUN = b"0" * 20

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON text (bytes or str); ``ValueError`` when it is not JSON."""
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data) if isinstance(data, memoryview) else data
        if _RUN in raw.translate(_DIGITS):  # two C passes: far cheaper than a regex
            return json.loads(data)
        try:
            return _orjson_loads(data)
        except _DecodeError:
            return json.loads(data)  # what orjson refuses but json reads (NaN, huge ints), or json's error

    def dumps(obj: Any) -> bytes:
        """``obj`` as compact UTF-8 JSON bytes; ``TypeError``/``ValueError`` when it cannot be."""
        try:
            return _orjson_dumps(obj)
        except _EncodeError:
            return _std_dumps(obj)  # non-string keys, integers beyond 64 bits: as json writes them

else:
    loads = json.loads  # type: ignore[assignment]
    dumps = _std_dumps
