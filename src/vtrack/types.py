"""The few types that cross stage boundaries.

``supervision.Detections`` is the type that travels between detector, tracker, counters and
exporters; these dataclasses carry the frame and the results around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import supervision as sv

Direction = Literal["in", "out"]
ZoneEventKind = Literal["enter", "exit"]


@dataclass(slots=True)
class Frame:
    """One decoded frame.

    Attributes:
        image: BGR image, shape ``(H, W, 3)``, dtype ``uint8``.
        index: 0-based index of the frame in its source (before any stride is applied, so
            ``index`` of consecutive yielded frames differ by the stride).
        pts: presentation time in seconds from the start of the source (video time).
        source_id: name of the stream/source that produced the frame.
        path: for image folders, the file the frame was read from.
    """

    image: np.ndarray
    index: int
    pts: float
    source_id: str = "default"
    path: str | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class CrossingEvent:
    """One object crossing one counting line.

    Attributes:
        time: wall-clock time of the crossing (start time + video time), timezone-aware.
        frame: 0-based index of the frame at which the crossing was confirmed.
        track_id: tracker ID of the object.
        class_name: class of the object (e.g. ``"bicycle"``).
        line: name of the line.
        direction: ``"in"`` (right-hand side → left-hand side of the arrow A→B) or ``"out"``.
    """

    time: datetime
    frame: int
    track_id: int
    class_name: str
    line: str
    direction: Direction

    def to_json(self) -> dict[str, object]:
        """Return the JSON record written to ``events.jsonl``."""
        return {
            "time": self.time.isoformat(),
            "frame": self.frame,
            "track_id": self.track_id,
            "class": self.class_name,
            "line": self.line,
            "direction": self.direction,
        }


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """One object entering or leaving one polygon zone.

    Attributes:
        time: wall-clock time of the event, timezone-aware: the frame that confirmed it, or for a
            track lost inside the zone until it expired, the frame it was last seen.
        frame: 0-based index of that frame.
        track_id: tracker ID of the object.
        class_name: class of the object when it entered (the same on its exit).
        zone: name of the zone.
        kind: ``"enter"`` or ``"exit"``.
        dwell_seconds: on ``"exit"``, seconds from the entry to the exit; ``None`` on ``"enter"``.
    """

    time: datetime
    frame: int
    track_id: int
    class_name: str
    zone: str
    kind: ZoneEventKind
    dwell_seconds: float | None = None

    def to_json(self) -> dict[str, object]:
        """Return the JSON record written to ``zone_events.jsonl``."""
        return {
            "time": self.time.isoformat(),
            "frame": self.frame,
            "track_id": self.track_id,
            "class": self.class_name,
            "zone": self.zone,
            "kind": self.kind,
            "dwell_seconds": None if self.dwell_seconds is None else round(self.dwell_seconds, 3),
        }


Occupancy = Mapping[str, Mapping[str, int]]
"""Tracks inside each zone now, per class: ``{zone: {class: n}}``."""


@dataclass(slots=True)
class FrameResult:
    """Everything the pipeline produced for one frame: what every exporter is given.

    Made by :class:`vtrack.pipeline.step.FrameStep`, the one place a frame is tracked and counted.

    Attributes:
        frame: the input frame.
        detections: tracked detections in frame pixels; ``tracker_id`` is ``-1`` for rows not
            (yet) confirmed by the tracker; ``data["class_name"]`` holds class names.
        events: line crossings confirmed at this frame.
        time: wall-clock time of the frame, timezone-aware (a file: start time + ``frame.pts``; a
            live stream: when it was captured).
        zone_events: zone entries and exits confirmed at this frame.
        occupancy: zone occupancy after this frame, ``{zone: {class: n}}``; ``None`` without zones.
        blur: rows of the classes to pixelate in images made of this frame later (the live view);
            ``None`` when nothing is to be blurred or the frame was already blurred in place.
        detected: the detector ran on this frame (``False``: tracks carried over from the last
            detection).
    """

    frame: Frame
    detections: sv.Detections
    events: list[CrossingEvent] = field(default_factory=list)
    time: datetime | None = None
    zone_events: list[ZoneEvent] = field(default_factory=list)
    occupancy: Occupancy | None = None
    blur: sv.Detections | None = None
    detected: bool = True
