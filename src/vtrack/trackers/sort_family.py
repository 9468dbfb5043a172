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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import supervision as sv
from trackers import CMC, BoTSORTTracker, CMCConfig, OCSORTTracker

from vtrack.trackers.adapter import LibraryTracker, lost_track_frames, set_lost_buffer

DEFAULT_LOST_TRACK_SECONDS = 1.0
"""Lost-track buffer, as for ByteTrack (30 frames at 30 fps)."""


class SharedCMC(CMC):
    """One camera-motion estimate per frame, shared by all of a :class:`BoTSORT`'s class engines.

    :meth:`next_frame` is called once per frame before the engines run; the first engine's
    :meth:`estimate` computes the affine matrix, later ones get the cached copy.
    """

    def __init__(self, cfg: CMCConfig | None = None) -> None:
        super().__init__(cfg)
        self._cached: np.ndarray | None = None

    def next_frame(self) -> None:
        """Start a new frame: the next :meth:`estimate` computes afresh."""
        self._cached = None

    def estimate(self, frame_bgr: np.ndarray, dets_xyxy: np.ndarray | None = None) -> np.ndarray:
        """Affine ``(2, 3)`` ``float32`` from the previous frame to ``frame_bgr``, computed once per frame."""
        if self._cached is None:
            self._cached = super().estimate(frame_bgr, dets_xyxy)
        return self._cached.copy()


class BoTSORT(LibraryTracker):
    """BoT-SORT (motion only; no re-identification model) honouring vtrack's ``Tracker`` contract.

    Args:
        fps: frames per second reaching the tracker (source fps / frame stride).
        lost_track_seconds: how long an unmatched confirmed track is kept.
        per_class: track each ``class_id`` on its own.
        **params: passed to ``trackers.BoTSORTTracker`` (``lost_track_buffer`` and ``frame_rate``
            excluded: they come from the two arguments above).
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
        cmc = bool(kwargs["enable_cmc"])
        self._cmc: SharedCMC | None = (
            SharedCMC(CMCConfig(method=kwargs.get("cmc_method", "sparseOptFlow"),
                                downscale=kwargs.get("cmc_downscale", 2)))
            if cmc
            else None
        )

        def factory() -> BoTSORTTracker:
            engine = BoTSORTTracker(lost_track_buffer=0, frame_rate=fps, **kwargs)
            if self._cmc is not None:
                engine.cmc = self._cmc
            return set_lost_buffer(engine, frames, lost_track_seconds)  # type: ignore[return-value]

        super().__init__(factory, per_class=per_class, pass_frame=cmc, drop_idle_engines=False)
        self.lost_track_frames = frames

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections:
        """Track one frame (see :meth:`LibraryTracker.update`); camera motion is estimated once."""
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
            return set_lost_buffer(engine, frames, lost_track_seconds)  # type: ignore[return-value]

        super().__init__(factory, per_class=per_class, drop_idle_engines=False)
        self.lost_track_frames = frames
