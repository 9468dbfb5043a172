"""Occupancy, entries, exits and dwell time of tracked objects in polygon zones (pure logic).

Rules, per track and per zone:

* The anchor point of the box (bottom centre by default) is tested with
  :meth:`vtrack.geometry.Polygon.contains`.
* Every track starts *outside*. It *enters* once its anchor has been inside in ``min_frames``
  consecutive observations, and *exits* once it has then been outside in ``min_frames`` consecutive
  observations; events are confirmed (and dated) at that ``min_frames``-th observation. A box
  jittering over the edge in runs shorter than ``min_frames`` never enters or exits. A track first
  seen inside the zone (already parked there, or appearing out of an occlusion) enters the same way.
* Frames in which a track is missing neither break nor extend a run; a track lost and found again
  within ``max_track_age_frames`` keeps its state, so an occlusion inside a zone is no exit.
* A track not seen for more than ``max_track_age_frames`` frames is dropped; if it was inside a zone
  it exits there, dated at the frame it was last seen (its dwell ends then).
* Present tracks are counted in the class they entered with, and exit in that class, so per class
  ``occupancy == entries - exits`` always holds. A track's class is the class it was seen with most
  often (ties: the most recent), from ``data["class_name"]``; the ``classes`` filter applies to that
  class at entry: a filtered-out track is followed but neither enters nor exits.
* Dwell is the time from the enter event to the exit event (both confirmed ``min_frames``
  observations late, so the delay cancels out).
* Rows with ``tracker_id`` ``-1`` (not confirmed by the tracker) are ignored.

Memory is bounded by the tracks seen in the last ``max_track_age_frames`` frames (one small record
per track and zone), plus totals per zone × class and, in :class:`ZoneHourly`, per hour × zone × class.
"""

from __future__ import annotations

import logging
from collections import Counter as _Tally
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import supervision as sv

from vtrack.analytics.aggregate import hour_start
from vtrack.analytics.lines import DEFAULT_MAX_TRACK_AGE_FRAMES, DEFAULT_MIN_FRAMES, vote_class
from vtrack.analytics.lines import _class_names as _class_names
from vtrack.errors import ConfigError
from vtrack.geometry import Anchor, Polygon, anchor_points
from vtrack.types import ZoneEvent

logger = logging.getLogger(__name__)

_UNTRACKED = -1
_HOUR = timedelta(hours=1)

Occupancy = dict[str, dict[str, int]]
"""``{zone: {class: tracks present now}}``."""


@dataclass(slots=True)
class _ZoneState:
    """Presence of one track in one zone."""

    inside: bool = False  # confirmed state
    run: int = 0  # consecutive observations contradicting ``inside``
    entered_class: str | None = None  # class counted at entry; None while outside or filtered out
    entered_time: datetime | None = None


@dataclass(slots=True)
class _Track:
    """Everything kept about one track."""

    last_seen: int
    last_time: datetime
    zones: list[_ZoneState]
    class_tally: dict[str, int] = field(default_factory=dict)
    class_last_seen: dict[str, int] = field(default_factory=dict)

    def observe_class(self, name: str, frame_index: int) -> None:
        self.class_tally[name] = self.class_tally.get(name, 0) + 1
        self.class_last_seen[name] = frame_index

    @property
    def class_name(self) -> str:
        """The track's class, as the line counter decides it (:func:`~vtrack.analytics.lines.vote_class`)."""
        return vote_class(self.class_tally, self.class_last_seen)


class ZoneCounter:
    """Counts occupancy, entries, exits and dwell time of tracks in polygon zones.

    Implements the ``Counter`` call shape but returns :class:`~vtrack.types.ZoneEvent` objects; combine
    it with a line counter in :class:`vtrack.analytics.composite.CounterSet` for the pipeline.

    Args:
        zones: resolved polygons (pixels); names must be unique. Zones may overlap: each is counted
            on its own.
        classes: count only tracks of these class names; ``None`` counts every class.
        anchor: the point of each box tested against the zones.
        min_frames: consecutive observations inside (outside) before a track enters (exits), ``>= 1``.
        max_track_age_frames: a track unseen for more than this many frames (``frame_index`` units)
            is dropped, exiting every zone it is in. Keep it above the tracker's lost-track buffer.

    Raises:
        ConfigError: for duplicate zone names or a non-positive ``min_frames``/``max_track_age_frames``.
    """

    def __init__(
        self,
        zones: list[Polygon],
        *,
        classes: set[str] | None = None,
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        min_frames: int = DEFAULT_MIN_FRAMES,
        max_track_age_frames: int = DEFAULT_MAX_TRACK_AGE_FRAMES,
    ) -> None:
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise ConfigError(f"zone names must be unique, got {names}")
        if min_frames < 1:
            raise ConfigError(f"min_frames must be >= 1, got {min_frames}")
        if max_track_age_frames < 1:
            raise ConfigError(f"max_track_age_frames must be >= 1, got {max_track_age_frames}")
        self.zones = list(zones)
        self.classes = None if classes is None else set(classes)
        self.anchor = Anchor(anchor)
        self.min_frames = int(min_frames)
        self.max_track_age_frames = int(max_track_age_frames)
        self._tracks: OrderedDict[int, _Track] = OrderedDict()  # oldest observation first
        self._occupancy: Occupancy = {z.name: {} for z in self.zones}
        self._entries: dict[str, _Tally[str]] = {z.name: _Tally() for z in self.zones}
        self._exits: dict[str, _Tally[str]] = {z.name: _Tally() for z in self.zones}
        self._max: dict[str, dict[str, int]] = {z.name: {} for z in self.zones}

    # ------------------------------------------------------------------ update
    def update(self, detections: sv.Detections, frame_index: int, time: datetime) -> list[ZoneEvent]:
        """Feed one frame of tracked detections.

        Args:
            detections: ``N`` rows; ``xyxy`` ``(N, 4)`` float pixels, ``tracker_id`` ``(N,)`` int
                (``-1`` = unconfirmed, ignored; ``None`` = nothing tracked), ``data["class_name"]``
                ``(N,)`` str (else ``class_id`` is used as the name).
            frame_index: index of this frame; must not decrease between calls.
            time: wall-clock time of the frame (timezone-aware), copied into the events.

        Returns:
            Enter/exit events confirmed at this frame in row then zone order, followed by the exits
            of tracks that expired at this frame (dated when they were last seen).
        """
        events: list[ZoneEvent] = []
        if len(detections) and detections.tracker_id is not None and self.zones:
            tids = np.asarray(detections.tracker_id, dtype=np.int64)
            keep = np.flatnonzero(tids != _UNTRACKED)
            if len(keep):
                points = anchor_points(np.asarray(detections.xyxy)[keep], self.anchor)  # (K, 2)
                finite = np.isfinite(points).all(axis=1)
                inside = np.stack([z.contains(points) for z in self.zones], axis=1)  # (K, Z) bool
                names = _class_names(detections, keep)
                for k, tid in enumerate(tids[keep].tolist()):
                    if finite[k]:
                        self._observe(tid, names[k], inside[k], frame_index, time, events)
        self._expire(frame_index, events)
        for e in events:
            if e.kind == "enter":
                per = self._max[e.zone]
                per[e.class_name] = max(per.get(e.class_name, 0), self._occupancy[e.zone][e.class_name])
        return events

    def _observe(
        self,
        track_id: int,
        class_name: str,
        inside: np.ndarray,
        frame_index: int,
        time: datetime,
        events: list[ZoneEvent],
    ) -> None:
        track = self._tracks.get(track_id)
        if track is None:
            track = _Track(frame_index, time, [_ZoneState() for _ in self.zones])
            self._tracks[track_id] = track
        else:
            track.last_seen, track.last_time = frame_index, time
            self._tracks.move_to_end(track_id)
        track.observe_class(class_name, frame_index)
        for zone, zs, now_inside in zip(self.zones, track.zones, inside.tolist(), strict=True):
            if now_inside == zs.inside:
                zs.run = 0
                continue
            zs.run += 1
            if zs.run < self.min_frames:
                continue
            zs.run, zs.inside = 0, now_inside
            if now_inside:
                self._enter(zone.name, track_id, track.class_name, zs, frame_index, time, events)
            else:
                self._exit(zone.name, track_id, zs, frame_index, time, events)

    def _enter(
        self,
        zone: str,
        track_id: int,
        cls: str,
        zs: _ZoneState,
        frame_index: int,
        time: datetime,
        events: list[ZoneEvent],
    ) -> None:
        if self.classes is not None and cls not in self.classes:
            return
        zs.entered_class, zs.entered_time = cls, time
        occ = self._occupancy[zone]
        occ[cls] = occ.get(cls, 0) + 1
        self._entries[zone][cls] += 1
        events.append(ZoneEvent(time, frame_index, track_id, cls, zone, "enter"))
        logger.debug("track %d entered %r at frame %d", track_id, zone, frame_index)

    def _exit(
        self,
        zone: str,
        track_id: int,
        zs: _ZoneState,
        frame_index: int,
        time: datetime,
        events: list[ZoneEvent],
    ) -> None:
        cls, since = zs.entered_class, zs.entered_time
        zs.entered_class, zs.entered_time = None, None
        if cls is None or since is None:
            return  # filtered out at entry: never counted
        self._occupancy[zone][cls] -= 1
        self._exits[zone][cls] += 1
        dwell = max((time - since).total_seconds(), 0.0)
        events.append(ZoneEvent(time, frame_index, track_id, cls, zone, "exit", dwell))
        logger.debug("track %d left %r at frame %d after %.2f s", track_id, zone, frame_index, dwell)

    def _expire(self, frame_index: int, events: list[ZoneEvent]) -> None:
        horizon = frame_index - self.max_track_age_frames
        while self._tracks:
            track_id, track = next(iter(self._tracks.items()))
            if track.last_seen >= horizon:
                break
            del self._tracks[track_id]
            for zone, zs in zip(self.zones, track.zones, strict=True):
                if zs.inside:
                    self._exit(zone.name, track_id, zs, track.last_seen, track.last_time, events)

    # ------------------------------------------------------------------ read-out
    @property
    def occupancy(self) -> Occupancy:
        """Tracks present now as ``{zone: {class: n}}`` (a copy; every zone present, classes seen so far)."""
        return {z: dict(per) for z, per in self._occupancy.items()}

    @property
    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{zone: {class: {"entries": n, "exits": n, "max_occupancy": n}}}`` so far (every zone present)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for z in self.zones:
            classes = sorted(set(self._entries[z.name]) | set(self._exits[z.name]))
            out[z.name] = {
                c: {
                    "entries": self._entries[z.name][c],
                    "exits": self._exits[z.name][c],
                    "max_occupancy": self._max[z.name].get(c, 0),
                }
                for c in classes
            }
        return out

    @property
    def active_tracks(self) -> int:
        """Number of tracks whose state is kept (bounded by ``max_track_age_frames``)."""
        return len(self._tracks)

    def reset(self) -> None:
        """Drop all per-track state and zero every total (e.g. on a new video)."""
        self._tracks.clear()
        for z in self.zones:
            self._occupancy[z.name] = {}
            self._entries[z.name] = _Tally()
            self._exits[z.name] = _Tally()
            self._max[z.name] = {}


@dataclass(frozen=True, slots=True)
class ZoneHourRow:
    """Zone figures for one hour × zone × class.

    Attributes:
        hour_start: start of the clock hour, in the frame times' own zone.
        zone: zone name.
        class_name: class.
        entries: enter events dated in the hour.
        exits: exit events dated in the hour.
        max_occupancy: most tracks of the class present at once in the hour (a frame's value holds
            until the next frame).
        mean_occupancy: occupancy averaged over the observed time of the hour (each frame's value
            held until the next frame).
        mean_dwell_seconds: mean dwell of the exits in the hour; ``None`` without exits.
    """

    hour_start: datetime
    zone: str
    class_name: str
    entries: int
    exits: int
    max_occupancy: int
    mean_occupancy: float
    mean_dwell_seconds: float | None


_Key = tuple[datetime, str, str]  # (hour_start, zone, class)


class ZoneHourly:
    """Per hour × zone × class: entries, exits, max and time-weighted mean occupancy, mean dwell.

    Feed :meth:`add` with every :class:`ZoneEvent` and :meth:`observe` with the occupancy after every
    frame. Memory is bounded by hours × zones × classes, not by frames or events.
    """

    def __init__(self) -> None:
        self._entries: _Tally[_Key] = _Tally()
        self._exits: _Tally[_Key] = _Tally()
        self._dwell_sum: dict[_Key, float] = {}
        self._dwell_n: _Tally[_Key] = _Tally()
        self._max: dict[_Key, int] = {}
        self._occ_seconds: dict[_Key, float] = {}
        self._hour_seconds: dict[datetime, float] = {}
        self._prev: tuple[datetime, dict[tuple[str, str], int]] | None = None
        self._last_dt = 0.0

    def add(self, event: ZoneEvent) -> None:
        """Count one enter/exit event in its hour."""
        key = (hour_start(event.time), event.zone, event.class_name)
        if event.kind == "enter":
            self._entries[key] += 1
            return
        self._exits[key] += 1
        if event.dwell_seconds is not None:
            self._dwell_sum[key] = self._dwell_sum.get(key, 0.0) + event.dwell_seconds
            self._dwell_n[key] += 1

    def observe(self, time: datetime, occupancy: Mapping[str, Mapping[str, int]]) -> None:
        """Record the occupancy after one frame (frames in time order).

        Args:
            time: wall-clock time of the frame, timezone-aware.
            occupancy: ``{zone: {class: n}}`` as :attr:`ZoneCounter.occupancy`.
        """
        snap = {(z, c): int(n) for z, per in occupancy.items() for c, n in per.items() if n > 0}
        h = hour_start(time)
        for (z, c), n in snap.items():
            key = (h, z, c)
            self._max[key] = max(self._max.get(key, 0), n)
        if self._prev is not None:
            t0, prev = self._prev
            dt = (time - t0).total_seconds()
            if dt > 0:
                self._credit(t0, time, prev, self._hour_seconds, self._occ_seconds, self._max)
                self._last_dt = dt
        self._prev = (time, snap)

    @staticmethod
    def _credit(
        t0: datetime,
        t1: datetime,
        snap: Mapping[tuple[str, str], int],
        hour_seconds: dict[datetime, float],
        occ_seconds: dict[_Key, float],
        max_occ: dict[_Key, int] | None = None,
    ) -> None:
        """Add ``snap`` held over ``[t0, t1)`` to the hours it spans (and to their maxima)."""
        start = t0
        while start < t1:
            h = hour_start(start)
            end = min(t1, h + _HOUR)
            dt = (end - start).total_seconds()
            hour_seconds[h] = hour_seconds.get(h, 0.0) + dt
            for (z, c), n in snap.items():
                key = (h, z, c)
                occ_seconds[key] = occ_seconds.get(key, 0.0) + n * dt
                if max_occ is not None:
                    max_occ[key] = max(max_occ.get(key, 0), n)
            start = end

    def forget_before(self, hour: datetime) -> int:
        """Drop the figures of hours starting before ``hour`` (e.g. once they are stored for good).

        Keeps a long run's memory bounded by its open hours. Hours spanned by the last observation
        (``observe``) must not be forgotten: pass an hour no later than that observation's.

        Returns:
            How many hours were dropped.
        """
        hours = {h for h in self._hour_seconds if h < hour}
        tables = (self._entries, self._exits, self._dwell_sum, self._dwell_n, self._max, self._occ_seconds)
        for table in tables:
            for key in [k for k in table if k[0] < hour]:
                hours.add(key[0])
                del table[key]
        for h in [h for h in self._hour_seconds if h < hour]:
            del self._hour_seconds[h]
        return len(hours)

    def rows(self) -> list[ZoneHourRow]:
        """Every hour × zone × class with an event or a present track, sorted.

        The last observed frame counts for one typical frame interval (the previous one).
        """
        hour_seconds = dict(self._hour_seconds)
        occ_seconds = dict(self._occ_seconds)
        if self._prev is not None:
            t0, snap = self._prev
            tail = self._last_dt if self._last_dt > 0 else 1.0
            self._credit(t0, t0 + timedelta(seconds=tail), snap, hour_seconds, occ_seconds)
        keys = set(self._entries) | set(self._exits) | set(self._max) | set(occ_seconds)
        out = []
        for key in sorted(keys):
            h, zone, cls = key
            seconds = hour_seconds.get(h, 0.0)
            dwell_n = self._dwell_n[key]
            out.append(
                ZoneHourRow(
                    hour_start=h,
                    zone=zone,
                    class_name=cls,
                    entries=self._entries[key],
                    exits=self._exits[key],
                    max_occupancy=self._max.get(key, 0),
                    mean_occupancy=occ_seconds.get(key, 0.0) / seconds if seconds > 0 else 0.0,
                    mean_dwell_seconds=self._dwell_sum[key] / dwell_n if dwell_n else None,
                )
            )
        return out

