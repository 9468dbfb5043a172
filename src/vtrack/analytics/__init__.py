"""Counting analytics on tracked detections (pure logic: no drawing, no I/O)."""

from __future__ import annotations

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.analytics.base import Counter
from vtrack.analytics.lines import LineCounter

__all__ = ["Counter", "HourlyCounts", "LineCounter"]
