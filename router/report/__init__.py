"""``attune report``: what happened, per group, from a telemetry store's rollups.

::

    from router.report import build_report
    report = build_report("sqlite:///attune-telemetry.db", since="1h", by="deployment")
    report.to_json()        # the contract's object (docs/design.md, "Command line")

``since`` counts back from the newest record in the store (a duration such as ``90s``,
``15m``, ``2h``, ``7d``, ``1h30m``), or is an ISO date/time; ``None`` means everything. The
window covers whole minutes: from the minute holding its start to the newest record.
"""

from __future__ import annotations

from .build import Report, build_report, parse_since

__all__ = ["Report", "build_report", "parse_since"]
