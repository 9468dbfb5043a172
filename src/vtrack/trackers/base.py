"""The ``Tracker`` protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv

ORIGIN_KEY = "track_origin"
"""``data`` column a tracker may add: ``(N, 4)`` float32 xyxy of the box that started each row's track
(its first detection, made before the track was confirmed), ``NaN`` where unknown. Counters read it to
know which side of a line a track came from when it was confirmed only after crossing (a fast object
seen by a slow detector)."""


@runtime_checkable
class Tracker(Protocol):
    """Assigns stable IDs to detections.

    ``update`` returns the *same rows in the same order* as its input (never re-matched by IoU),
    with ``tracker_id`` set: a positive ID for rows that belong to a confirmed track, ``-1`` for
    rows not (yet) confirmed. IDs are unique within one tracker for its whole life and never
    reused, also after ``reset()``, and never shared between two tracker instances.

    ``timestamp`` is the frame's time in seconds (video pts, or a monotonic clock for live sources;
    only differences matter, and it must not decrease). Trackers that model motion in time predict
    over the real gap since the previous call; ``None`` means one frame at the rate the tracker was
    built for (and a tracker that ignores time ignores it).

    A tracker may add ``data[ORIGIN_KEY]`` (see :data:`ORIGIN_KEY`).
    """

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections: ...

    def reset(self) -> None: ...


class GivenIds:
    """A "tracker" that keeps the IDs the detections already carry; implements ``Tracker``.

    For detections whose identities are known beforehand: ground-truth boxes (counting the truth of a
    MOTChallenge sequence with the same frame step as a run) or tracks replayed from a file. Rows
    without ``tracker_id`` get ``-1`` (not confirmed).
    """

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        if detections.tracker_id is None:
            detections.tracker_id = np.full(len(detections), -1, dtype=int)
        return detections

    def reset(self) -> None:
        """Nothing to forget."""
