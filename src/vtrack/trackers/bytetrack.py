"""ByteTrack (Zhang et al., ECCV 2022) on Roboflow's ``trackers`` implementation.

The association itself (Kalman prediction, a first IoU/Hungarian match of high-score boxes to all
tracks, a second match of low-score boxes to the tracks left over, new tracks from unmatched
high-score boxes above an activation threshold, confirmation after consecutive matches, a lost-track
buffer) is ``trackers.ByteTrackTracker``. :class:`~vtrack.trackers.adapter.LibraryTracker` around it
provides what vtrack's contract adds: input row order, never-reused per-instance IDs, per-class
tracking, the buffer in seconds, and the paper's 0.1 floor for low-score boxes.

Defaults follow the paper's MOT17 settings (``track_thresh`` 0.5, new tracks at ``track_thresh + 0.1``,
low-score floor 0.1, a first-stage IoU of at least 0.2 (``match_thresh`` 0.8 on ``1 - IoU``), 30
frames at 30 fps = 1 s of lost buffer), where the library's own defaults differ (0.6 / 0.7 / none /
0.1).
"""

from __future__ import annotations

import logging
from typing import Literal

from trackers import ByteTrackTracker
from trackers.utils.state_representations import (
    BaseStateEstimator,
    XCYCSRStateEstimator,
    XCYCWHStateEstimator,
    XYXYStateEstimator,
)

from vtrack.errors import ConfigError
from vtrack.trackers.adapter import LibraryTracker, lost_track_frames, set_lost_buffer

logger = logging.getLogger(__name__)

DEFAULT_LOST_TRACK_SECONDS = 1.0
"""Lost-track buffer: the paper keeps lost tracks 30 frames at 30 fps."""
HIGH_CONF_THRESHOLD = 0.5
"""Boxes at or above this score take part in the first association (paper: ``track_thresh``)."""
LOW_CONF_THRESHOLD = 0.1
"""Boxes below this score are ignored entirely (paper: the low-score floor)."""
TRACK_ACTIVATION_THRESHOLD = 0.6
"""An unmatched high-score box starts a track only at or above this score (paper: ``det_thresh``)."""
MIN_IOU = 0.2
"""Least IoU for a match (paper: ``match_thresh`` 0.8 on the IoU distance)."""
MIN_CONSECUTIVE_FRAMES = 2
"""A new track gets an ID when matched on this many consecutive frames."""

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
    ) -> None:
        frames = lost_track_frames(lost_track_seconds, fps)
        for name, value in (
            ("high_conf_threshold", high_conf_threshold),
            ("low_conf_threshold", low_conf_threshold),
            ("track_activation_threshold", track_activation_threshold),
            ("min_iou", min_iou),
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
        estimator = _ESTIMATORS[state_estimator]
        self.fps = float(fps)
        self.lost_track_seconds = float(lost_track_seconds)
        self.lost_track_frames = frames

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

        super().__init__(factory, per_class=per_class, min_confidence=low_conf_threshold)
        logger.debug(
            "bytetrack: fps=%g, lost buffer %gs = %d frames, per_class=%s",
            fps,
            lost_track_seconds,
            frames,
            per_class,
        )
