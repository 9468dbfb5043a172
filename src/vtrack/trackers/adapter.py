"""Make a Roboflow ``trackers`` tracker honour vtrack's ``Tracker`` contract.

The library trackers (``trackers`` 2.6) do the association well, but their ``update`` returns the
rows *permuted* (and BoT-SORT drops some), their IDs start at 0 and restart at 0 after ``reset()``,
and they track all classes together. :class:`LibraryTracker` wraps one library tracker *per class*
and fixes each of these:

* **Row alignment.** Each row handed to the library carries its input row index in
  ``data[ROW_KEY]``; the library slices detections with that column, so its output says which input
  row each ID belongs to. The IDs are scattered back to the input order; rows the library dropped stay
  ``-1``. Nothing is re-matched by IoU.
* **IDs.** The library's per-instance IDs are mapped to IDs drawn from this wrapper's own counter,
  which starts at 1, only grows, and survives ``reset()``. The counter lives on the instance, so two
  streams in one process never share or affect IDs (whatever the library does with its own counters).
* **Per class.** With ``per_class=True`` each class ID gets its own library tracker, so a bicycle
  never takes over a person's track.
* **Bounded memory.** The ID map keeps only tracks the library still holds, and a class's library
  tracker is dropped once it holds no track.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import supervision as sv

from vtrack.errors import ConfigError
from vtrack.trackers.base import ORIGIN_KEY
from vtrack.trackers.byte_engine import CARRIED_TRACK_KEY

logger = logging.getLogger(__name__)

ROW_KEY = "_vtrack_row"
"""``data`` column carrying the input row index through the library tracker."""
CARRIED_KEY = "propagated"
"""``data`` column marking rows carried over a frame without detection (handed on to the engine)."""

UNTRACKED = -1
"""``tracker_id`` of rows that do not (yet) belong to a confirmed track."""

_ALL_CLASSES = -1
"""Key of the single library tracker when ``per_class`` is off."""


class Engine(Protocol):
    """What :class:`LibraryTracker` needs of one per-class tracker: a ``trackers`` library tracker or
    :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`.

    ``update`` returns rows that carry the input's ``data`` columns (in any order, possibly fewer) with
    ``tracker_id`` (``-1`` for unconfirmed); ``tracks`` holds every live track, each with a
    ``tracker_id``.
    """

    @property
    def tracks(self) -> Sequence[Any]: ...

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections: ...


class LibraryTracker:
    """A ``vtrack`` :class:`~vtrack.trackers.base.Tracker` built on one ``trackers`` library tracker.

    Args:
        factory: builds a fresh library tracker (one per class, and anew after ``reset()``).
        per_class: track each ``class_id`` separately (a track never changes class). When the input
            has no ``class_id``, all rows are one class.
        min_confidence: rows with ``confidence`` below this are not given to the library at all and
            keep ``tracker_id = -1`` (ByteTrack's floor for low-score boxes, 0.1 in the paper).
        pass_frame: hand ``frame`` to the library (only trackers with camera motion compensation use
            it; the others warn when given one).
        drop_idle_engines: drop a class's library tracker once it holds no track (memory stays
            bounded by live tracks). Turn off for library trackers whose behaviour depends on how many
            frames they have seen (OC-SORT, BoT-SORT); their number is then bounded by the classes.
        pass_timestamp: hand ``timestamp`` to the engine's ``update`` as a keyword (engines that model
            time: :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`); the library trackers
            count frames and never get it.
    """

    def __init__(
        self,
        factory: Callable[[], Engine],
        *,
        per_class: bool = True,
        min_confidence: float = 0.0,
        pass_frame: bool = False,
        drop_idle_engines: bool = True,
        pass_timestamp: bool = False,
    ) -> None:
        self._factory = factory
        self._pass_timestamp = pass_timestamp
        self._frames_seen = 0
        self.last_detection_time: float | None = None
        """Timestamp of the last frame with detections (not carried by a propagator; ``data``
        without ``"propagated"``) given to :meth:`update`; engines made later start from it."""
        factory()  # build one now so bad library parameters fail here, not at the first detection
        self.per_class = per_class
        self.min_confidence = float(min_confidence)
        self._pass_frame = pass_frame
        self._drop_idle = drop_idle_engines
        self._engines: dict[int, Engine] = {}
        # class key -> {library tracker ID -> vtrack ID}, only for tracks the library still holds.
        self._ids: dict[int, dict[int, int]] = {}
        self._next_id = 1

    # ------------------------------------------------------------------ protocol
    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        """Track one frame.

        Args:
            detections: ``N`` detections: ``xyxy`` ``(N, 4)`` float pixels; ``confidence`` ``(N,)``
                float in ``[0, 1]`` or ``None`` (all confident); ``class_id`` ``(N,)`` int or ``None``.
                Call with zero rows on frames without detections so lost tracks age.
            frame: BGR image ``(H, W, 3)`` ``uint8``; used only by trackers that compensate camera
                motion.
            timestamp: the frame's time in seconds (see :class:`~vtrack.trackers.base.Tracker`); used
                only by engines that model time (``pass_timestamp``).

        Returns:
            The same ``N`` rows in the same order (``mask``, ``confidence``, ``class_id``, ``data``
            unchanged) with ``tracker_id`` ``(N,)`` ``int64``: a positive ID for rows of confirmed
            tracks, ``-1`` otherwise; engines that report where tracks started add
            ``data[ORIGIN_KEY]`` ``(N, 4)`` float32 (``NaN`` rows where unknown).
        """
        n = len(detections)
        ids = np.full(n, UNTRACKED, dtype=np.int64)
        origins = np.full((n, 4), np.nan, dtype=np.float32)
        reported = False  # an engine gave origins
        keys = self._class_keys(detections)
        usable = np.ones(n, dtype=bool)
        if detections.confidence is not None and self.min_confidence > 0.0:
            usable = np.asarray(detections.confidence) >= self.min_confidence

        present = set(np.unique(keys[usable]).tolist()) if n else set()
        for key in present - self._engines.keys():
            self._engines[key] = self._factory()

        for key in list(self._engines):
            rows = np.flatnonzero(usable & (keys == key)) if n else np.empty(0, dtype=np.int64)
            reported |= self._update_engine(key, detections, rows, frame, ids, origins, timestamp)

        self._frames_seen += 1
        if timestamp is not None and CARRIED_KEY not in detections.data:
            self.last_detection_time = float(timestamp)
        data = dict(detections.data)
        data.pop(ORIGIN_KEY, None)  # a carried row's copy from the previous frame is not this frame's
        if reported:
            data[ORIGIN_KEY] = origins
        return dataclasses.replace(detections, tracker_id=ids, data=data)

    def reset(self) -> None:
        """Forget every track. IDs keep counting up: none is ever handed out twice."""
        self._engines.clear()
        self._ids.clear()
        self._frames_seen = 0
        self.last_detection_time = None
        logger.debug("tracker reset; next ID stays %d", self._next_id)

    # ------------------------------------------------------------------ introspection
    @property
    def next_id(self) -> int:
        """The ID the next confirmed track will get."""
        return self._next_id

    @property
    def frames_seen(self) -> int:
        """Frames given to :meth:`update` since construction or the last :meth:`reset`."""
        return self._frames_seen

    @property
    def live_track_count(self) -> int:
        """Number of tracks (confirmed or not) held by the library trackers."""
        return sum(len(e.tracks) for e in self._engines.values())

    @property
    def state_size(self) -> dict[str, int]:
        """Sizes of every internal container (for tests of bounded memory)."""
        return {
            "engines": len(self._engines),
            "id_map": sum(len(m) for m in self._ids.values()),
            "tracks": self.live_track_count,
        }

    # ------------------------------------------------------------------ internals
    def _class_keys(self, detections: sv.Detections) -> np.ndarray:
        n = len(detections)
        if not self.per_class or detections.class_id is None:
            return np.full(n, _ALL_CLASSES, dtype=np.int64)
        return np.asarray(detections.class_id, dtype=np.int64).reshape(n)

    def _update_engine(
        self,
        key: int,
        detections: sv.Detections,
        rows: np.ndarray,
        frame: np.ndarray | None,
        ids: np.ndarray,
        origins: np.ndarray,
        timestamp: float | None = None,
    ) -> bool:
        """Track the ``rows`` of one class; write their IDs into ``ids`` and, when the engine reports
        where its tracks started, their origin boxes into ``origins`` (then return ``True``)."""
        engine = self._engines[key]
        reported = False
        conf = detections.confidence
        sub = sv.Detections(
            xyxy=np.asarray(detections.xyxy, dtype=np.float32)[rows].reshape(-1, 4),
            confidence=None if conf is None else np.asarray(conf, dtype=np.float32)[rows],
            class_id=np.full(len(rows), max(key, 0), dtype=np.int64),
            data={ROW_KEY: rows.astype(np.int64)},
        )
        id_map = self._ids.setdefault(key, {})
        if CARRIED_KEY in detections.data:  # rows moved by a propagator (vtrack.trackers.propagate)
            sub.data[CARRIED_KEY] = np.asarray(detections.data[CARRIED_KEY], dtype=bool)[rows]
            if self._pass_timestamp and detections.tracker_id is not None:  # which track each came from
                lib_of = {vid: lib for lib, vid in id_map.items()}
                vids = np.asarray(detections.tracker_id, dtype=np.int64)[rows].tolist()
                sub.data[CARRIED_TRACK_KEY] = np.array([lib_of.get(v, -1) for v in vids], dtype=np.int64)
        if self._pass_timestamp:
            result = engine.update(sub, frame, timestamp=timestamp)  # type: ignore[call-arg]
        else:
            result = engine.update(sub, frame) if self._pass_frame else engine.update(sub)

        if len(result):
            back = np.asarray(result.data[ROW_KEY], dtype=np.int64)
            if ORIGIN_KEY in result.data:
                origins[back] = np.asarray(result.data[ORIGIN_KEY], dtype=np.float32).reshape(-1, 4)
                reported = True
            lib_ids = np.asarray(result.tracker_id, dtype=np.int64)
            for row, lib_id in zip(back.tolist(), lib_ids.tolist(), strict=True):
                if lib_id == UNTRACKED:
                    continue
                vid = id_map.get(lib_id)
                if vid is None:
                    vid = id_map[lib_id] = self._next_id
                    self._next_id += 1
                ids[row] = vid

        # (an engine may hold boxes for a later track's origin: PaperByteTrackEngine.pending)
        if not engine.tracks and self._drop_idle and not getattr(engine, "pending", False):
            # An idle engine holds nothing worth keeping; a new one is made when the class comes back.
            del self._engines[key]
            del self._ids[key]
        elif id_map:
            alive = {int(t.tracker_id) for t in engine.tracks}
            for lib_id in [i for i in id_map if i not in alive]:
                del id_map[lib_id]
        return reported


def lost_track_frames(lost_track_seconds: float, fps: float) -> int:
    """Convert a lost-track buffer in seconds into frames at the effective frame rate.

    Args:
        lost_track_seconds: how long a lost track may stay unmatched and still get its ID back.
        fps: frames per second *reaching the tracker* (the source rate divided by the frame stride).

    Returns:
        ``ceil(lost_track_seconds * fps)`` frames (``0`` only for a zero buffer).

    Raises:
        ConfigError: if ``fps`` is not a finite positive number or the buffer is negative.
    """
    if not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"tracker fps must be a finite number > 0, got {fps!r}")
    if not math.isfinite(lost_track_seconds) or lost_track_seconds < 0:
        raise ConfigError(f"lost_track_seconds must be a finite number >= 0, got {lost_track_seconds!r}")
    # The epsilon keeps 1.0 s x 30 fps at 30 frames despite float error (30.000000000000004).
    return max(0, math.ceil(lost_track_seconds * fps - 1e-9))


_E = TypeVar("_E")


def set_lost_buffer(engine: _E, frames: int, seconds: float) -> _E:
    """Set a library tracker's lost-track buffer to exactly ``frames`` (its own knob is in 30 fps units).

    Args:
        engine: a freshly built library tracker.
        frames: frames a lost track is kept (a track missing for ``frames`` frames can still match).
        seconds: the same buffer in seconds (only used by the library in timestamp mode, which vtrack
            does not use).

    Returns:
        ``engine``, for chaining in factories.
    """
    setattr(engine, "maximum_frames_without_update", int(frames))  # noqa: B010 (library attribute)
    setattr(engine, "maximum_time_without_update", float(seconds))  # noqa: B010
    return engine
