"""BoT-SORT and OC-SORT from Roboflow's ``trackers``, behind vtrack's ``Tracker`` contract.

Both are thin: the library tracker does the association, :class:`~vtrack.trackers.adapter.LibraryTracker`
adds row order, never-reused IDs, per-class tracking and the buffer in seconds. Library parameters
(e.g. ``minimum_iou_threshold``, ``high_conf_det_threshold``) pass through unchanged.

Caveats of the library versions (``trackers`` 2.6), kept as they are:

* Both change behaviour during their first frames (OC-SORT confirms tracks at once while it has seen
  fewer than ``minimum_consecutive_frames`` frames; BoT-SORT can activate first-frame tracks
  instantly). With ``per_class`` a class's library tracker is created when the class first appears, so
  these idle engines are kept (not dropped) and BoT-SORT's instant activation is off by default.
* BoT-SORT's camera motion compensation is off by default here; turn it on with ``enable_cmc=True``
  (and pass frames) for moving cameras (``tracker: auto`` does so when the camera moves). The library
  would estimate it once per class engine; :class:`BoTSORT` gives all its engines one
  :class:`SharedCMC` instead, which estimates the frame's motion once and hands the same matrix to
  every class (the motion of the frame does not depend on the class). With the default
  ``sparseOptFlow`` method the estimate does not use the detections, so sharing changes nothing else.
  It also runs cheaper than the library's default: frames downscaled to about 320 px wide and 200
  spread corners instead of a fixed downscale 2 and 1000 corners (measured: 0.2-0.4x the time at
  720p/1080p, the same IDs on the drive clips).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import supervision as sv
from trackers import CMC, BoTSORTTracker, CMCConfig, OCSORTTracker

from vtrack.trackers.adapter import LibraryTracker, lost_track_frames, set_lost_buffer

DEFAULT_LOST_TRACK_SECONDS = 1.0
"""Lost-track buffer, as for ByteTrack (30 frames at 30 fps)."""
DEFAULT_CMC_WIDTH = 320
"""Camera-motion estimate on frames about this wide (``cmc_width``; ``0`` = the library's fixed
``cmc_downscale`` 2). With :data:`DEFAULT_CMC_MAX_CORNERS` it costs 0.2-0.4x the library default at
720p/1080p with the same IDs on the drive clips (docs/tracking.md, "Cheaper camera-motion
compensation")."""
DEFAULT_CMC_MAX_CORNERS = 200
"""Corners followed by the estimate (``cmc_max_corners``; ``0`` = the library's 1000 corners at
``minDistance`` 1)."""
CHEAP_CMC_MIN_DISTANCE = 8
"""``minDistance`` (analysis pixels) between corners when ``cmc_max_corners`` is set: spread points."""


class SharedCMC(CMC):
    """One camera-motion estimate per frame, shared by all of a :class:`BoTSORT`'s class engines.

    :meth:`next_frame` is called once per frame before the engines run; the first engine's
    :meth:`estimate` computes the affine matrix, later ones get the cached copy.

    Args:
        cfg: the library's CMC settings.
        analysis_width: when set, the downscale factor is chosen on the first frame so that the
            estimate runs on frames about this many pixels wide (``round(W / analysis_width)``, at
            least 1) instead of the fixed ``cfg.downscale``.
    """

    def __init__(self, cfg: CMCConfig | None = None, analysis_width: int | None = None) -> None:
        super().__init__(cfg)
        self._cached: np.ndarray | None = None
        self.analysis_width = analysis_width

    def next_frame(self) -> None:
        """Start a new frame: the next :meth:`estimate` computes afresh."""
        self._cached = None

    def estimate(self, frame_bgr: np.ndarray, dets_xyxy: np.ndarray | None = None) -> np.ndarray:
        """Affine ``(2, 3)`` ``float32`` from the previous frame to ``frame_bgr``, computed once per frame."""
        if self._cached is None:
            if self.analysis_width and not self._initialized:
                self.downscale = max(1, round(frame_bgr.shape[1] / self.analysis_width))
            self._cached = super().estimate(frame_bgr, dets_xyxy)
        return self._cached.copy()


class BoTSORT(LibraryTracker):
    """BoT-SORT (motion only; no re-identification model) honouring vtrack's ``Tracker`` contract.

    Args:
        fps: frames per second reaching the tracker (source fps / frame stride).
        lost_track_seconds: how long an unmatched confirmed track is kept.
        per_class: track each ``class_id`` on its own.
        **params: passed to ``trackers.BoTSORTTracker`` (``lost_track_buffer`` and ``frame_rate``
            excluded: they come from the two arguments above), except two of vtrack's own for the
            camera-motion estimate: ``cmc_width`` (analysis width in pixels, default
            :data:`DEFAULT_CMC_WIDTH`; ``0`` = the library's ``cmc_downscale``) and
            ``cmc_max_corners`` (default :data:`DEFAULT_CMC_MAX_CORNERS`; ``0`` = the library's 1000).
    """

    def __init__(
        self,
        *,
        fps: float,
        lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
        per_class: bool = True,
        **params: Any,
    ) -> None:
        frames = lost_track_frames(lost_track_seconds, fps)
        kwargs: dict[str, Any] = {"enable_cmc": False, "instant_first_frame_activation": False, **params}
        # An explicit cmc_downscale (the library's knob) turns the width-based default off.
        cmc_width = kwargs.pop("cmc_width", 0 if "cmc_downscale" in kwargs else DEFAULT_CMC_WIDTH)
        cmc_corners = kwargs.pop("cmc_max_corners", DEFAULT_CMC_MAX_CORNERS)
        cmc = bool(kwargs["enable_cmc"])
        cfg = CMCConfig(
            method=kwargs.get("cmc_method", "sparseOptFlow"), downscale=kwargs.get("cmc_downscale", 2)
        )
        if cmc_corners:
            cfg.sof_max_corners = int(cmc_corners)
            cfg.sof_min_distance = CHEAP_CMC_MIN_DISTANCE
        self._cmc: SharedCMC | None = SharedCMC(cfg, analysis_width=cmc_width or None) if cmc else None

        def factory() -> BoTSORTTracker:
            engine = BoTSORTTracker(lost_track_buffer=0, frame_rate=fps, **kwargs)
            if self._cmc is not None:
                engine.cmc = self._cmc
            return set_lost_buffer(engine, frames, lost_track_seconds)

        super().__init__(factory, per_class=per_class, pass_frame=cmc, drop_idle_engines=False)
        self.lost_track_frames = frames

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        """Track one frame (see :meth:`LibraryTracker.update`); camera motion is estimated once.

        ``timestamp`` is accepted and ignored (the library's BoT-SORT counts frames).
        """
        if self._cmc is not None:
            self._cmc.next_frame()
            if frame is None:
                self._cmc.reset()  # no motion across a gap in frames: start the estimate afresh
        return super().update(detections, frame)

    def reset(self) -> None:
        """Forget every track and the previous frame of the motion estimate; IDs keep counting up."""
        super().reset()
        if self._cmc is not None:
            self._cmc.reset()


class OCSORT(LibraryTracker):
    """OC-SORT honouring vtrack's ``Tracker`` contract.

    Args:
        fps: frames per second reaching the tracker (source fps / frame stride).
        lost_track_seconds: how long an unmatched confirmed track is kept.
        per_class: track each ``class_id`` on its own.
        **params: passed to ``trackers.OCSORTTracker`` (``lost_track_buffer`` and ``frame_rate``
            excluded).
    """

    def __init__(
        self,
        *,
        fps: float,
        lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
        per_class: bool = True,
        **params: Any,
    ) -> None:
        frames = lost_track_frames(lost_track_seconds, fps)

        def factory() -> OCSORTTracker:
            engine = OCSORTTracker(lost_track_buffer=0, frame_rate=fps, **params)
            return set_lost_buffer(engine, frames, lost_track_seconds)

        super().__init__(factory, per_class=per_class, drop_idle_engines=False)
        self.lost_track_frames = frames
