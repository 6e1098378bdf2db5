"""One validation layer for everything a user configures: ``attune.yaml``, scenario files, and
``RouterSettings`` / ``BreakerSettings`` built in Python.

- YAML is read as strict UTF-8 with a nesting limit and an alias limit (an alias bomb is
  refused while composing, before anything is expanded).
- Shapes are pydantic models (``router._schema``, imported on first use so ``import router``
  stays light) with ``extra="forbid"``, strict types (``true`` is not a number, ``2.5`` not an
  integer) and no NaN or infinity; settings dataclasses declare their bounds once, as
  ``Annotated[float, Range(gt=0)]``, and the same generated model checks them whether they come
  from a file or from Python.
- Every error is a ``ConfigError`` in one format, ``SOURCE: KEY.PATH: PROBLEM (got VALUE)``,
  with every problem of a source at once and each value cut short by ``cut``.

``Range``, ``MAX_SECONDS`` and ``cut`` live in ``router._limits``, which both sides import.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from router._limits import MAX_SECONDS, Range, cut, shorten
from router.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_SECONDS", "Range", "check_fields", "cut", "parse_yaml", "read_yaml", "shorten"]

MAX_DEPTH = 64  # nesting levels of a YAML document
MAX_NODES = 100_000  # nodes of a YAML document once every alias is counted at its full size


def check_fields(obj: Any, names: tuple[str, ...] | None = None, *, source: str | None = None) -> None:
    """Validate a dataclass's fields (or ``names`` only) against their declared types and bounds.

    Raises ``ConfigError`` with source ``source`` (default ``ClassName``) and every bad field at once.
    """
    from router._schema import model_for, validate

    validate(model_for(type(obj), names), obj, source=source or type(obj).__name__, from_attributes=True)


# -- YAML ------------------------------------------------------------------------------------
def read_yaml(path: str | PathLike[str], *, what: str = "file") -> tuple[Any, str]:
    """Read and parse a YAML file; returns ``(data, source name)``. Errors are ``ConfigError``."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})", source=name) from None
    return parse_yaml(text, name), name


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text with the nesting and alias limits; errors name ``source``."""
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(str(exc), source=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{where}: {shorten(str(exc.problem or exc.context))}", source=source) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors raise plain ValueError for e.g. ``2024-02-30``
        raise ConfigError(f"invalid YAML: {shorten(str(exc))}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Refused(Exception):
    """The document is too deep or expands too far."""


_LOADER: Any = None


def _loader_class() -> Any:
    global _LOADER
    if _LOADER is None:
        _LOADER = _make_loader()
    return _LOADER


def _make_loader() -> Any:
    import yaml

    class LimitedLoader(yaml.SafeLoader):
        """``SafeLoader`` that refuses deep nesting and documents whose aliases expand too far."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _Refused(f"nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None:
                _expanded_size(node, {}, set())
            return node

    return LimitedLoader


def _expanded_size(node: Any, sizes: dict[int, int], open_: set[int]) -> int:
    """Nodes under ``node`` counting every alias at its full size; refuses past ``MAX_NODES``."""
    import yaml

    known = sizes.get(id(node))
    if known is not None:
        return known
    if id(node) in open_:
        raise _Refused(f"an alias refers to a node that contains it (line {node.start_mark.line + 1})")
    total = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        open_.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            total += _expanded_size(child, sizes, open_)
            if total > MAX_NODES:
                raise _Refused(f"expands to more than {MAX_NODES} values through aliases (line {node.start_mark.line + 1})")
        open_.discard(id(node))
    sizes[id(node)] = total
    return total
