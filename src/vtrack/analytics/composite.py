"""Line and zone counting behind the one ``Counter`` interface the pipeline knows (pure logic)."""

from __future__ import annotations

from datetime import datetime

import supervision as sv

from vtrack.analytics.lines import LineCounter
from vtrack.analytics.zones import Occupancy, ZoneCounter, ZoneHourly
from vtrack.types import CrossingEvent, ZoneEvent


class CounterSet:
    """A line counter and a zone counter fed the same frames; implements ``Counter``.

    :meth:`update` returns the line crossings (what the pipeline puts in ``FrameResult.events``);
    the zone events of the same frame are in :attr:`last_zone_events` until the next update, so
    exporters called after the counter in the same frame can read them. Every zone event and the
    occupancy after every frame also feed :attr:`zone_hourly`.

    Args:
        lines: the line counter, or ``None``.
        zones: the zone counter, or ``None``.

    Attributes:
        last_zone_events: zone events of the latest :meth:`update` (empty without zones).
        zone_hourly: hourly zone aggregates (``None`` without zones).
    """

    def __init__(self, lines: LineCounter | None, zones: ZoneCounter | None) -> None:
        self.lines = lines
        self.zones = zones
        self.last_zone_events: list[ZoneEvent] = []
        self.zone_hourly: ZoneHourly | None = ZoneHourly() if zones is not None else None

    def update(self, detections: sv.Detections, frame_index: int, time: datetime) -> list[CrossingEvent]:
        """Feed one frame to both counters; return the line crossings confirmed at this frame.

        Args:
            detections: tracked detections (see :meth:`LineCounter.update`).
            frame_index: index of this frame; must not decrease between calls.
            time: wall-clock time of the frame, timezone-aware.
        """
        events = self.lines.update(detections, frame_index, time) if self.lines is not None else []
        if self.zones is not None and self.zone_hourly is not None:
            self.last_zone_events = self.zones.update(detections, frame_index, time)
            for e in self.last_zone_events:
                self.zone_hourly.add(e)
            self.zone_hourly.observe(time, self.zones.occupancy)
        return events

    @property
    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Line totals ``{line: {class: {"in": n, "out": n}}}`` (empty without lines)."""
        return self.lines.counts if self.lines is not None else {}

    @property
    def occupancy(self) -> Occupancy:
        """Zone occupancy ``{zone: {class: n}}`` now (empty without zones)."""
        return self.zones.occupancy if self.zones is not None else {}

    @property
    def zone_totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{zone: {class: {"entries", "exits", "max_occupancy"}}}`` (empty without zones)."""
        return self.zones.totals if self.zones is not None else {}

    def reset(self) -> None:
        """Reset both counters and the hourly zone aggregates."""
        if self.lines is not None:
            self.lines.reset()
        if self.zones is not None:
            self.zones.reset()
            self.zone_hourly = ZoneHourly()
        self.last_zone_events = []
