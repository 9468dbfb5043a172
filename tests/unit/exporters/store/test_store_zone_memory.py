"""The store exporter forgets zone hours once they are stored: bounded memory, same stored figures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import supervision as sv

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.zones import ZoneCounter
from vtrack.exporters.store import CountFilter, RunInfo, StoreExporter, open_store
from vtrack.geometry import Polygon
from vtrack.pipeline.step import FrameStep
from vtrack.trackers.base import GivenIds
from vtrack.types import Frame

T0 = datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=7)  # not a divisor of an hour: intervals straddle hour boundaries
FRAMES = 260  # about 30 hours
IMAGE = np.zeros((4, 4, 3), np.uint8)


def _detections(i: int) -> sv.Detections:
    """Track 1 inside the zone for 20 frames out of every 30; track 2 always outside."""
    x1 = 50.0 if i % 30 < 20 else 250.0
    return sv.Detections(
        xyxy=np.array([[x1 - 5, 40, x1 + 5, 50], [295, 40, 305, 50]], np.float32),
        tracker_id=np.array([1, 2]),
        data={"class_name": np.array(["person", "person"])},
    )


def test_zone_hours_are_forgotten_once_stored_and_the_store_holds_every_hour(tmp_path: Path) -> None:
    counters = CounterSet(None, ZoneCounter([Polygon("lot", ((0, 0), (100, 0), (100, 100), (0, 100)))]))
    ticks = iter(range(10**6))
    url = f"sqlite:///{tmp_path / 'z.db'}"
    exporter = StoreExporter(
        open_store(url), RunInfo("r1", "cam"), zones=True, clock=lambda: float(next(ticks))
    )  # a clock one second further on every call: a commit on every frame
    kept: list[int] = []
    step = FrameStep(GivenIds(), counters)
    for i in range(FRAMES):
        exporter.write(step(Frame(IMAGE, i, 0.0), _detections(i), time=T0 + i * STEP))
        assert exporter._zone_hourly is not None
        kept.append(len({r.hour_start for r in exporter._zone_hourly.rows()}))
    exporter.close()
    assert max(kept) <= 2  # the open hour (and the one the last interval started in)

    assert counters.zone_hourly is not None  # the same figures, never forgotten
    want = [
        (r.hour_start, r.entries, r.exits, r.max_occupancy, round(r.mean_occupancy, 6), r.mean_dwell_seconds)
        for r in counters.zone_hourly.rows()
    ]
    with open_store(url) as store:  # type: ignore[attr-defined]
        got = [
            (h.hour, h.entries, h.exits, h.max_occupancy, round(h.mean_occupancy, 6), h.mean_dwell_seconds)
            for h in store.zone_hourly(CountFilter(stream="cam"))
        ]
    assert len(want) >= 25  # ~31 hours, some with nobody inside and no event (no row)
    assert got == want
