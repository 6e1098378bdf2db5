"""The gateway's own counters in Prometheus' text format (per worker process).

``attune_gateway_requests_total{route, status}``, ``attune_gateway_request_seconds`` (a
histogram per route), ``attune_gateway_in_flight`` and, per deployment, the breaker state
(``attune_breaker_state{deployment, state}``, 1 for the current state).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

__all__ = ["GatewayMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ROUTES = frozenset({"/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/models", "/healthz", "/readyz", "/metrics"})


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class GatewayMetrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.hist: dict[str, list[int]] = defaultdict(lambda: [0] * (len(_BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)

    def request(self, path: str, status: int, seconds: float) -> None:
        route = path if path in _ROUTES else "other"  # unbounded paths must not become labels
        self.requests[(route, status)] += 1
        self.hist[route][bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.sums[route] += seconds

    def render(self, *, in_flight: int, router: Any) -> str:
        out = [
            "# HELP attune_gateway_requests_total Requests answered, by route and HTTP status.",
            "# TYPE attune_gateway_requests_total counter",
        ]
        for (route, status), n in sorted(self.requests.items()):
            out.append(f'attune_gateway_requests_total{{route="{route}",status="{status}"}} {n}')
        out += [
            "# HELP attune_gateway_request_seconds Time to answer a request (to the first byte of a stream).",
            "# TYPE attune_gateway_request_seconds histogram",
        ]
        for route, counts in sorted(self.hist.items()):
            acc = 0
            for le, n in zip((*_BUCKETS, float("inf")), counts):
                acc += n
                le_s = "+Inf" if le == float("inf") else repr(le)
                out.append(f'attune_gateway_request_seconds_bucket{{route="{route}",le="{le_s}"}} {acc}')
            out.append(f'attune_gateway_request_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}')
            out.append(f'attune_gateway_request_seconds_count{{route="{route}"}} {acc}')
        out += [
            "# HELP attune_gateway_in_flight Routed calls in progress in this worker.",
            "# TYPE attune_gateway_in_flight gauge",
            f"attune_gateway_in_flight {in_flight}",
            "# HELP attune_breaker_state Circuit breaker state per deployment (1 for the current state).",
            "# TYPE attune_breaker_state gauge",
        ]
        for key in sorted(router.deployments):
            state = router.breaker(key).state
            for s in ("closed", "open", "half-open"):
                out.append(f'attune_breaker_state{{deployment="{_label(key)}",state="{s}"}} {1 if state == s else 0}')
        return "\n".join(out) + "\n"
