"""BoT-SORT and OC-SORT from Roboflow's ``trackers``, behind vtrack's ``Tracker`` contract.

Both are thin: the library tracker does the association, :class:`~vtrack.trackers.adapter.LibraryTracker`
adds row order, never-reused IDs, per-class tracking and the buffer in seconds. Library parameters
(e.g. ``minimum_iou_threshold``, ``high_conf_det_threshold``) pass through unchanged.

Caveats of the library versions (``trackers`` 2.6), kept as they are:

* Both change behaviour during their first frames (OC-SORT confirms tracks at once while it has seen
  fewer than ``minimum_consecutive_frames`` frames; BoT-SORT can activate first-frame tracks
  instantly). With ``per_class`` a class's library tracker is created when the class first appears, so
  these idle engines are kept (not dropped) and BoT-SORT's instant activation is off by default.
* BoT-SORT's camera motion compensation runs once per class engine, so it is off by default here;
  turn it on with ``enable_cmc=True`` (and pass frames) for moving cameras.
"""

from __future__ import annotations

from typing import Any

from trackers import BoTSORTTracker, OCSORTTracker

from vtrack.trackers.adapter import LibraryTracker, lost_track_frames, set_lost_buffer

DEFAULT_LOST_TRACK_SECONDS = 1.0
"""Lost-track buffer, as for ByteTrack (30 frames at 30 fps)."""


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

        def factory() -> BoTSORTTracker:
            engine = BoTSORTTracker(lost_track_buffer=0, frame_rate=fps, **kwargs)
            return set_lost_buffer(engine, frames, lost_track_seconds)  # type: ignore[return-value]

        super().__init__(factory, per_class=per_class, pass_frame=cmc, drop_idle_engines=False)
        self.lost_track_frames = frames


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
