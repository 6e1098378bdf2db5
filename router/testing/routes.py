"""The fake provider's state: per-route faults (script, default, context limit), counters, and
the recording of every API request (method, path, query, headers, body) for tests to inspect.
Thread-safe: the server's thread writes, the test's thread reads. Standard library only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from router.testing.faults import Fault

__all__ = ["WILDCARD", "RecordedRequest", "RequestRecord", "RouteTable"]

WILDCARD = "*"


class RequestRecord(NamedTuple):
    """One chat request as the fake provider answered it.

    ``outcome`` is the HTTP status for a success, a status fault or a rejected request
    (400 validation, 401 auth), else the fault kind (``"context_length"``, ``"invalid_json"``,
    ``"reset"``, ``"reset_mid_body"``, ``"truncate"``, ``"hang"``, ``"stall"``).
    """

    route: str
    model: str | None
    outcome: int | str
    t: float  # time.monotonic() when the request was fully read


class RecordedRequest(NamedTuple):
    """One API request exactly as it arrived: ``headers`` with lower-case names, ``query`` the
    raw query string, ``body`` the parsed JSON (None when absent or not JSON), ``raw`` its bytes."""

    route: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    raw: bytes

    @property
    def query_params(self) -> list[tuple[str, str]]:
        """The query string decoded, in order, repeated names kept."""
        return parse_qsl(self.query, keep_blank_values=True)


class _RouteState:
    __slots__ = ("script", "default", "requests", "outcomes", "last", "context_limit")

    def __init__(self) -> None:
        self.script: deque[Fault | None] = deque()
        self.default: Fault | None = None
        self.requests = 0
        self.outcomes: dict[str, int] = {}
        self.last: RecordedRequest | None = None
        self.context_limit: int | None = None


class RouteTable:
    """Faults, counters and recordings of every route, behind one lock."""

    def __init__(self, *, log_size: int, recording_size: int) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteState] = {}
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self._recordings: deque[RecordedRequest] = deque(maxlen=recording_size)

    def _route(self, route: str) -> _RouteState:
        state = self._routes.get(route)
        if state is None:
            state = self._routes[route] = _RouteState()
        return state

    # -- faults -------------------------------------------------------------------------

    def script(self, route: str, faults: Iterable[Fault | None], *, replace: bool = False) -> int:
        """Queue faults on ``route`` (``replace``: instead of those queued); returns the queue length."""
        items = list(faults)
        with self._lock:
            state = self._route(route)
            if replace:
                state.script.clear()
            state.script.extend(items)
            return len(state.script)

    def set_default(self, route: str, fault: Fault | None) -> None:
        with self._lock:
            self._route(route).default = fault

    def default(self, route: str) -> Fault | None:
        with self._lock:
            return self._route(route).default

    def set_context_limit(self, route: str, tokens: int | None) -> None:
        with self._lock:
            self._route(route).context_limit = tokens

    def next_fault(self, route: str) -> tuple[Fault, int | None]:
        """The fault for the next request on ``route`` (resolved) and its context limit."""
        with self._lock:
            state = self._route(route)
            wildcard = self._routes.get(WILDCARD)
            if state.script:
                fault = state.script.popleft()
            elif state.default is not None:
                fault = state.default
            else:
                fault = wildcard.default if wildcard is not None else None
            limit = state.context_limit
            if limit is None and wildcard is not None:
                limit = wildcard.context_limit
        return (fault or Fault.ok()).resolve(), limit

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self._log.clear()
            self._recordings.clear()

    # -- recording ----------------------------------------------------------------------

    def record_request(self, recorded: RecordedRequest, *, chat: bool) -> int:
        """Keep ``recorded``; a chat request also counts on its route. Returns the route's count."""
        with self._lock:
            self._recordings.append(recorded)
            state = self._route(recorded.route)
            state.last = recorded
            if chat:
                state.requests += 1
            return state.requests

    def record_outcome(self, route: str, model: str | None, outcome: int | str, t: float) -> None:
        with self._lock:
            state = self._route(route)
            key = str(outcome)
            state.outcomes[key] = state.outcomes.get(key, 0) + 1
            self._log.append(RequestRecord(route, model, outcome, t))

    # -- observations -------------------------------------------------------------------

    def requests(self, route: str) -> int:
        with self._lock:
            state = self._routes.get(route)
            return state.requests if state is not None else 0

    def total_requests(self) -> int:
        with self._lock:
            return sum(s.requests for s in self._routes.values())

    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def recordings(self, route: str | None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._recordings if route is None or r.route == route]

    def last(self, route: str) -> RecordedRequest | None:
        with self._lock:
            state = self._routes.get(route)
            return None if state is None else state.last

    def route_names(self) -> list[str]:
        with self._lock:
            return sorted(n for n in self._routes if n and n != WILDCARD)

    def scripted(self, route: str) -> int:
        with self._lock:
            return len(self._route(route).script)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            routes = {
                name: {"requests": s.requests, "outcomes": dict(s.outcomes)}
                for name, s in sorted(self._routes.items())
                if s.requests
            }
        return {"total": sum(r["requests"] for r in routes.values()), "routes": routes}
