"""Per-stream output files of `vtrack serve` and its zone figures, from a scripted walk through a zone.

One person walks left to right through a square zone and over a vertical line, one frame a second,
across a UTC midnight: the output files rotate into a second segment folder and the count store into
a second run, nothing is truncated, and the zone figures read from the in-memory hours equal those
read from a real SQLite count store.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import LineCounter
from vtrack.analytics.zones import ZoneCounter
from vtrack.exporters.store import RunInfo, StoreExporter, open_store
from vtrack.exporters.store.base import CountFilter
from vtrack.exporters.store.query import Bucket
from vtrack.geometry import Line, Polygon
from vtrack.pipeline.step import FrameStep
from vtrack.service.manager import DailyStoreRuns
from vtrack.service.outputs import StreamOutputs
from vtrack.service.zonestats import MemoryZoneHours, zone_figures
from vtrack.trackers.base import GivenIds
from vtrack.types import Frame

T0 = datetime(2026, 3, 1, 23, 59, 40, tzinfo=timezone.utc)
FRAMES = 40  # x from -50 to 145: inside the zone [0, 100] from about frame 10 to frame 30
IMAGE = np.zeros((8, 8, 3), np.uint8)


def _walk() -> list[tuple[datetime, sv.Detections]]:
    out = []
    for i in range(FRAMES):
        x = -50.0 + 5 * i
        det = sv.Detections(
            xyxy=np.array([[x - 5, 40, x + 5, 50]], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([0]),
            tracker_id=np.array([1]),
            data={"class_name": np.array(["person"])},
        )
        out.append((T0 + timedelta(seconds=i), det))
    return out


def _counters() -> CounterSet:
    zone = Polygon("square", ((0, 0), (100, 0), (100, 100), (0, 100)))
    return CounterSet(LineCounter([Line("mid", 50, 0, 50, 100)]), ZoneCounter([zone], min_frames=2))


def _run(counters: CounterSet, exporters: list[StreamOutputs | StoreExporter | DailyStoreRuns]) -> None:
    step = FrameStep(GivenIds(), counters)
    for i, (t, det) in enumerate(_walk()):
        result = step(Frame(IMAGE, i, float(i)), det, time=t)
        for e in exporters:
            e.write(result)
    for e in exporters:
        e.close()


def _jsonl(paths: list[Path], name: str) -> list[dict[str, object]]:
    return [json.loads(x) for p in paths for x in (p / name).read_text().splitlines()]


def test_segments_rotate_at_utc_midnight_and_never_truncate(tmp_path: Path) -> None:
    counters = _counters()
    outputs = StreamOutputs(tmp_path / "cam", zones=True)
    _run(counters, [outputs])
    segments = sorted((tmp_path / "cam").iterdir())
    assert [p.name for p in segments] == ["20260301T235940Z", "20260302T000000Z"]
    files = {"events.jsonl", "counts.csv", "zone_events.jsonl", "zones.csv"}
    assert all({p.name for p in seg.iterdir()} == files for seg in segments)
    zone_events = _jsonl(segments, "zone_events.jsonl")
    assert [(e["zone"], e["kind"]) for e in zone_events] == [("square", "enter"), ("square", "exit")]
    crossings = _jsonl(segments, "events.jsonl")
    assert len(crossings) == 1 and crossings[0]["line"] == "mid"
    # each segment's CSVs hold that segment's hours only
    first = list(csv.DictReader((segments[0] / "zones.csv").open()))
    assert [(r["hour_start"], r["entries"]) for r in first] == [("2026-03-01T23:00:00+00:00", "1")]
    second = list(csv.DictReader((segments[1] / "zones.csv").open()))
    assert second[0]["hour_start"] == "2026-03-02T00:00:00+00:00" and second[0]["exits"] == "1"
    # a second run in the same second opens a new folder beside the old one
    again = _counters()
    _run(again, [StreamOutputs(tmp_path / "cam", zones=True)])
    names = sorted(p.name for p in (tmp_path / "cam").iterdir())
    assert "20260301T235940Z-1" in names and "20260301T235940Z" in names
    assert _jsonl([segments[0]], "zone_events.jsonl")[0]["kind"] == "enter"  # the old files are intact


def test_outputs_without_zones_write_lines_only(tmp_path: Path) -> None:
    counters = CounterSet(LineCounter([Line("mid", 50, 0, 50, 100)]), None)
    _run(counters, [StreamOutputs(tmp_path / "cam")])
    seg = sorted((tmp_path / "cam").iterdir())[0]
    assert {p.name for p in seg.iterdir()} == {"events.jsonl", "counts.csv"}


@pytest.mark.parametrize("bucket", ["hour", "day"])
def test_memory_and_store_zone_figures_agree(tmp_path: Path, bucket: Bucket) -> None:
    counters = _counters()
    store = StoreExporter(
        open_store(f"sqlite:///{tmp_path / 'c.db'}"), RunInfo(run_id="r1", stream="cam"), zones=True
    )
    _run(counters, [store])
    assert counters.zone_hourly is not None
    memory = MemoryZoneHours("cam", counters.zone_hourly.rows())
    day = T0.replace(hour=0, minute=0, second=0)
    flt = CountFilter(stream="cam", since=day, until=day + timedelta(days=2))
    utc = ZoneInfo("UTC")
    from_memory, how = zone_figures(memory, flt, bucket, utc)
    assert how == "hourly"
    db = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        from_store, _ = zone_figures(db, flt, bucket, utc)
    finally:
        db.close()
    assert from_memory == from_store
    assert sum(f.entries for f in from_memory) == 1 and sum(f.exits for f in from_memory) == 1
    if bucket == "hour":
        assert [f.bucket.hour for f in from_memory] == [23, 0]
        assert all(f.mean_occupancy is not None and 0 < f.mean_occupancy <= 1 for f in from_memory)
        assert from_memory[1].mean_dwell_seconds == pytest.approx(20, abs=2)
    else:
        assert all(f.mean_occupancy is None for f in from_memory)  # kept per hour only
    only_other = CountFilter(stream="cam", zone="other", since=flt.since, until=flt.until)
    assert zone_figures(memory, only_other, "hour", utc)[0] == []


def test_store_runs_rotate_at_utc_midnight(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ids = iter(["day1", "day2"])
    counters = _counters()
    _run(counters, [DailyStoreRuns(url, lambda: RunInfo(run_id=next(ids), stream="cam"), True)])
    db = open_store(url)
    try:
        assert sorted(r.run_id for r in db.runs(CountFilter(stream="cam"))) == ["day1", "day2"]
        hours = db.zone_hourly(CountFilter(stream="cam"))
        by_run = [(h.run_id, h.hour.hour, h.entries, h.exits) for h in hours]
        assert by_run == [("day1", 23, 1, 0), ("day2", 0, 0, 1)]  # one person: in before, out after 00:00
        figures, _ = zone_figures(db, CountFilter(stream="cam"), "day", ZoneInfo("UTC"))
    finally:
        db.close()
    assert [(f.entries, f.exits) for f in figures] == [(1, 0), (0, 1)]
