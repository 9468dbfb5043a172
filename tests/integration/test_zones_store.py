"""Zone events and hourly zone figures in the count store (migration 2), SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics import CounterSet, ZoneCounter, ZoneHourly
from vtrack.exporters.store import RunInfo, StoreExporter, open_store
from vtrack.geometry import Polygon
from vtrack.pipeline.step import FrameStep
from vtrack.trackers.base import GivenIds
from vtrack.types import Frame, FrameResult

AMS = timezone(timedelta(hours=2))
T0 = datetime(2026, 5, 1, 10, 59, 50, tzinfo=AMS)  # 08:59:50 UTC: the run spans 09:00 UTC
BOX = Polygon("lot", ((100, 100), (300, 100), (300, 300), (100, 300)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'counts.db'}"
    return str(request.getfixturevalue("postgres_url"))


def scripted_frames() -> list[FrameResult]:
    """Three cars at 10 fps for 30 s: #1 stays from 08:59:51 to 09:00:05 UTC, #2 arrives at 09:00:00
    and stays, #3 passes through at 09:00:10 for 3 s."""
    frames = []
    for i in range(300):
        t = i / 10
        rows = []
        for tid, (t_in, t_out) in {1: (1, 15), 2: (10, 99), 3: (20, 23)}.items():
            x = 200.0 if t_in <= t < t_out else 20.0
            rows.append((tid, x))
        xyxy = np.array([[x - 10, 160, x + 10, 200] for _, x in rows], dtype=np.float32)
        det = sv.Detections(
            xyxy=xyxy,
            tracker_id=np.array([tid for tid, _ in rows]),
            data={"class_name": np.array(["car"] * len(rows))},
        )
        frame = Frame(np.zeros((4, 4, 3), np.uint8), i, t)
        frames.append(FrameResult(frame, det, time=T0 + timedelta(seconds=t)))
    return frames


def run_once(url: str, frames: list[FrameResult], run_id: str = "r1") -> ZoneHourly:
    step = FrameStep(GivenIds(), CounterSet(None, ZoneCounter([BOX])))
    ex = StoreExporter(open_store(url), RunInfo(run_id, "cam"), commit_interval_s=0, zones=True)
    utc_hourly = ZoneHourly()
    for frame in frames:
        assert frame.time is not None
        r = step(frame.frame, frame.detections, time=frame.time)
        ex.write(r)
        for e in r.zone_events:
            utc_hourly.add(dataclasses.replace(e, time=e.time.astimezone(timezone.utc)))
        utc_hourly.observe(frame.time.astimezone(timezone.utc), r.occupancy or {})
    ex.close()
    return utc_hourly


def test_zone_events_and_hours_are_stored_and_rerun_replaces(store_url: str) -> None:
    frames = scripted_frames()
    expected = run_once(store_url, frames)
    run_once(store_url, frames)  # same run id again: replaced, never doubled
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        assert s.schema_version >= 2
        events = s._rows(
            "SELECT track_id, kind, dwell_seconds FROM vtrack_zone_events WHERE run_id = ? ORDER BY ts, id",
            ("r1",),
        )
        hours = s._rows(
            "SELECT hour_utc, zone, class, entries, exits, max_occupancy, mean_occupancy, mean_dwell_seconds "
            "FROM vtrack_zone_hourly WHERE run_id = ? ORDER BY hour_utc",
            ("r1",),
        )
        stored_hours = [(s._from_db(h[0]), *h[1:]) for h in hours]  # type: ignore[attr-defined]
    assert [(int(t), k) for t, k, _ in events] == [
        (1, "enter"), (2, "enter"), (1, "exit"), (3, "enter"), (3, "exit")
    ]
    dwell = {int(t): d for t, k, d in events if k == "exit"}
    assert dwell == {1: pytest.approx(14.0), 3: pytest.approx(3.0)}
    rows = expected.rows()
    assert [h.hour for h, *_ in stored_hours] == [8, 9]
    assert len(stored_hours) == len(rows) == 2
    for got, want in zip(stored_hours, rows, strict=True):
        assert got[0] == want.hour_start
        assert got[1:6] == (want.zone, want.class_name, want.entries, want.exits, want.max_occupancy)
        assert got[6] == pytest.approx(want.mean_occupancy)
        assert (got[7] is None) == (want.mean_dwell_seconds is None)
    assert (stored_hours[0][3], stored_hours[0][4]) == (1, 0)  # entered 08:59:51 UTC
    assert (stored_hours[1][3], stored_hours[1][4], stored_hours[1][5]) == (2, 2, 2)


def test_a_version_1_database_is_migrated_to_2(tmp_path: Path) -> None:
    from vtrack.exporters.store.migrations import LATEST_VERSION, MIGRATIONS, SCHEMA_TABLE, render

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(render(SCHEMA_TABLE, "sqlite"))
    for stmt in MIGRATIONS[0][2]:
        con.execute(render(stmt, "sqlite"))
    con.execute("INSERT INTO vtrack_schema VALUES (1, 'v1', '2026-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    with open_store(f"sqlite:///{path}") as s:  # type: ignore[attr-defined]
        assert s.schema_version == LATEST_VERSION  # 2 (zones), then 3 (run lock)
        assert s._rows("SELECT COUNT(*) FROM vtrack_zone_hourly")[0][0] == 0
