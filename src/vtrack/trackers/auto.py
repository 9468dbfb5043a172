"""``tracker: auto``: BoT-SORT with camera-motion compensation on moving cameras, ByteTrack otherwise.

The choice is made from the global motion of the first frames of the stream:

* **Estimate.** Each frame is turned grey and downscaled to at most :data:`ANALYSIS_WIDTH` pixels
  wide; corners (``cv2.goodFeaturesToTrack``) of the previous frame are followed into the current one
  with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``), and a similarity transform is fitted
  with RANSAC (``cv2.estimateAffinePartial2D``) so that moving objects do not count. The frame's
  motion is how far that transform moves the frame's four corners and its centre (mean, in pixels of
  the *full-size* frame): translation (panning), zoom (driving forward) and roll all show up in it,
  while a fixed camera stays at compression noise (well below 0.5 px). Cost: about 1-2 ms per frame
  at 320 px wide, paid only during the decision window.
* **Decide.** After :data:`DEFAULT_DECISION_FRAMES` frame pairs the median motion, divided by the
  frame width, is compared with :data:`DEFAULT_MOTION_THRESHOLD` per frame (per frame *reaching the
  tracker*, i.e. after ``--stride``): above it BoT-SORT with CMC is used, else ByteTrack. The
  choice and the reason are logged and kept in :attr:`AutoTracker.decision`.
* **Short clips.** When the first :data:`DEFAULT_EARLY_DECISION_FRAMES` estimates all lie clearly on
  one side of the threshold (by :data:`EARLY_MARGIN`), the decision is taken then (frame 4), so a clip
  shorter than the full window still gets IDs (the 8-frame street clip of ../shared/media did not get
  any before). A clip that ends before any decision (under 4 frames, or ambiguous motion) gets no
  IDs: use an explicit ``tracker`` for such inputs.
* **Rows and IDs.** Until the decision both candidates are fed every frame (in shadow) and
  :meth:`AutoTracker.update` returns the rows in input order with ``tracker_id = -1`` (as for any
  track not confirmed yet). At the decision the loser is dropped and the winner, which has seen
  every frame from the first, takes over: its tracks that are already confirmed get their IDs on that
  frame. No ID was emitted before, so none is ever re-numbered or reused; IDs come from the winner's
  own counter (positive, never reused, also after ``reset()``). The cost is that tracks get their
  first ID at most ``decision_frames`` frames late (0.3 s at 30 fps with the defaults).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import supervision as sv

from vtrack.trackers.adapter import UNTRACKED
from vtrack.trackers.base import Tracker
from vtrack.trackers.bytetrack import DEFAULT_LOST_TRACK_SECONDS, ByteTrack
from vtrack.trackers.sort_family import BoTSORT

logger = logging.getLogger(__name__)

ANALYSIS_WIDTH = 320
"""Frames are downscaled to at most this width (pixels) for the motion estimate."""
DEFAULT_DECISION_FRAMES = 8
"""Frame pairs (motion estimates) the decision is made from."""
DEFAULT_MOTION_THRESHOLD = 0.001
"""Median global motion, as a fraction of the frame width per tracker frame, above which the camera
counts as moving (1.0 px at 1000 px wide). Measured on ../shared/media/video (first 8 pairs, stride 1
and 2): fixed cameras 0.0003-0.0006, moving ones 0.0014 (dashcam, stride 1) and up."""
DEFAULT_EARLY_DECISION_FRAMES = 3
"""Motion estimates after which ``auto`` decides early when every one of them is clearly on the same
side of the threshold (see :data:`EARLY_MARGIN`), so short clips get IDs from their 4th frame."""
EARLY_MARGIN = 1.5
"""An early decision needs every estimate below ``threshold / EARLY_MARGIN`` (fixed) or above
``threshold * EARLY_MARGIN`` (moving). Measured on the first 3 pairs of ../shared/media/video: fixed
cameras 0.00-0.30 x 0.001 x width, the panning aerial clip 5-6; the dusk dashcam starts with two
still pairs (0.29, 0.16) and then a jump (145), and the day dashcam and the onboard clip start near
1.4, so these wait for the full window."""
_MAX_CORNERS = 300
_MIN_POINTS = 12

UsedTracker = Literal["bytetrack", "botsort"]


@dataclass(frozen=True)
class AutoDecision:
    """What :class:`AutoTracker` picked and why.

    Attributes:
        used: ``"botsort"`` (with camera-motion compensation) or ``"bytetrack"``.
        camera_motion_px_per_frame: median global motion over the decision window, in full-size
            pixels per tracker frame (``None`` when no frame could be analysed).
        frames: motion estimates the decision rests on.
        reason: one sentence for logs and summaries.
        estimate_ms_per_frame: mean cost of one motion estimate, in milliseconds.
    """

    used: UsedTracker
    camera_motion_px_per_frame: float | None
    frames: int
    reason: str
    estimate_ms_per_frame: float


class CameraMotionEstimator:
    """Global frame-to-frame motion from sparse optical flow on downscaled grey frames.

    Args:
        analysis_width: frames wider than this are downscaled to it (aspect kept).

    Only the previous grey frame ``(h, w)`` ``uint8`` is kept (bounded state).
    """

    def __init__(self, analysis_width: int = ANALYSIS_WIDTH) -> None:
        self.analysis_width = int(analysis_width)
        self._prev: np.ndarray | None = None
        self._scale = 1.0

    def reset(self) -> None:
        """Forget the previous frame."""
        self._prev = None

    def update(self, frame: np.ndarray) -> float | None:
        """Estimate the motion from the previous frame to ``frame``.

        Args:
            frame: BGR ``(H, W, 3)`` or grey ``(H, W)`` image, ``uint8``.

        Returns:
            Mean displacement, in full-size pixels, of the frame's four corners and centre under the
            fitted similarity transform; ``None`` for the first frame, a size change, or too few
            trackable points (a blank or featureless frame).
        """
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape[:2]
        scale = min(1.0, self.analysis_width / max(w, 1))
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)
        prev, self._prev = self._prev, grey
        if prev is None or prev.shape != grey.shape:
            self._scale = scale
            return None
        self._scale = scale
        pts = cv2.goodFeaturesToTrack(prev, maxCorners=_MAX_CORNERS, qualityLevel=0.01, minDistance=6,
                                      blockSize=3)
        if pts is None or len(pts) < _MIN_POINTS:
            return None
        nxt, status, _err = cv2.calcOpticalFlowPyrLK(
            prev, grey, pts, None, winSize=(21, 21), maxLevel=3
        )
        ok = status.reshape(-1) == 1
        if int(ok.sum()) < _MIN_POINTS:
            return None
        src = pts.reshape(-1, 2)[ok]
        dst = nxt.reshape(-1, 2)[ok]
        m, _inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if m is None:
            return None
        gh, gw = grey.shape[:2]
        probe = np.array([[0, 0], [gw, 0], [0, gh], [gw, gh], [gw / 2, gh / 2]], dtype=np.float64)
        moved = probe @ m[:, :2].T + m[:, 2]
        return float(np.linalg.norm(moved - probe, axis=1).mean() / scale)


class AutoTracker:
    """Picks BoT-SORT (with CMC) for a moving camera and ByteTrack for a fixed one.

    Satisfies :class:`~vtrack.trackers.base.Tracker` from the first frame: rows come back in input
    order; during the decision window every ``tracker_id`` is ``-1``.

    Args:
        fps: frames per second reaching the tracker (source fps / frame stride).
        lost_track_seconds: lost-track buffer of either tracker.
        per_class: track each ``class_id`` on its own.
        decision_frames: motion estimates (frame pairs) to decide from (``>= 1``).
        motion_threshold: median motion (fraction of the frame width per tracker frame) above which
            the camera counts as moving.
        early_decision_frames: decide after this many estimates when all are clearly on one side of
            the threshold (``0``: always wait for ``decision_frames``).
        **params: passed to both candidates (only parameters both accept).
    """

    def __init__(
        self,
        *,
        fps: float,
        lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
        per_class: bool = True,
        decision_frames: int = DEFAULT_DECISION_FRAMES,
        motion_threshold: float = DEFAULT_MOTION_THRESHOLD,
        early_decision_frames: int = DEFAULT_EARLY_DECISION_FRAMES,
        **params: Any,
    ) -> None:
        if decision_frames < 1:
            raise TypeError(f"decision_frames must be >= 1, got {decision_frames}")
        if early_decision_frames < 0:
            raise TypeError(f"early_decision_frames must be >= 0, got {early_decision_frames}")
        self.early_decision_frames = int(early_decision_frames)
        self.decision_frames = int(decision_frames)
        self.motion_threshold = float(motion_threshold)
        self._width = 0
        self._make: dict[UsedTracker, Any] = {
            "bytetrack": lambda: ByteTrack(fps=fps, lost_track_seconds=lost_track_seconds,
                                           per_class=per_class, **params),
            "botsort": lambda: BoTSORT(fps=fps, lost_track_seconds=lost_track_seconds,
                                       per_class=per_class, enable_cmc=True, **params),
        }
        self._candidates: dict[UsedTracker, Tracker] = {k: f() for k, f in self._make.items()}
        self._estimator: CameraMotionEstimator | None = CameraMotionEstimator()
        self._motions: list[float] = []
        self._frames_seen = 0
        self._estimate_s = 0.0
        self._estimates = 0
        self.decision: AutoDecision | None = None
        self._chosen: Tracker | None = None

    @property
    def active(self) -> Tracker | None:
        """The tracker in use once decided, else ``None``."""
        return self._chosen

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        """Track one frame.

        Args:
            detections: ``N`` detections (``xyxy`` ``(N, 4)`` float, ``confidence`` ``(N,)``,
                ``class_id`` ``(N,)`` int).
            frame: BGR image ``(H, W, 3)`` ``uint8``. Without frames the camera cannot be judged and
                ByteTrack is used.
            timestamp: the frame's time in seconds, handed to the candidates (and then the winner).

        Returns:
            The same ``N`` rows in the same order with ``tracker_id`` ``(N,)`` ``int64``.
        """
        if self._chosen is not None:
            return self._chosen.update(detections, frame, timestamp=timestamp)
        self._frames_seen += 1
        if frame is None:
            self._decide("bytetrack", None, "no frames given: camera motion unknown")
        else:
            assert self._estimator is not None
            t0 = time.perf_counter()
            motion = self._estimator.update(frame)
            self._width = int(frame.shape[1])
            self._estimate_s += time.perf_counter() - t0
            self._estimates += 1
            if motion is not None:
                self._motions.append(motion)
            if self._window_done():
                self._decide_from_motion()
        if self._chosen is not None:
            # Decided on this frame: the winner has seen every earlier frame; this one is its next.
            return self._chosen.update(detections, frame, timestamp=timestamp)
        for cand in self._candidates.values():
            cand.update(detections, frame, timestamp=timestamp)
        n = len(detections)
        return dataclasses.replace(detections, tracker_id=np.full(n, UNTRACKED, dtype=np.int64),
                                   data=dict(detections.data))

    def reset(self) -> None:
        """Forget every track; keeps the decision (same stream, same camera). IDs keep counting up."""
        if self._chosen is not None:
            self._chosen.reset()
        else:
            for cand in self._candidates.values():
                cand.reset()

    def _early_verdict(self) -> bool:
        """Whether the estimates so far are enough for an early decision (all clearly one side)."""
        n = len(self._motions)
        if self.early_decision_frames == 0 or n < self.early_decision_frames or n >= self.decision_frames:
            return False
        m = np.asarray(self._motions)
        limit = self.motion_threshold * self._width
        return bool((m < limit / EARLY_MARGIN).all() or (m > limit * EARLY_MARGIN).all())

    def _window_done(self) -> bool:
        return (
            len(self._motions) >= self.decision_frames
            or self._frames_seen > 3 * self.decision_frames
            or self._early_verdict()
        )

    def _decide_from_motion(self) -> None:
        if not self._motions:
            self._decide("bytetrack", None, f"no trackable texture in {self._frames_seen} frames")
            return
        motion = float(np.median(self._motions))
        early = len(self._motions) < self.decision_frames
        limit = self.motion_threshold * self._width
        moving = motion > limit
        verdict = "moving camera" if moving else "fixed camera"
        cmp = ">" if moving else "<="
        self._decide(
            "botsort" if moving else "bytetrack",
            motion,
            f"{verdict}: median global motion {motion:.2f} px/frame {cmp} {limit:.2f} "
            f"({self.motion_threshold:g} x width {self._width}) over {len(self._motions)} frame pairs"
            + (" (early: every pair clearly on one side)" if early else ""),
        )

    def _decide(self, used: UsedTracker, motion: float | None, reason: str) -> None:
        ms = 1000.0 * self._estimate_s / self._estimates if self._estimates else 0.0
        self.decision = AutoDecision(
            used=used,
            camera_motion_px_per_frame=None if motion is None else round(motion, 3),
            frames=len(self._motions),
            reason=reason,
            estimate_ms_per_frame=round(ms, 3),
        )
        self._chosen = self._candidates[used]
        self._candidates.clear()
        self._estimator = None
        self._motions = []
        logger.info("tracker auto: using %s (%s; estimate %.2f ms/frame)", used, reason, ms)
