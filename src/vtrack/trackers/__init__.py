"""Multi-object trackers behind one :class:`Tracker` protocol.

``make_tracker("bytetrack", fps=...)`` is the usual entry point; ``"botsort"`` and ``"ocsort"`` are
alternatives from the same library; ``"auto"`` picks BoT-SORT with camera-motion compensation when
the camera moves and ByteTrack when it is fixed (:mod:`vtrack.trackers.auto`).
Every tracker returns its input rows in input order, with IDs that are positive, unique per instance
for its whole life, and never shared between instances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vtrack.errors import ConfigError
from vtrack.trackers.adapter import LibraryTracker, lost_track_frames
from vtrack.trackers.auto import AutoDecision, AutoTracker
from vtrack.trackers.base import Tracker
from vtrack.trackers.bytetrack import DEFAULT_LOST_TRACK_SECONDS, ByteTrack
from vtrack.trackers.sort_family import OCSORT, BoTSORT

TRACKERS: dict[str, Callable[..., LibraryTracker]] = {
    "bytetrack": ByteTrack,
    "botsort": BoTSORT,
    "ocsort": OCSORT,
}
"""The concrete trackers (each a :class:`LibraryTracker`)."""

TRACKER_NAMES: tuple[str, ...] = (*TRACKERS, "auto")
"""Names accepted by :func:`make_tracker`: the concrete trackers plus ``"auto"`` (an :class:`AutoTracker`
wrapping two of them)."""

DEFAULT_TRACKER = "bytetrack"


def make_tracker(
    name: str = DEFAULT_TRACKER,
    *,
    fps: float,
    lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
    **params: Any,
) -> Tracker:
    """Build a tracker by name.

    Args:
        name: ``"bytetrack"`` (default), ``"botsort"``, ``"ocsort"`` or ``"auto"`` (case-insensitive).
        fps: frames per second reaching the tracker, i.e. after any frame stride.
        lost_track_seconds: how long a lost track keeps its ID; converted to frames with ``fps``.
        **params: tracker-specific keyword arguments (see :class:`ByteTrack`; BoT-SORT and OC-SORT
            pass them to the ``trackers`` library), plus ``per_class`` (default ``True``).

    Returns:
        A fresh tracker with its own ID counter.

    Raises:
        ConfigError: for an unknown name, or a parameter the tracker does not take or rejects.
    """
    key = name.strip().lower()
    cls: Callable[..., Tracker] | None = AutoTracker if key == "auto" else TRACKERS.get(key)
    if cls is None:
        raise ConfigError(f"unknown tracker {name!r}: expected one of {', '.join(sorted(TRACKER_NAMES))}")
    try:
        return cls(fps=fps, lost_track_seconds=lost_track_seconds, **params)
    except TypeError as e:
        raise ConfigError(f"tracker {key!r}: invalid parameters {sorted(params)}: {e}") from e


__all__ = [
    "DEFAULT_TRACKER",
    "OCSORT",
    "TRACKERS",
    "TRACKER_NAMES",
    "AutoDecision",
    "AutoTracker",
    "BoTSORT",
    "ByteTrack",
    "LibraryTracker",
    "Tracker",
    "lost_track_frames",
    "make_tracker",
]
