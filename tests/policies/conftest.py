"""Helpers for the policy tests: candidates, a context factory and a stats feeder."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
