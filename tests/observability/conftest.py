"""Fixtures of the observability tests (the session's fake provider server, ``server``, is in
tests/conftest.py; the in-memory exporters are in otelkit)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # otelkit


