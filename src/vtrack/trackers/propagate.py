"""Carry boxes over the frames the detector skips: sparse optical flow on a small grey image.

The detector runs on every ``stride``-th frame; the frames between are decoded anyway. On those,
:class:`FlowPropagator` moves the boxes of the previous frame to the current one by the median
Lucas-Kanade flow (``cv2.calcOpticalFlowPyrLK``, forward-backward checked) of a small grid of points
inside each box, measured on a grey copy of the frame downscaled to about ``width`` pixels wide. The
moved boxes go to the tracker as that frame's detections, so the tracker (and the line counter after
it) sees every frame and objects move a few pixels between its frames instead of a box length
(NVIDIA DeepStream's design: ``nvinfer interval=N`` with a tracker on every frame).

API (one instance per stream, called on every decoded frame, in order, from one thread)::

    propagator = FlowPropagator()
    for frame in frames:                                    # every decoded frame
        if frame.index % stride == 0:
            detections = detector(frame.image)
        else:
            detections = propagator.propagate(frame.image)  # previous frame's boxes, moved here
        tracked = tracker.update(detections, frame.image, timestamp=frame.pts)
        propagator.observe(frame.image, tracked)            # remember this frame and its boxes
        events = counter.update(tracked, frame.index, time)

* :meth:`FlowPropagator.propagate` returns ``sv.Detections`` with the rows remembered by the last
  :meth:`~FlowPropagator.observe` (``xyxy`` moved; ``confidence``, ``class_id``, ``tracker_id``
  and every ``data`` column kept) plus ``data["propagated"]`` ``True``; rows whose flow failed (too
  few points tracked) stay where they were; rows whose centre moved out of the frame are left out
  (a box that left the picture would otherwise wait at the edge and take the next object's
  detection). Without a previous frame (or after a size change) it returns zero rows, still with
  the ``data["propagated"]`` column (a frame without detection, whatever its rows).
* :meth:`FlowPropagator.observe` keeps a grey copy of the frame and the rows to carry: by default the
  rows of confirmed tracks (``tracker_id > 0``) and unconfirmed rows at or above ``min_confidence``
  (so a new track can be confirmed on the next frame instead of ``stride`` frames later).
* The tracker is built for the full frame rate (it sees every frame); ``timestamp`` lets
  time-aware trackers use the real gaps.

Memory is one small grey image and the boxes of one frame. Cost: see docs/tracking.md ("Carrying
boxes between detections").
"""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import supervision as sv

logger = logging.getLogger(__name__)

DEFAULT_WIDTH = 320
"""Width (px) of the grey image the flow is measured on (frames narrower than this are not scaled)."""
DEFAULT_GRID = 4
"""Points per box side: ``grid × grid`` points, on the inner part of the box."""
DEFAULT_MAX_VELOCITY_DEVIATION: float | None = None
"""See :class:`FlowPropagator` (``max_velocity_deviation``)."""
DEFAULT_MIN_CONFIDENCE = 0.5
"""Unconfirmed rows carried only at or above this confidence (ByteTrack starts tracks at 0.5)."""
_INNER = 0.6
"""Fraction of the box (per side, centred) the grid spans: the edges hold background."""
_MIN_POINTS = 3
"""A box moves only when at least this many of its points were tracked both ways."""
_FB_MAX_PX = 1.0
"""Largest forward-backward error (small-image px) of a point that counts."""
_VELOCITY_ALPHA = 0.5
"""Weight of the newest displacement in a track's velocity (exponential average per frame)."""
_MIN_DISAGREE_PX = 2.0
"""Flow and velocity disagree when they differ by more than this (full-size px per frame) and by more
than ``max_velocity_deviation`` times the speed."""
_LK_WIN = (15, 15)
_LK_LEVELS = 3
PROPAGATED_KEY = "propagated"
"""``data`` column: ``True`` on rows moved by :meth:`FlowPropagator.propagate`."""


class FlowPropagator:
    """Moves the previous frame's boxes to the current frame by sparse optical flow.

    Args:
        width: the flow is measured on a grey image scaled to about this width (px).
        grid: ``grid × grid`` points per box.
        min_confidence: unconfirmed rows (``tracker_id`` ``-1``) are carried only at or above this
            confidence; ``None`` carries confirmed rows only.
        max_velocity_deviation: a confirmed track's box follows its own recent velocity (exponential
            average of its displacement per frame) instead of the flow when the flow fails or differs
            from that velocity by more than this fraction of the speed (and more than 2 px): an
            occluder passing in front, or texture too poor or motion too fast for the flow. ``None``
            always follows the flow.
        mode: ``"flow"`` (default) or ``"velocity"`` (confirmed tracks move by their velocity only, no
            image is read: a baseline that measures what the flow adds).
        occlusion: leave out of a box's flow the points that lie inside another carried box in front
            of it (whose bottom edge is lower in the image: nearer the camera on a ground plane), which
            move with the occluder; a box left with too few points follows its own velocity when
            known, else stays (default on: TUD-Campus `in` 4 at strides 4-5 instead of 5-6).

    Raises:
        ValueError: a width below 16 px or a grid below 1.
    """

    def __init__(
        self,
        *,
        width: int = DEFAULT_WIDTH,
        grid: int = DEFAULT_GRID,
        min_confidence: float | None = DEFAULT_MIN_CONFIDENCE,
        max_velocity_deviation: float | None = DEFAULT_MAX_VELOCITY_DEVIATION,
        mode: str = "flow",
        occlusion: bool = True,
    ) -> None:
        if width < 16 or grid < 1:
            raise ValueError(f"width must be >= 16 and grid >= 1, got {width}, {grid}")
        if mode not in ("flow", "velocity"):
            raise ValueError(f"mode must be 'flow' or 'velocity', got {mode!r}")
        self.max_velocity_deviation = max_velocity_deviation
        self.mode = mode
        self.occlusion = bool(occlusion)
        # tracker ID -> (centre (2,), velocity (2,) px per frame or None before a second frame), for the
        # tracks of the last frame only
        self._motion: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self.width = int(width)
        self.grid = int(grid)
        self.min_confidence = min_confidence
        self._grey: np.ndarray | None = None
        self._scale = 1.0
        self._boxes: sv.Detections = sv.Detections.empty()
        self._pending: tuple[int, np.ndarray] | None = None  # (id of the frame, its grey) from propagate
        u = (np.arange(self.grid) + 0.5) / self.grid
        u = 0.5 + _INNER * (u - 0.5)
        gx, gy = np.meshgrid(u, u)
        self._unit = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (g*g, 2) in box-relative units

    # ------------------------------------------------------------------ API
    def observe(self, frame: np.ndarray, tracked: sv.Detections) -> None:
        """Remember ``frame`` and the rows to carry to the next frame.

        Args:
            frame: BGR ``(H, W, 3)`` or grey ``(H, W)`` ``uint8`` image of this frame.
            tracked: the tracker's output for this frame: ``xyxy`` ``(N, 4)`` float, ``tracker_id``
                ``(N,)`` int (``-1`` unconfirmed), ``confidence`` ``(N,)`` float or ``None``.
        """
        pending, self._pending = self._pending, None
        if self.mode == "flow":
            grey = pending[1] if pending is not None and pending[0] == id(frame) else self._small_grey(frame)
            self._grey = grey
        keep = self._carried(tracked)
        kept = tracked[keep] if len(tracked) else sv.Detections.empty()
        self._boxes = kept if isinstance(kept, sv.Detections) else sv.Detections.empty()
        self._update_motion(self._boxes)

    def propagate(self, frame: np.ndarray, timestamp: float | None = None) -> sv.Detections:
        """The remembered boxes moved from the observed frame to ``frame``.

        Args:
            frame: BGR ``(H, W, 3)`` or grey ``(H, W)`` ``uint8`` image of the next decoded frame.
            timestamp: the frame's time in seconds (unused; for symmetry with ``Tracker.update``).

        Returns:
            ``M`` rows (the carried ones) with ``xyxy`` ``(M, 4)`` ``float32`` moved and
            ``data["propagated"]`` ``(M,)`` ``True``; zero rows without a previous frame.
        """
        del timestamp
        boxes = self._boxes
        xyxy = np.asarray(boxes.xyxy, dtype=np.float32).reshape(-1, 4)
        if self.mode == "velocity":
            if len(boxes) == 0:
                return _with_flag(sv.Detections.empty(), 0)
            shifts = np.zeros((len(xyxy), 2), dtype=np.float32)
            ok = np.zeros(len(xyxy), dtype=bool)
        else:
            grey = self._small_grey(frame)
            self._pending = (id(frame), grey)
            prev = self._grey
            if prev is None or prev.shape != grey.shape or len(boxes) == 0:
                return _with_flag(sv.Detections.empty(), 0)
            shifts, ok = self._shifts(prev, grey, xyxy)
        shifts = self._check_velocity(boxes, shifts, ok)
        moved = xyxy + np.tile(shifts, 2)
        out = dataclasses.replace(boxes, xyxy=moved.astype(np.float32), data=dict(boxes.data))
        h, w = frame.shape[:2]
        centre = (moved[:, :2] + moved[:, 2:]) / 2
        inside = (centre[:, 0] >= 0) & (centre[:, 0] < w) & (centre[:, 1] >= 0) & (centre[:, 1] < h)
        if not inside.all():  # gone out of the picture: nothing to carry (nor to steal a newcomer)
            out = out[np.flatnonzero(inside)]  # type: ignore[assignment]
        return _with_flag(out, len(out))

    def reset(self) -> None:
        """Forget the previous frame and boxes (e.g. after a gap in the frames)."""
        self._grey, self._pending = None, None
        self._boxes = sv.Detections.empty()
        self._motion.clear()

    # ------------------------------------------------------------------ internals
    def _carried(self, tracked: sv.Detections) -> np.ndarray:
        n = len(tracked)
        if n == 0:
            return np.zeros(0, dtype=bool)
        tid = (np.full(n, -1, dtype=np.int64) if tracked.tracker_id is None
               else np.asarray(tracked.tracker_id, dtype=np.int64))  # fmt: skip
        keep = tid > 0
        if self.min_confidence is not None:
            conf = (np.ones(n) if tracked.confidence is None
                    else np.asarray(tracked.confidence, dtype=np.float64))  # fmt: skip
            keep |= conf >= self.min_confidence
        return keep

    def _small_grey(self, frame: np.ndarray) -> np.ndarray:
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape[:2]
        scale = min(1.0, self.width / max(w, 1))
        self._scale = scale
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)  # fmt: skip
        return grey

    def _update_motion(self, boxes: sv.Detections) -> None:
        """Velocity per confirmed track from its centre's displacement since the previous frame."""
        motion: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        if len(boxes) and boxes.tracker_id is not None:
            xyxy = np.asarray(boxes.xyxy, dtype=np.float64).reshape(-1, 4)
            centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
            for tid, c in zip(np.asarray(boxes.tracker_id).tolist(), centres, strict=True):
                if tid <= 0:
                    continue
                old = self._motion.get(int(tid))
                v: np.ndarray | None = None
                if old is not None:
                    step = c - old[0]
                    v = step if old[1] is None else _VELOCITY_ALPHA * step + (1 - _VELOCITY_ALPHA) * old[1]
                motion[int(tid)] = (c, v)
        self._motion = motion  # only the tracks of this frame: bounded by the boxes carried

    def _check_velocity(self, boxes: sv.Detections, shifts: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Shifts of confirmed tracks replaced by their velocity where the flow failed or disagrees."""
        if self.max_velocity_deviation is None and self.mode == "flow":
            return shifts
        if boxes.tracker_id is None:
            return shifts
        dev = np.inf if self.max_velocity_deviation is None else self.max_velocity_deviation
        out = shifts.copy()
        for i, tid in enumerate(np.asarray(boxes.tracker_id).tolist()):
            v = self._velocity(int(tid))
            if v is None:
                continue
            diff = float(np.hypot(*(shifts[i] - v)))
            if not ok[i] or (diff > _MIN_DISAGREE_PX and diff > dev * float(np.hypot(*v))):
                out[i] = v
        return out

    def _shifts(self, prev: np.ndarray, grey: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median flow per box, full-size pixels, ``(M, 2)`` float32 (0 where it failed), and where it
        worked ``(M,)`` bool."""
        s = self._scale
        small = xyxy * s
        wh = small[:, 2:] - small[:, :2]
        pts = (small[:, None, :2] + self._unit[None, :, :] * wh[:, None, :]).reshape(-1, 1, 2)
        pts = pts.astype(np.float32)
        params = {"winSize": _LK_WIN, "maxLevel": _LK_LEVELS}
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, grey, pts, None, **params)  # type: ignore[call-overload]
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, prev, nxt, None, **params)  # type: ignore[call-overload]
        fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        ok = (st.reshape(-1) == 1) & (st2.reshape(-1) == 1) & (fb < _FB_MAX_PX)
        flow = (nxt - pts).reshape(len(xyxy), -1, 2)
        ok = ok.reshape(len(xyxy), -1)
        occluded = np.zeros(len(xyxy), dtype=bool)
        if self.occlusion and len(xyxy) > 1:
            ok, occluded = _drop_occluded(pts.reshape(len(xyxy), -1, 2) / s, xyxy, ok)
        shifts = np.zeros((len(xyxy), 2), dtype=np.float32)
        good = ok.sum(axis=1) >= _MIN_POINTS
        for i in np.flatnonzero(good).tolist():
            shifts[i] = np.median(flow[i][ok[i]], axis=0) / s
        if occluded.any():
            shifts, good = self._velocity_where(occluded & ~good, shifts, good)
        return shifts, good

    def _velocity_where(
        self, rows: np.ndarray, shifts: np.ndarray, good: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` of the carried boxes follow their track's velocity where it is known."""
        tids = self._boxes.tracker_id
        if tids is None:
            return shifts, good
        for i in np.flatnonzero(rows).tolist():
            v = self._velocity(int(tids[i]))
            if v is not None:
                shifts[i], good[i] = v, True
        return shifts, good

    def _velocity(self, track_id: int) -> np.ndarray | None:
        """A confirmed track's recent velocity ``(2,)`` px per frame; ``None`` before its second frame."""
        m = self._motion.get(track_id) if track_id > 0 else None
        return None if m is None else m[1]


def _drop_occluded(
    pts: np.ndarray, xyxy: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points of each box inside another box in front of it marked not ok.

    Args:
        pts: ``(M, P, 2)`` float, each box's grid points in full-size pixels.
        xyxy: ``(M, 4)`` float boxes.
        ok: ``(M, P)`` bool, points tracked both ways.

    Returns:
        The new ``ok`` ``(M, P)`` and ``(M,)`` bool: boxes that lost points to an occluder.
    """
    ok = ok.copy()
    occluded = np.zeros(len(xyxy), dtype=bool)
    for i in range(len(xyxy)):
        front = np.flatnonzero(xyxy[:, 3] > xyxy[i, 3])
        if len(front) == 0:
            continue
        f = xyxy[front]  # (F, 4)
        p = pts[i]  # (P, 2)
        in_x = (p[:, None, 0] >= f[None, :, 0]) & (p[:, None, 0] <= f[None, :, 2])
        in_y = (p[:, None, 1] >= f[None, :, 1]) & (p[:, None, 1] <= f[None, :, 3])
        inside = (in_x & in_y).any(axis=1)
        if inside.any():
            ok[i] &= ~inside
            occluded[i] = True
    return ok, occluded


def _with_flag(d: sv.Detections, n: int) -> sv.Detections:
    d.data[PROPAGATED_KEY] = np.ones(n, dtype=bool)
    return d
