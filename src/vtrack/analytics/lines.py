"""Counting tracked objects that cross directed lines (pure logic: no drawing, no I/O).

Rules, per track and per line:

* The anchor point of the box (bottom centre by default) is tested against the line with
  :meth:`vtrack.geometry.Line.side`: ``+1`` left-hand side of the arrow A→B, ``-1`` right-hand side,
  ``0`` on the line.
* A side is *settled* once the anchor is seen on it in ``min_frames`` consecutive observations of the
  track. The first settled side counts nothing; every later change of the settled side is a crossing.
  ``-1 → +1`` is ``"in"``, ``+1 → -1`` is ``"out"``. A crossing is confirmed (and its event dated) at
  the ``min_frames``-th observation on the new side, so a box jittering over the line never counts:
  an excursion to the other side that lasts fewer than ``min_frames`` observations settles nothing.
* Every settled crossing counts: a track that walks in, out and in again counts ``in``, ``out``,
  ``in`` (``k`` settled alternating crossings give ``k`` events of alternating direction). With
  ``once_per_direction=True`` a track counts at most once per line per direction (one ``"in"`` and
  one ``"out"``), so the same ``k`` crossings give ``min(k, 2)`` events; later crossings still move
  the settled side, they just do not count.
* A track confirmed only after it crossed (a fast object: the tracker confirms a track at its second
  matched detection, which a slow detector may see beyond the line) would settle the far side first
  and count nothing. When the tracker reports where the track started (``data[ORIGIN_KEY]``: the box
  of its first, unconfirmed detection), that box's anchor settles the first side as soon as the track
  is first seen, before its current observation is taken: the origin was seen and then confirmed by
  a second match, so it needs no run of ``min_frames``. A crossing still needs ``min_frames``
  observations on the new side and a path through the segment.
* Observations on the line (side ``0``) break a run of observations without settling anything.
  Frames in which the track is missing (not detected, or lost and found again by the tracker) neither
  break nor extend a run: a track that reappears on the other side still counts.
* The crossing point is where the anchor's path (from its last observation on the settled side to its
  first on the new side) meets the line; it counts only if that point projects onto the segment A–B
  (extended by ``segment_margin`` pixels at each end). Passing the line's extension settles the new
  side without counting.
* Rows with ``tracker_id`` ``-1`` (not confirmed by the tracker) are ignored.
* A track's class is the class it was seen with most often (ties: the most recent of the tied
  classes), from ``data["class_name"]``; for sub-class labels (``CLASS:LABEL``) the most recent
  decided label (:func:`vote_class`). The ``classes`` filter applies to that class when an event
  would be emitted, so a track flickering between classes keeps its crossing state.
* State of a track not seen for ``max_track_age_frames`` frames is dropped, so memory is bounded by
  the tracks seen in that window however long the stream runs (a fixed-size record per track and
  line, whatever the number of crossings).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import supervision as sv

from vtrack.errors import ConfigError
from vtrack.geometry import Anchor, Line, anchor_points
from vtrack.trackers.base import ORIGIN_KEY
from vtrack.types import CrossingEvent, Direction

logger = logging.getLogger(__name__)

DEFAULT_MIN_FRAMES = 2
"""Consecutive observations on the new side before a crossing counts."""
DEFAULT_MAX_TRACK_AGE_FRAMES = 300
"""Frames a track may go unseen before its counting state is dropped (10 s at 30 fps).

Keep it longer than the tracker's lost-track buffer: a track found again after expiry starts afresh, so
a crossing made while it was unseen is missed (and with ``once_per_direction`` it could count a second
time in a direction it already counted).
"""
DEFAULT_SEGMENT_MARGIN = 5.0
"""Pixels the segment A–B is extended at each end for the crossing-point test."""
UNKNOWN_CLASS = "object"
"""Class name when detections carry neither ``data["class_name"]`` nor ``class_id``."""
_UNTRACKED = -1
_ON_LINE_PX = 0.5  # as Line.side: points within half a pixel are on the line


@dataclass(slots=True)
class _LineState:
    """Crossing state of one track against one line."""

    settled: int = 0  # settled side: +1 / -1, 0 while none yet
    candidate: int = 0  # side of the current run of observations, 0 when none
    run: int = 0  # length of that run
    last_settled_point: tuple[float, float] | None = None  # last anchor seen on the settled side
    crossing_point: tuple[float, float] | None = None  # where the path met the line for this run
    counted_in: bool = False  # only consulted with once_per_direction
    counted_out: bool = False


@dataclass(slots=True)
class _TrackState:
    """Everything kept about one track."""

    last_seen: int
    lines: list[_LineState]
    class_tally: dict[str, int] = field(default_factory=dict)
    class_last_seen: dict[str, int] = field(default_factory=dict)

    def observe_class(self, name: str, frame_index: int) -> None:
        self.class_tally[name] = self.class_tally.get(name, 0) + 1
        self.class_last_seen[name] = frame_index

    @property
    def class_name(self) -> str:
        """The track's class: see :func:`vote_class`."""
        return vote_class(self.class_tally, self.class_last_seen)


SUBLABEL_SEP = ":"
"""Sub-class labels are ``CLASS:LABEL`` (``vtrack.subclasses``)."""
UNDECIDED_SUFFIX = ":unknown"


def vote_class(tally: dict[str, int], last_seen: dict[str, int]) -> str:
    """A track's class from the classes its rows had.

    Detector classes flicker frame to frame (a van seen as car, then truck): the most frequent class
    wins, ties to the one seen most recently. Sub-class labels (``person:cyclist``) are different: each
    row carries the sub-class stage's *current* decision for the whole track (a vote over several
    crops), so the most recent decided label wins and ``CLASS:unknown`` only when no label was decided
    (a track labelled ``unknown`` for its first frames and ``cyclist`` after counts as a cyclist, even
    if its crossing comes before the cyclist frames outnumber the unknown ones).

    Args:
        tally: rows seen per class name (non-empty).
        last_seen: frame index of the last row per class name.
    """
    subs = [c for c in tally if SUBLABEL_SEP in c]
    if subs:
        decided = [c for c in subs if not c.endswith(UNDECIDED_SUFFIX)] or subs
        return max(decided, key=lambda c: (last_seen[c], tally[c]))
    return max(tally, key=lambda c: (tally[c], last_seen[c]))


class LineCounter:
    """Counts crossings of directed lines by tracked objects; implements ``Counter``.

    Args:
        lines: the counting lines; names must be unique.
        classes: count only tracks of these class names; ``None`` counts every class.
        anchor: the point of each box tested against the lines.
        min_frames: consecutive observations on a side before it is settled (``>= 1``).
        max_track_age_frames: drop a track's state once it has not been seen for this many frames
            (``>= 1``), counted in ``frame_index`` units (source frames, so the same span of video
            whatever the stride). Keep it above the tracker's lost-track buffer.
        segment_margin: pixels the segment is extended at each end for the crossing-point test.
        once_per_direction: count at most one ``"in"`` and one ``"out"`` per track and line; by
            default every settled crossing counts.

    Raises:
        ConfigError: for duplicate line names or a non-positive ``min_frames``/``max_track_age_frames``.
    """

    def __init__(
        self,
        lines: list[Line],
        *,
        classes: set[str] | None = None,
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        min_frames: int = DEFAULT_MIN_FRAMES,
        max_track_age_frames: int = DEFAULT_MAX_TRACK_AGE_FRAMES,
        segment_margin: float = DEFAULT_SEGMENT_MARGIN,
        once_per_direction: bool = False,
    ) -> None:
        names = [ln.name for ln in lines]
        if len(set(names)) != len(names):
            raise ConfigError(f"line names must be unique, got {names}")
        if min_frames < 1:
            raise ConfigError(f"min_frames must be >= 1, got {min_frames}")
        if max_track_age_frames < 1:
            raise ConfigError(f"max_track_age_frames must be >= 1, got {max_track_age_frames}")
        if segment_margin < 0:
            raise ConfigError(f"segment_margin must be >= 0 pixels, got {segment_margin}")
        self.lines = list(lines)
        self.classes = None if classes is None else set(classes)
        self.anchor = Anchor(anchor)
        self.min_frames = int(min_frames)
        self.max_track_age_frames = int(max_track_age_frames)
        self.segment_margin = float(segment_margin)
        self.once_per_direction = bool(once_per_direction)
        # Ordered by last observation (oldest first): expiry pops from the front.
        self._tracks: OrderedDict[int, _TrackState] = OrderedDict()
        self._counts: dict[str, dict[str, dict[str, int]]] = {ln.name: {} for ln in self.lines}
        # Line.side for all lines at once: (L,) arrays of A, B-A and length.
        self._a = np.array([[ln.ax, ln.ay] for ln in self.lines], dtype=np.float64).reshape(-1, 2)
        self._d = np.array([[ln.bx - ln.ax, ln.by - ln.ay] for ln in self.lines], dtype=np.float64)
        self._d = self._d.reshape(-1, 2)
        self._len = np.maximum(np.hypot(self._d[:, 0], self._d[:, 1]), 1e-9)

    # ------------------------------------------------------------------ Counter protocol
    def update(self, detections: sv.Detections, frame_index: int, time: datetime) -> list[CrossingEvent]:
        """Feed one frame of tracked detections.

        Args:
            detections: ``N`` rows; ``xyxy`` ``(N, 4)`` float pixels, ``tracker_id`` ``(N,)`` int
                (``-1`` = unconfirmed, ignored; ``None`` = nothing is tracked, nothing counts),
                ``data["class_name"]`` ``(N,)`` str (else ``class_id`` is used as the name),
                optionally ``data[ORIGIN_KEY]`` ``(N, 4)`` float xyxy where each row's track started.
            frame_index: index of this frame; must not decrease between calls.
            time: wall-clock time of the frame, copied into the events.

        Returns:
            Crossings confirmed at this frame, in row order then line order.
        """
        events: list[CrossingEvent] = []
        if len(detections) and detections.tracker_id is not None and self.lines:
            tids = np.asarray(detections.tracker_id, dtype=np.int64)
            keep = np.flatnonzero(tids != _UNTRACKED)
            if len(keep):
                points = anchor_points(np.asarray(detections.xyxy)[keep], self.anchor)
                sides = self._sides(points)
                names = _class_names(detections, keep)
                finite = np.isfinite(points).all(axis=1)
                self._settle_origins(detections, keep, tids, finite, frame_index)
                for k, row_tid in enumerate(tids[keep].tolist()):
                    if not finite[k]:
                        continue
                    events.extend(
                        self._observe(
                            row_tid,
                            names[k],
                            (float(points[k, 0]), float(points[k, 1])),
                            sides[k],
                            frame_index,
                            time,
                        )
                    )
        self._expire(frame_index)
        return events

    # ------------------------------------------------------------------ read-out
    @property
    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Totals so far as ``{line: {class: {"in": n, "out": n}}}`` (a copy; every line present)."""
        return {line: {c: dict(d) for c, d in per.items()} for line, per in self._counts.items()}

    @property
    def active_tracks(self) -> int:
        """Number of tracks whose state is kept (bounded by ``max_track_age_frames``)."""
        return len(self._tracks)

    def reset(self) -> None:
        """Drop all per-track state and zero the counts (e.g. on a new video)."""
        self._tracks.clear()
        self._counts = {ln.name: {} for ln in self.lines}

    # ------------------------------------------------------------------ internals
    def _observe(
        self,
        track_id: int,
        class_name: str,
        point: tuple[float, float],
        sides: np.ndarray,
        frame_index: int,
        time: datetime,
    ) -> Iterable[CrossingEvent]:
        state = self._tracks.get(track_id)
        if state is None:
            state = _TrackState(last_seen=frame_index, lines=[_LineState() for _ in self.lines])
            self._tracks[track_id] = state
        else:
            state.last_seen = frame_index
            self._tracks.move_to_end(track_id)
        state.observe_class(class_name, frame_index)

        events: list[CrossingEvent] = []
        for line, ls, side in zip(self.lines, state.lines, sides.tolist(), strict=True):
            direction = self._step(line, ls, int(side), point)
            if direction is None:
                continue
            cls = state.class_name
            if self.classes is not None and cls not in self.classes:
                continue
            if self.once_per_direction:
                if direction == "in":
                    if ls.counted_in:
                        continue
                    ls.counted_in = True
                else:
                    if ls.counted_out:
                        continue
                    ls.counted_out = True
            per = self._counts[line.name].setdefault(cls, {"in": 0, "out": 0})
            per[direction] += 1
            events.append(
                CrossingEvent(
                    time=time,
                    frame=frame_index,
                    track_id=track_id,
                    class_name=cls,
                    line=line.name,
                    direction=direction,
                )
            )
            logger.debug("track %d crossed %r %s at frame %d", track_id, line.name, direction, frame_index)
        return events

    def _settle_origins(
        self,
        detections: sv.Detections,
        keep: np.ndarray,
        tids: np.ndarray,
        finite: np.ndarray,
        frame_index: int,
    ) -> None:
        """Start the state of tracks seen for the first time with the first side settled where their
        origin box (``data[ORIGIN_KEY]``) was, for the rows that have one.

        Args:
            detections: this frame's rows.
            keep: ``(K,)`` indices of the tracked rows; ``finite`` ``(K,)`` bool: their anchors are finite.
            tids: ``(N,)`` tracker IDs of every row.
            frame_index: this frame's index.
        """
        origin = detections.data.get(ORIGIN_KEY) if detections.data else None
        if origin is None:
            return
        new = [r for k, r in enumerate(keep.tolist()) if finite[k] and int(tids[r]) not in self._tracks]
        if not new:
            return
        points = anchor_points(np.asarray(origin, dtype=np.float64).reshape(-1, 4)[new], self.anchor)
        known = np.isfinite(points).all(axis=1)
        sides = self._sides(np.nan_to_num(points))
        for j, row in enumerate(new):
            if not known[j]:
                continue
            state = _TrackState(last_seen=frame_index, lines=[_LineState() for _ in self.lines])
            for ls, side in zip(state.lines, sides[j].tolist(), strict=True):
                if side != 0:
                    ls.settled = int(side)
                    ls.last_settled_point = (float(points[j, 0]), float(points[j, 1]))
            self._tracks[int(tids[row])] = state

    def _step(self, line: Line, ls: _LineState, side: int, point: tuple[float, float]) -> Direction | None:
        """Advance one line's state by one observation; return the direction of a confirmed crossing."""
        if side == 0:
            ls.candidate, ls.run, ls.crossing_point = 0, 0, None
            return None
        if side == ls.settled:
            ls.candidate, ls.run, ls.crossing_point = 0, 0, None
            ls.last_settled_point = point
            return None
        if side != ls.candidate:
            ls.candidate, ls.run = side, 0
            ls.crossing_point = (
                None if ls.last_settled_point is None else _intersection(line, ls.last_settled_point, point)
            )
        ls.run += 1
        if ls.run < self.min_frames:
            return None
        previous, ls.settled = ls.settled, side
        crossing_point = ls.crossing_point
        ls.candidate, ls.run, ls.crossing_point = 0, 0, None
        ls.last_settled_point = point
        if previous == 0 or crossing_point is None:
            return None  # first settled side: where the track came from, not a crossing
        if not bool(line.within_segment(np.asarray([crossing_point]), self.segment_margin)[0]):
            return None  # passed the line's extension, beyond the segment
        return "in" if side > 0 else "out"

    def _sides(self, points: np.ndarray) -> np.ndarray:
        """:meth:`Line.side` of ``(K, 2)`` points against every line at once, shape ``(K, L)`` ``int8``."""
        rel = points[:, None, :] - self._a[None, :, :]  # (K, L, 2)
        cross = self._d[None, :, 0] * rel[..., 1] - self._d[None, :, 1] * rel[..., 0]
        dist = cross / self._len[None, :]
        out = np.zeros(dist.shape, dtype=np.int8)
        out[dist < -_ON_LINE_PX] = 1
        out[dist > _ON_LINE_PX] = -1
        return out

    def _expire(self, frame_index: int) -> None:
        horizon = frame_index - self.max_track_age_frames
        while self._tracks:
            track_id, state = next(iter(self._tracks.items()))
            if state.last_seen >= horizon:
                break
            del self._tracks[track_id]


def _intersection(line: Line, p: tuple[float, float], q: tuple[float, float]) -> tuple[float, float]:
    """Where the segment ``p``→``q`` meets the infinite line A–B (``p``, ``q`` on opposite sides)."""
    dx, dy = line.bx - line.ax, line.by - line.ay
    dp = dx * (p[1] - line.ay) - dy * (p[0] - line.ax)
    dq = dx * (q[1] - line.ay) - dy * (q[0] - line.ax)
    denom = dp - dq
    t = 0.5 if denom == 0 else dp / denom
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def _class_names(detections: sv.Detections, rows: np.ndarray) -> list[str]:
    names = detections.data.get("class_name") if detections.data else None
    if names is not None:
        return [str(x) for x in np.asarray(names)[rows].tolist()]
    if detections.class_id is not None:
        return [str(x) for x in np.asarray(detections.class_id)[rows].tolist()]
    return [UNKNOWN_CLASS] * len(rows)
