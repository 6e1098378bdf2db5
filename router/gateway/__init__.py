"""``attune serve``: an OpenAI- and Anthropic-compatible HTTP gateway in front of the router.

Any language and any OpenAI or Anthropic SDK gets routing, fallbacks, breakers and telemetry by changing
its ``base_url``. Needs the ``gateway`` extra (aiohttp). See docs/gateway.md.
"""

from router.gateway.serve import build_gateway, run_worker, serve

__all__ = ["build_gateway", "run_worker", "serve"]
