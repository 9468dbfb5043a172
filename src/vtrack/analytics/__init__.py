"""Counting analytics on tracked detections (pure logic: no drawing, no I/O)."""

from __future__ import annotations

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.analytics.base import Counter
from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import LineCounter
from vtrack.analytics.zones import ZoneCounter, ZoneHourly, ZoneHourRow

__all__ = ["Counter", "CounterSet", "HourlyCounts", "LineCounter", "ZoneCounter", "ZoneHourRow", "ZoneHourly"]
