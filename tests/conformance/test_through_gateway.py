"""The conformance patterns with the gateway in between: user code on ``openai.AsyncOpenAI``
pointed at ``attune serve``, which routes to the same recording fake. What goes upstream and
what comes back must match the SDK calling the fake directly.

Left out, by design (docs/gateway.md, docs/conformance.md): per-request ``extra_headers`` and
``extra_query`` (they are addressed to the gateway, which does not forward a caller's headers or
query upstream), ``metadata`` (the gateway reads it for the task type and tags), and the error
patterns (the gateway answers a failed routed call with its own status: 502/503/504, docs/gateway.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
import yaml
from conformance_kit import CHAT_MODEL, EMBED_MODEL, KEY, Pattern, run_pattern
from test_openai_sdk import PATTERNS

from router.testing import FakeProviderServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gateway"))
from gatewaykit import GatewayThread  # noqa: E402

# the error pattern without a fault script: the gateway answers a failed call with its own error body
NOT_THROUGH_A_GATEWAY = {"extra_headers", "extra_query", "user, metadata, store", "BadRequestError (a bad value the API rejects)"}


def _through_gateway(p: Pattern) -> bool:
    return p.waits_for is None and p.setup is None and p.name not in NOT_THROUGH_A_GATEWAY


@pytest.fixture(scope="module")
def gateway(fake: FakeProviderServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    tmp: Path = tmp_path_factory.mktemp("gateway-conformance")
    os.environ["ATTUNE_CONFORMANCE_KEY"] = KEY
    deployment = {"base_url": fake.url, "api_key_env": "ATTUNE_CONFORMANCE_KEY"}
    cfg = {
        "telemetry": {"url": f"sqlite:///{tmp / 'gw.db'}"},
        "settings": {"max_attempts_per_deployment": 1, "deadline_s": 10, "attempt_timeout_s": 10},
        "deployments": {CHAT_MODEL: {"model": CHAT_MODEL, **deployment}, EMBED_MODEL: {"model": EMBED_MODEL, **deployment}},
    }
    (tmp / "attune.yaml").write_text(yaml.safe_dump(cfg))
    with GatewayThread(tmp / "attune.yaml") as gw:
        yield gw


@pytest.fixture
async def through_gateway(gateway: GatewayThread) -> AsyncIterator[openai.AsyncOpenAI]:
    secret = gateway.gateway.access.store.create(f"conformance-{os.urandom(4).hex()}")[1]
    client = openai.AsyncOpenAI(base_url=gateway.url, api_key=secret, max_retries=0)
    yield client
    await client.close()


def test_most_patterns_run_through_the_gateway() -> None:
    assert sum(map(_through_gateway, PATTERNS)) >= 35


# closing a stream early through a real socket: the SDK's own async generator (openai's
# AsyncResponseStream over httpx) is sometimes finalised by the garbage collector while its
# connection closes, which pytest reports as unraisable; it is the client's cleanup, not ours
_SDK_CLEANUP = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _param(p: Pattern) -> object:
    return pytest.param(p, id=p.name, marks=[_SDK_CLEANUP] if p.name.startswith("stream.close()") else [])


@pytest.mark.parametrize("pattern", [_param(p) for p in PATTERNS if _through_gateway(p)])
async def test_pattern_through_the_gateway(fake: FakeProviderServer, sdk: openai.AsyncOpenAI, through_gateway: openai.AsyncOpenAI, pattern: Pattern) -> None:
    await run_pattern(fake, pattern, sdk, through_gateway)  # type: ignore[arg-type]
