"""The ``Counter`` protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import supervision as sv

from vtrack.types import CrossingEvent


@runtime_checkable
class Counter(Protocol):
    """Turns tracked detections into events (pure logic: no drawing, no I/O)."""

    def update(self, detections: sv.Detections, frame_index: int, time: datetime) -> list[CrossingEvent]: ...
