"""ByteTrack (Zhang et al., ECCV 2022) behind vtrack's ``Tracker`` contract.

Two engines do the association, chosen with ``engine``:

* ``"paper"`` (default): :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`, the official
  code's steps (score-fused IoU in the first association, low-score boxes only for tracks tracked on
  the previous frame and only above IoU 0.5, a separate stage for unconfirmed tracks, the
  ``(x, y, a, h)`` Kalman filter with height-scaled noise, first-frame tracks confirmed at once),
  with three deviations for reduced frame rates (``--stride``): unconfirmed tracks match at fused IoU
  above 0.1 (paper 0.3), the filter's velocity noise is scaled by ``max(1, 30 / fps)``, and after
  each IoU association the tracks matched on the previous frame (and unconfirmed ones) get a second
  chance with buffered IoU, both boxes grown by twice the track's predicted position standard
  deviation (``gate_sigmas``), so the tolerance grows with the time gap and the velocity's
  uncertainty. ``update(..., timestamp=)`` predicts over the real time since the previous frame.
* ``"library"``: Roboflow ``trackers.ByteTrackTracker`` 2.6, which deviates from the paper in each of
  those steps; measured worse on TUD-Campus with both detection sources (docs/tracking.md).

:class:`~vtrack.trackers.adapter.LibraryTracker` around either provides what vtrack's contract adds:
input row order, never-reused per-instance IDs, per-class tracking, the buffer in seconds, and the
0.1 floor for low-score boxes.

Thresholds: the paper's structure (low floor 0.1, new tracks at high + 0.1, 1 s of lost buffer) with
the high-score split and the first-stage IoU tuned for yolov8n on people and bicycles: high 0.4 (paper
0.5), new tracks 0.5 (paper 0.6), fused IoU above 0.1 (paper 0.2); see docs/tracking.md, "Threshold
tuning", for the sweep behind them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Literal

from trackers import ByteTrackTracker
from trackers.utils.state_representations import (
    BaseStateEstimator,
    XCYCSRStateEstimator,
    XCYCWHStateEstimator,
    XYXYStateEstimator,
)

from vtrack.errors import ConfigError
from vtrack.trackers.adapter import Engine, LibraryTracker, lost_track_frames, set_lost_buffer
from vtrack.trackers.byte_engine import PaperByteTrackEngine

logger = logging.getLogger(__name__)

DEFAULT_LOST_TRACK_SECONDS = 1.0
"""Lost-track buffer: the paper keeps lost tracks 30 frames at 30 fps."""
HIGH_CONF_THRESHOLD = 0.4
"""Boxes above this score take part in the first association (paper: ``track_thresh`` 0.5; 0.4
measured better for yolov8n on TUD-Campus and on the bicycle clip)."""
LOW_CONF_THRESHOLD = 0.1
"""Boxes below this score are ignored entirely (paper: the low-score floor)."""
TRACK_ACTIVATION_THRESHOLD = 0.5
"""An unmatched high-score box starts a track only at or above this score (paper: ``det_thresh`` =
``track_thresh + 0.1``, kept as high + 0.1)."""
MIN_IOU = 0.1
"""Least (score-fused, with the paper engine) IoU of the first association (paper: 0.2, i.e.
``match_thresh`` 0.8 on the distance; 0.1 keeps fast bicycles, measured in docs/tracking.md)."""
MIN_CONSECUTIVE_FRAMES = 2
"""A new track gets an ID when matched on this many consecutive frames."""
SECOND_MIN_IOU = 0.5
"""Least IoU for a low-score box to continue a track (paper: 0.5; ``engine="paper"`` only)."""
UNCONFIRMED_MIN_IOU = 0.1
"""Least (score-fused) IoU for an unconfirmed track's second box (``engine="paper"`` only). The paper
uses 0.3 (0.7 on the distance); with it fast objects at reduced frame rates (bicycles near the camera
at ``--stride 3``) never get confirmed: 2 zone entries instead of 15 on the bicycle clip
(docs/tracking.md, "Frame stride")."""
PAPER_FPS = 30.0
"""Frame rate the paper's Kalman noise weights were tuned at; below it the velocity noise is scaled
by ``PAPER_FPS / fps`` (objects move further per frame)."""
GATE_SIGMAS = 2.0
"""Buffered-IoU pass after each IoU association: boxes grown by this many standard deviations of the
track's predicted position (``engine="paper"``; 0 = off)."""
INIT_VELOCITY = False
"""Start a track's velocity from its first two boxes (``engine="paper"``)."""
LEAD_ORIGINS = True
"""Move a track's reported origin back over the frames the detector skipped before its first box
(``engine="paper"``; measured in docs/tracking.md)."""
RECALL_ORIGINS = True
"""A track's origin may be a box no track took on the frame with detections before its first box
(a low-score detection where its first motion says it was; ``engine="paper"``)."""
DROP_EXITED = True
"""Remove a lost track whose predicted centre left the frame (``engine="paper"``)."""
CONFIRM_EXITS = True
"""Confirm a new track carried to where it leaves the frame (``engine="paper"``; measured in
docs/tracking.md)."""
EngineName = Literal["paper", "library"]
DEFAULT_ENGINE: EngineName = "paper"
"""Which implementation runs the association (see :class:`ByteTrack`)."""

StateEstimatorName = Literal["xyxy", "xcycsr", "xcycwh"]
_ESTIMATORS: dict[str, type[BaseStateEstimator]] = {
    "xyxy": XYXYStateEstimator,
    "xcycsr": XCYCSRStateEstimator,
    "xcycwh": XCYCWHStateEstimator,
}


class ByteTrack(LibraryTracker):
    """ByteTrack multi-object tracker honouring :class:`vtrack.trackers.base.Tracker`.

    Args:
        fps: frames per second reaching the tracker (source fps / frame stride).
        lost_track_seconds: how long an unmatched confirmed track is kept for re-identification.
        high_conf_threshold: score splitting the first (high) from the second (low) association.
        low_conf_threshold: scores below this are not tracked at all (their rows get ``-1``).
        track_activation_threshold: least score of an unmatched box to start a new track.
        min_iou: least IoU between predicted track box and detection for a match.
        min_consecutive_frames: consecutive matches before a track is confirmed and gets an ID.
        per_class: track each ``class_id`` on its own (a bicycle never takes a person's ID).
        state_estimator: Kalman state of the library: ``"xyxy"`` (library default: corners and their
            velocities), ``"xcycsr"`` (SORT: centre, area, aspect) or ``"xcycwh"`` (centre, w, h).
            ``engine="library"`` only (the paper engine uses the paper's ``(x, y, a, h)`` filter).
        engine: ``"paper"``: :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`, the official
            code's steps (score-fused IoU, a stricter low-score stage on tracked tracks only, a separate
            stage for unconfirmed tracks, the ``(x, y, a, h)`` Kalman filter); ``"library"``:
            ``trackers.ByteTrackTracker``. See docs/tracking.md for the measured difference.
        second_min_iou: least IoU of the low-score association (``engine="paper"``).
        unconfirmed_min_iou: least fused IoU for unconfirmed tracks (``engine="paper"``).
        fuse_score: multiply IoU by the detection score in the high-score and unconfirmed
            associations (``engine="paper"``; the paper's MOT17 setting).
        gate_sigmas: buffered-IoU pass for leftovers, boxes grown by this many predicted-position
            standard deviations (``engine="paper"``; see
            :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`).
        init_velocity: start a new track's velocity from its first two boxes (``engine="paper"``).
        gate_lost: also offer lost tracks to the buffered pass (``engine="paper"``).
        carried_confirms: boxes carried by a propagator (``data["propagated"]``) may confirm a new
            track (``engine="paper"``; default ``False``: only detections confirm).
        lead_origins: a track born after frames the detector skipped reports its origin moved back
            along its first motion by the skipped time (``engine="paper"``; see
            :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`).
        recall_origins: a new track's origin may be a box left over on the previous frame with
            detections where the track's first motion says it was (``engine="paper"``).
        drop_exited: remove a lost track as soon as its predicted centre is outside the frame
            (``engine="paper"``).
        confirm_exits: a new track carried by a propagator to where it leaves the picture is
            confirmed there, without the second detection it can no longer get (``engine="paper"``).

    ``update(..., timestamp=t)`` (seconds) makes the paper engine predict over the real gap since the
    previous frame (a gap of ``1 / fps`` is one step, as without timestamps); the library engine
    counts frames and ignores it.

    Raises:
        ConfigError: for a non-positive fps, a negative buffer, thresholds outside ``[0, 1]`` or in
            the wrong order, or an unknown state estimator.
    """

    def __init__(
        self,
        *,
        fps: float,
        lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
        high_conf_threshold: float = HIGH_CONF_THRESHOLD,
        low_conf_threshold: float = LOW_CONF_THRESHOLD,
        track_activation_threshold: float = TRACK_ACTIVATION_THRESHOLD,
        min_iou: float = MIN_IOU,
        min_consecutive_frames: int = MIN_CONSECUTIVE_FRAMES,
        per_class: bool = True,
        state_estimator: StateEstimatorName = "xyxy",
        engine: EngineName = DEFAULT_ENGINE,
        second_min_iou: float = SECOND_MIN_IOU,
        unconfirmed_min_iou: float = UNCONFIRMED_MIN_IOU,
        fuse_score: bool = True,
        gate_sigmas: float = GATE_SIGMAS,
        init_velocity: bool = INIT_VELOCITY,
        gate_lost: bool = False,
        carried_confirms: bool = False,
        lead_origins: bool = LEAD_ORIGINS,
        recall_origins: bool = RECALL_ORIGINS,
        drop_exited: bool = DROP_EXITED,
        confirm_exits: bool = CONFIRM_EXITS,
    ) -> None:
        frames = lost_track_frames(lost_track_seconds, fps)
        for name, value in (
            ("high_conf_threshold", high_conf_threshold),
            ("low_conf_threshold", low_conf_threshold),
            ("track_activation_threshold", track_activation_threshold),
            ("min_iou", min_iou),
            ("second_min_iou", second_min_iou),
            ("unconfirmed_min_iou", unconfirmed_min_iou),
        ):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"bytetrack {name} must be in [0, 1], got {value!r}")
        if low_conf_threshold > high_conf_threshold:
            raise ConfigError(
                f"bytetrack low_conf_threshold ({low_conf_threshold}) must not exceed "
                f"high_conf_threshold ({high_conf_threshold})"
            )
        if min_consecutive_frames < 1:
            raise ConfigError(f"bytetrack min_consecutive_frames must be >= 1, got {min_consecutive_frames}")
        if state_estimator not in _ESTIMATORS:
            raise ConfigError(
                f"bytetrack state_estimator must be one of {sorted(_ESTIMATORS)}, got {state_estimator!r}"
            )
        if not (math.isfinite(gate_sigmas) and gate_sigmas >= 0):
            raise ConfigError(f"bytetrack gate_sigmas must be a finite number >= 0, got {gate_sigmas!r}")
        if engine not in ("paper", "library"):
            raise ConfigError(f"bytetrack engine must be 'paper' or 'library', got {engine!r}")
        estimator = _ESTIMATORS[state_estimator]
        self.fps = float(fps)
        self.lost_track_seconds = float(lost_track_seconds)
        self.lost_track_frames = frames
        self.engine: EngineName = engine

        def paper_factory() -> PaperByteTrackEngine:
            return PaperByteTrackEngine(
                track_thresh=high_conf_threshold,
                det_thresh=track_activation_threshold,
                match_thresh=1.0 - min_iou,
                second_match_thresh=1.0 - second_min_iou,
                unconfirmed_match_thresh=1.0 - unconfirmed_min_iou,
                max_time_lost=frames,
                min_hits=min_consecutive_frames,
                fuse_score=fuse_score,
                motion_scale=max(1.0, PAPER_FPS / fps),
                fps=fps,
                gate_sigmas=gate_sigmas,
                init_velocity=bool(init_velocity),
                gate_lost=bool(gate_lost),
                carried_confirms=bool(carried_confirms),
                lead_origins=bool(lead_origins),
                recall_origins=bool(recall_origins),
                drop_exited=bool(drop_exited),
                confirm_exits=bool(confirm_exits),
                previous_detection=self.last_detection_time,
                # The paper confirms the tracks of a sequence's first frame at once; an engine made
                # later (a class appearing mid-stream) waits for a second match like any new track.
                activate_first_frame=self.frames_seen == 0,
            )

        def factory() -> ByteTrackTracker:
            engine = ByteTrackTracker(
                lost_track_buffer=0,
                frame_rate=fps,
                track_activation_threshold=track_activation_threshold,
                minimum_consecutive_frames=min_consecutive_frames,
                minimum_iou_threshold=min_iou,
                high_conf_det_threshold=high_conf_threshold,
                state_estimator_class=estimator,
            )
            set_lost_buffer(engine, frames, lost_track_seconds)
            return engine

        chosen: Callable[[], Engine] = paper_factory if engine == "paper" else factory
        super().__init__(
            chosen, per_class=per_class, min_confidence=low_conf_threshold, pass_timestamp=engine == "paper"
        )
        logger.debug(
            "bytetrack (%s engine): fps=%g, lost buffer %gs = %d frames, per_class=%s",
            engine,
            fps,
            lost_track_seconds,
            frames,
            per_class,
        )
