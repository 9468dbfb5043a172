"""The frame step: the one place a frame's detections become tracks, counts and a :class:`FrameResult`.

``vtrack run`` (the file runner), ``vtrack serve`` (each live stream's worker) and ``vtrack batch``
call the same :class:`FrameStep`, so a change to tracking or counting is made once::

    detections ─► privacy (pixelate, or keep the rows for the live view)
               ─► class gate (only the counted classes go on)
               ─► tracker.update
               ─► sub-classes (optional: person → person:cyclist, vtrack.subclasses)
               ─► counters (line crossings, zone entries/exits, occupancy)
               ─► FrameResult (everything an exporter needs)

On frames the detector skips (``--stride``, or a live stream whose detector cannot keep up),
:meth:`FrameStep.carry` moves the last frame's tracked boxes to the new frame with a
:class:`Propagator` and gives them to the tracker as that frame's detections, so the tracker and the
counters still see every frame.

The step holds no thread state of its own: the tracker and the counters are stateful, so one step
serves one stream and is called from one thread, in frame order.
"""

from __future__ import annotations

import time as _time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import supervision as sv

from vtrack.analytics.composite import CounterSet
from vtrack.exporters.privacy import blur_regions
from vtrack.subclasses.stage import SubclassStage
from vtrack.trackers.base import Tracker
from vtrack.types import Frame, FrameResult


class Propagator(Protocol):
    """Moves the last frame's tracked boxes to a frame the detector skipped (e.g. by optical flow)."""

    def observe(self, frame: np.ndarray, tracked: sv.Detections) -> None:
        """Remember ``frame`` (BGR ``(H, W, 3)`` uint8) and the rows tracked on it."""
        ...

    def propagate(self, frame: np.ndarray, timestamp: float | None = None) -> sv.Detections:
        """The remembered rows moved to ``frame``, as detections for the tracker."""
        ...


CARRIED_BLUR_MARGIN = 0.1
"""A carried row to pixelate is grown by this share of its width and height on each side."""


@dataclass
class StepTimes:
    """Wall seconds the step spent tracking and counting (summed over the frames it was given).

    ``carry`` is the tracking time of the frames without detections (included in ``track``);
    ``subclasses`` the sub-class stage's time (included in ``track``).
    """

    track: float = 0.0
    count: float = 0.0
    carry: float = 0.0
    carried: int = 0
    subclasses: float = 0.0


class FrameStep:
    """Tracks and counts one stream's frames, one at a time, in order.

    Args:
        tracker: assigns track IDs; rows stay aligned with the (gated) detections.
        counters: the stream's line and zone counters, or ``None`` for no counting.
        classes: class names tracked and counted; ``None``: every class the detector reports. Rows of
            other classes (e.g. detected only to be blurred) stop here.
        blur: class names to pixelate (privacy).
        blur_in_place: pixelate ``frame.image`` itself now (a run that writes images: everything
            downstream sees the blurred pixels); when false, the rows go on in ``FrameResult.blur``
            for whatever makes an image later (the live view pixelates a copy).
        propagator: carries the boxes over frames without detections (:meth:`carry`); it observes
            every frame the step is given. ``None``: every frame must be detected.
        blur_propagator: with ``blur`` and a ``propagator``: carries the rows to pixelate over the
            frames without detections too (a second propagator, keeping every row), so a carried
            frame is pixelated like a detected one: its boxes grown by :data:`CARRIED_BLUR_MARGIN`,
            whole boxes (a carried mask would sit where the object was).
        subclasses: labels the tracks of one parent class (``--subclasses``) after tracking, before
            counting (``person`` → ``person:cyclist``); a track's label is fixed once it crosses a line.

    Attributes:
        times: time spent tracking and counting.
    """

    def __init__(
        self,
        tracker: Tracker,
        counters: CounterSet | None = None,
        *,
        classes: Collection[str] | None = None,
        blur: Collection[str] = (),
        blur_in_place: bool = False,
        propagator: Propagator | None = None,
        blur_propagator: Propagator | None = None,
        subclasses: SubclassStage | None = None,
    ) -> None:
        self.tracker = tracker
        self.propagator = propagator
        self.blur_propagator = blur_propagator if blur else None
        self.subclasses = subclasses
        self.counters = counters
        self.classes = sorted(set(classes)) if classes else None
        self.blur = frozenset(blur)
        self.blur_in_place = blur_in_place
        self.times = StepTimes()

    @property
    def can_carry(self) -> bool:
        """Frames without detections can be carried (:meth:`carry` works): the step has a propagator."""
        return self.propagator is not None

    def __call__(
        self,
        frame: Frame,
        detections: sv.Detections,
        *,
        time: datetime,
        index: int | None = None,
        timestamp: float | None = None,
    ) -> FrameResult:
        """Track and count one frame.

        Args:
            frame: the frame (its image is pixelated in place when ``blur_in_place``).
            detections: the detector's output for ``frame``, in frame pixels, with
                ``data["class_name"]``.
            time: wall-clock time of the frame, timezone-aware.
            index: the frame's index in source frames for the counters (never decreasing; default
                ``frame.index``).
            timestamp: the frame's time in seconds for the tracker's motion model (never decreasing;
                default ``frame.pts``).

        Returns:
            The frame's result: tracked rows, line events, zone events and occupancy.
        """
        blur_rows = None
        if self.blur_propagator is not None:  # before pixelating: the flow follows the real pixels
            self.blur_propagator.observe(frame.image, keep_classes(detections, self.blur))
        if self.blur and len(detections):
            if self.blur_in_place:
                blur_regions(frame.image, detections, self.blur, copy=False)
            else:
                blur_rows = detections
        detections = keep_classes(detections, self.classes)
        t0 = _time.perf_counter()
        index = frame.index if index is None else index
        tracked = self._track(frame, detections, frame.pts if timestamp is None else timestamp, index)
        t1 = _time.perf_counter()
        result = FrameResult(frame=frame, detections=tracked, time=time, blur=blur_rows)
        self._count(result, index)
        self.times.track += t1 - t0
        self.times.count += _time.perf_counter() - t1
        return result

    def carry(
        self, frame: Frame, *, time: datetime, index: int | None = None, timestamp: float | None = None
    ) -> FrameResult:
        """Track and count a frame the detector did not run on: the boxes are carried to it.

        Args:
            frame: the frame (the propagator follows the boxes in its pixels).
            time: wall-clock time of the frame, timezone-aware.
            index: as for :meth:`__call__`.
            timestamp: as for :meth:`__call__`.

        Returns:
            The frame's result (``detected`` is ``False``).

        Raises:
            TypeError: the step has no propagator (see :attr:`can_carry`).
        """
        if self.propagator is None:
            raise TypeError("this frame step has no propagator: every frame needs detections")
        t0 = _time.perf_counter()
        index = frame.index if index is None else index
        ts = frame.pts if timestamp is None else timestamp
        blur_rows = self._carry_blur(frame, ts)
        tracked = self._track(frame, self.propagator.propagate(frame.image, ts), ts, index)
        if blur_rows is not None and self.blur_in_place:
            blur_regions(frame.image, blur_rows, self.blur, copy=False)
            blur_rows = None
        t1 = _time.perf_counter()
        result = FrameResult(frame=frame, detections=tracked, time=time, detected=False, blur=blur_rows)
        self._count(result, index)
        self.times.track += t1 - t0
        self.times.carry += t1 - t0
        self.times.carried += 1
        self.times.count += _time.perf_counter() - t1
        return result

    def _carry_blur(self, frame: Frame, timestamp: float) -> sv.Detections | None:
        """The rows to pixelate on a carried frame: the last ones moved here, grown, masks dropped."""
        if self.blur_propagator is None:
            return None
        rows = self.blur_propagator.propagate(frame.image, timestamp)
        self.blur_propagator.observe(frame.image, rows)
        if not len(rows):
            return None
        xyxy = np.asarray(rows.xyxy, dtype=np.float32)
        grow = CARRIED_BLUR_MARGIN * (xyxy[:, 2:] - xyxy[:, :2])
        h, w = frame.image.shape[:2]
        grown = np.concatenate([xyxy[:, :2] - grow, xyxy[:, 2:] + grow], axis=1)
        grown = np.clip(grown, 0, [w, h, w, h]).astype(np.float32)
        return sv.Detections(
            xyxy=grown, confidence=rows.confidence, class_id=rows.class_id,
            data={"class_name": np.asarray(rows.data["class_name"])},
        )

    def _track(self, frame: Frame, detections: sv.Detections, timestamp: float, index: int) -> sv.Detections:
        tracked = self.tracker.update(detections, frame.image, timestamp=timestamp)
        if self.propagator is not None:
            self.propagator.observe(frame.image, tracked)  # the detector's classes, not the labels
        if self.subclasses is not None:
            t0 = _time.perf_counter()
            tracked = self.subclasses.apply(frame.image, tracked, index)
            self.times.subclasses += _time.perf_counter() - t0
        return tracked

    def _count(self, result: FrameResult, index: int) -> None:
        counters = self.counters
        if counters is None or result.time is None:
            return
        result.events = counters.update(result.detections, index, result.time)
        if self.subclasses is not None:
            for event in result.events:
                self.subclasses.observe_crossing(event.track_id)
        if counters.zones is not None:
            result.zone_events = list(counters.last_zone_events)
            result.occupancy = counters.occupancy


def keep_classes(detections: sv.Detections, classes: Collection[str] | None) -> sv.Detections:
    """The rows of ``detections`` whose ``data["class_name"]`` is in ``classes`` (all rows for ``None``)."""
    if classes is None or not len(detections):
        return detections
    names = detections.data.get("class_name")
    if names is None:
        return detections
    keep = np.isin(np.asarray(names), list(classes))
    if keep.all():
        return detections
    kept = detections[keep]
    assert isinstance(kept, sv.Detections)  # a boolean index gives Detections
    return kept
