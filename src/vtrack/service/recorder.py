"""What a stream's frame results leave for other threads: metrics and in-memory figures.

:class:`StreamRecorder` is fed by the stream's worker thread (one call per frame result) and read by
HTTP handlers: Prometheus series, crossings per UTC hour (the last 48 h), zone occupancy now and the
hourly zone figures of the previous and the current UTC day. Readers get snapshots the worker
replaces, never mutates: no lock on the hot path.
"""

from __future__ import annotations

import math
import time
from collections import Counter as _Tally
from collections.abc import Callable
from datetime import datetime

import numpy as np
import supervision as sv

from vtrack.analytics.aggregate import HourlyCounts, UtcDays
from vtrack.analytics.composite import CounterSet
from vtrack.analytics.zones import ZoneHourly, ZoneHourRow
from vtrack.config import StreamConfig
from vtrack.metrics import Metrics
from vtrack.types import FrameResult

HOURLY_KEEP_HOURS = 48
"""In-memory hourly counts kept per stream (older hours are dropped; a count store keeps all)."""
ZONE_ROWS_REFRESH_S = 1.0
"""Most seconds the hourly zone figures shown by the API lag behind the worker's."""


class StreamRecorder:
    """One stream's metrics and in-memory figures.

    Args:
        cfg: the stream's configuration (its id, classes, lines and zones label the series).
        metrics: where the series live.

    Attributes:
        hourly: crossings per UTC hour × line × class × direction, the last :data:`HOURLY_KEEP_HOURS`.
    """

    def __init__(self, cfg: StreamConfig, metrics: Metrics) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.metrics = metrics
        self.hourly = HourlyCounts(HOURLY_KEEP_HOURS, utc=True)
        self._occupancy: dict[str, dict[str, int]] = {z.name: {} for z in cfg.counting.zones}
        self._zone_days = UtcDays()
        self._zone_rows_before: tuple[ZoneHourRow, ...] = ()  # the previous UTC day's hours
        self._zone_rows: tuple[ZoneHourRow, ...] = ()
        self._zone_rows_at = 0.0
        self._seen_classes: set[str] = set()  # classes with a vtrack_objects series (reset to 0 when gone)
        self._seen_dropped = 0
        self._seen_reconnects = 0

    def register(self, up: Callable[[], bool], frame_age: Callable[[], float | None]) -> None:
        """Gauges read on scrape, and every labelled series at 0 (so rate() sees the first events).

        Args:
            up: whether the stream is running now.
            frame_age: seconds since the newest frame, or ``None``.
        """
        m, sid = self.metrics, self.id
        m.stream_up.labels(sid).set_function(lambda: 1.0 if up() else 0.0)
        m.last_frame_age.labels(sid).set_function(lambda: frame_age() or math.nan)
        m.frames.labels(sid)
        m.frames_dropped.labels(sid, "stale")
        m.reconnects.labels(sid)
        m.tracks_active.labels(sid).set(0)
        for cls in self.cfg.classes or []:
            m.objects.labels(sid, cls).set(0)
            self._seen_classes.add(cls)
            for line in self.cfg.counting.lines:
                for direction in ("in", "out"):
                    m.line_crossings.labels(sid, line.name, cls, direction)
            for z in self.cfg.counting.zones:
                m.zone_occupancy.labels(sid, z.name, cls).set(0)
                m.zone_entries.labels(sid, z.name, cls)
                m.zone_exits.labels(sid, z.name, cls)

    # ------------------------------------------------------------------ written by the worker
    def new_source(self) -> None:
        """A new source connection: its drop and reconnect counters start at 0."""
        self._seen_dropped = self._seen_reconnects = 0

    def source_counters(self, dropped: int, reconnects: int) -> None:
        """The source's frames dropped and reconnects so far (the increase goes to the metrics)."""
        if dropped > self._seen_dropped:
            self.metrics.frames_dropped.labels(self.id, "stale").inc(dropped - self._seen_dropped)
        if reconnects > self._seen_reconnects:
            self.metrics.reconnects.labels(self.id).inc(reconnects - self._seen_reconnects)
        self._seen_dropped, self._seen_reconnects = dropped, reconnects

    def roll_day(self, counters: CounterSet, when: datetime) -> None:
        """Keep the in-memory hourly zone figures to the previous and the current UTC day."""
        if counters.zone_hourly is not None and self._zone_days.turned(when):
            self._zone_rows_before = tuple(counters.zone_hourly.rows())
            counters.zone_hourly = ZoneHourly()
            self._zone_rows = ()

    def record(self, result: FrameResult, counters: CounterSet | None) -> None:
        """Metrics, hourly counts and zone figures of one frame's result."""
        m, sid = self.metrics, self.id
        for ev in result.events:
            m.line_crossings.labels(sid, ev.line, ev.class_name, ev.direction).inc()
            self.hourly.add(ev)
        if result.occupancy is not None:
            occupancy = result.occupancy
            for zev in result.zone_events:
                kind = m.zone_entries if zev.kind == "enter" else m.zone_exits
                kind.labels(sid, zev.zone, zev.class_name).inc()
                m.zone_occupancy.labels(sid, zev.zone, zev.class_name).set(
                    occupancy[zev.zone].get(zev.class_name, 0)
                )
            if result.zone_events:
                self._occupancy = {z: dict(per) for z, per in occupancy.items()}
            if time.monotonic() - self._zone_rows_at >= ZONE_ROWS_REFRESH_S:
                self.publish_zone_rows(counters)
        self._record_objects(result.detections)

    def publish_zone_rows(self, counters: CounterSet | None) -> None:
        """Hand the current hourly zone figures to readers."""
        if counters is not None and counters.zone_hourly is not None:
            self._zone_rows = tuple(counters.zone_hourly.rows())
        self._zone_rows_at = time.monotonic()

    def _record_objects(self, tracked: sv.Detections) -> None:
        m = self.metrics
        if tracked.tracker_id is not None and len(tracked):
            confirmed = np.asarray(tracked.tracker_id) >= 0
            m.tracks_active.labels(self.id).set(int(confirmed.sum()))
        else:
            m.tracks_active.labels(self.id).set(0)
        names = tracked.data.get("class_name") if len(tracked) else None
        per_class = _Tally(np.asarray(names).tolist()) if names is not None else _Tally()
        for cls in self._seen_classes | set(per_class):
            m.objects.labels(self.id, cls).set(per_class.get(cls, 0))
        self._seen_classes |= set(per_class)

    # ------------------------------------------------------------------ read by other threads
    @property
    def occupancy(self) -> dict[str, dict[str, int]]:
        """Zone occupancy now, ``{zone: {class: n}}`` (every zone; as of the last frame with zone events)."""
        return self._occupancy

    def zone_rows(self) -> tuple[ZoneHourRow, ...]:
        """Hourly zone figures (UTC hours) of the previous and the current UTC day, at most
        :data:`ZONE_ROWS_REFRESH_S` old."""
        return self._zone_rows_before + self._zone_rows
