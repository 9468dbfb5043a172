"""Zone figures read back from the count store (``query_zone_counts``, ``vtrack counts --zones``, the
HTTP zone counts route), on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import supervision as sv
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vtrack.analytics import CounterSet, ZoneCounter
from vtrack.cli import app as cli_app
from vtrack.config import DeploymentConfig
from vtrack.exporters.store import CountFilter, RunInfo, StoreExporter, open_store, zone
from vtrack.exporters.store.query import query_zone_counts
from vtrack.geometry import Polygon
from vtrack.pipeline.step import FrameStep
from vtrack.service.app import create_app
from vtrack.trackers.base import GivenIds
from vtrack.types import Frame, FrameResult

T0 = datetime(2026, 5, 1, 8, 59, 50, tzinfo=timezone.utc)  # the run spans 09:00 UTC (an hour and 15-min edge)
BOX = Polygon("lot", ((100, 100), (300, 100), (300, 300), (100, 300)))
UTC = zone("UTC")
runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'counts.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _frames() -> list[FrameResult]:
    """Three cars at 10 fps for 30 s: #1 inside from +1 s to +15 s, #2 from +10 s on, #3 +20..+23 s."""
    frames = []
    for i in range(300):
        t = i / 10
        xs = [200.0 if t_in <= t < t_out else 20.0 for t_in, t_out in ((1, 15), (10, 99), (20, 23))]
        det = sv.Detections(
            xyxy=np.array([[x - 10, 160, x + 10, 200] for x in xs], dtype=np.float32),
            tracker_id=np.array([1, 2, 3]),
            data={"class_name": np.array(["car"] * 3)},
        )
        frame = Frame(np.zeros((4, 4, 3), np.uint8), i, t)
        frames.append(FrameResult(frame, det, time=T0 + timedelta(seconds=t)))
    return frames


def _run(url: str, run_id: str = "r1", stream: str = "cam", tz: str = "Europe/Amsterdam") -> None:
    step = FrameStep(GivenIds(), CounterSet(None, ZoneCounter([BOX])))
    run = RunInfo(run_id, stream, timezone=tz)
    ex = StoreExporter(open_store(url), run, commit_interval_s=3600, zones=True)
    for r in _frames():
        assert r.time is not None
        ex.write(step(r.frame, r.detections, time=r.time))
    ex.close()


@pytest.fixture
def zone_store(store_url: str) -> str:
    _run(store_url)
    _run(store_url)  # the same run id again replaces, never doubles
    return store_url


def _figures(
    url: str, flt: CountFilter, by: str, tz: str, *, use_hourly: bool = True
) -> tuple[str, list[Any]]:
    with open_store(url) as s:  # type: ignore[attr-defined]
        res = query_zone_counts(s, flt, by, zone(tz), use_hourly=use_hourly)  # type: ignore[arg-type]
    rows = [
        (r.bucket.isoformat(), r.stream, r.zone, r.class_name, r.entries, r.exits, r.max_occupancy,
         None if r.mean_dwell_seconds is None else round(r.mean_dwell_seconds, 1))
        for r in res.rows
    ]
    return res.computed_from, rows


HOURS = [
    ("2026-05-01T08:00:00+00:00", "cam", "lot", "car", 1, 0, 1, None),
    ("2026-05-01T09:00:00+00:00", "cam", "lot", "car", 2, 2, 2, 8.5),  # dwells 14 s and 3 s
]


def test_hourly_rows_and_replayed_events_agree(zone_store: str) -> None:
    assert _figures(zone_store, CountFilter(stream="cam"), "hour", "UTC") == ("hourly", HOURS)
    assert _figures(zone_store, CountFilter(), "hour", "UTC", use_hourly=False) == ("events", HOURS)
    assert _figures(zone_store, CountFilter(zone="lot", class_name="car"), "15min", "UTC") == (
        "events",
        [("2026-05-01T08:45:00+00:00", *HOURS[0][1:]), ("2026-05-01T09:00:00+00:00", *HOURS[1][1:])],
    )
    assert _figures(zone_store, CountFilter(zone="gate"), "hour", "UTC")[1] == []
    assert _figures(zone_store, CountFilter(class_name="bus"), "hour", "UTC", use_hourly=False)[1] == []


def test_coarser_buckets_merge_max_of_maxima_and_exit_weighted_dwell(zone_store: str) -> None:
    day = [("2026-05-01T00:00:00+02:00", "cam", "lot", "car", 3, 2, 2, 8.5)]
    assert _figures(zone_store, CountFilter(), "day", "Europe/Amsterdam") == ("hourly", day)
    # a half-hour zone: hours are not UTC hours, so the events are replayed (08:59:50Z = 14:29:50+05:30)
    assert _figures(zone_store, CountFilter(), "hour", "Asia/Kolkata") == (
        "events", [("2026-05-01T14:00:00+05:30", "cam", "lot", "car", 3, 2, 2, 8.5)]
    )
    assert _figures(zone_store, CountFilter(), "15min", "Asia/Kolkata")[1] == [
        ("2026-05-01T14:15:00+05:30", *HOURS[0][1:]), ("2026-05-01T14:30:00+05:30", *HOURS[1][1:])
    ]


def test_a_range_off_the_hour_carries_the_occupancy_in(zone_store: str) -> None:
    # from 09:00:03 UTC: #1 and #2 are inside already; only #3 enters, #1 and #3 leave
    since = T0 + timedelta(seconds=13)
    flt = CountFilter(since=since, until=T0 + timedelta(hours=1))
    assert _figures(zone_store, flt, "hour", "UTC") == (
        "events", [("2026-05-01T09:00:00+00:00", "cam", "lot", "car", 1, 2, 2, 8.5)]
    )
    on_hours = (T0 + timedelta(seconds=10), T0 + timedelta(minutes=60, seconds=10))
    flt = CountFilter(since=on_hours[0], until=on_hours[1])
    assert _figures(zone_store, flt, "hour", "UTC") == ("hourly", HOURS[1:])


def test_cli_zone_csv_and_errors(zone_store: str) -> None:
    r = runner.invoke(cli_app, ["counts", "--store", zone_store, "--zones", "--stream", "cam", "--by", "hour",
                                "--tz", "UTC", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows == [
        ["bucket_start", "stream", "zone", "class", "entries", "exits", "max_occupancy",
         "mean_occupancy", "mean_dwell_seconds"],
        # mean occupancy: 8.9 object-seconds in the 10 s seen of 08:00, 28 in the 20 s seen of 09:00
        ["2026-05-01T08:00:00+00:00", "cam", "lot", "car", "1", "0", "1", "0.890", ""],
        ["2026-05-01T09:00:00+00:00", "cam", "lot", "car", "2", "2", "2", "1.400", "8.500"],
    ]
    args = ["counts", "--store", zone_store, "--zone", "lot", "--by", "day", "--format", "json"]
    r = runner.invoke(cli_app, args)
    assert r.exit_code == 0, r.output
    assert '"timezone": "Europe/Amsterdam"' in r.stdout and '"entries": 3' in r.stdout
    r = runner.invoke(cli_app, ["counts", "--store", zone_store, "--zone", "lot", "--line", "gate"])
    assert r.exit_code == 2 and "--line cannot be combined" in r.output


class _Streams:
    started = True

    def has(self, stream_id: str) -> bool:
        return stream_id == "cam"


def test_http_zone_counts_route(zone_store: str) -> None:
    cfg = DeploymentConfig.model_validate({"store": zone_store})
    # no `with`: no lifespan; a loopback Host (no token: other Host names are refused)
    client = TestClient(create_app(cfg, cast(Any, _Streams())), base_url="http://127.0.0.1")
    q = {"from": "2026-05-01T08:00:00Z", "to": "2026-05-01T10:00:00Z", "bucket": "hour", "tz": "UTC",
         "zone": "lot"}
    body = client.get("/api/streams/cam/zones/counts", params=q).json()
    assert body["source"] == "store" and body["timezone"] == "UTC"
    assert [(x["start"], x["zone"], x["class"], x["entries"], x["exits"], x["max_occupancy"])
            for x in body["rows"]] == [
        ("2026-05-01T08:00:00Z", "lot", "car", 1, 0, 1), ("2026-05-01T09:00:00Z", "lot", "car", 2, 2, 2)
    ]
    assert body["rows"][1]["mean_dwell_seconds"] == pytest.approx(8.5, abs=0.1)
    assert client.get("/api/streams/nope/zones/counts").status_code == 404
    no_store = TestClient(create_app(DeploymentConfig(), cast(Any, _Streams())), base_url="http://127.0.0.1")
    assert no_store.get("/api/streams/cam/zones/counts").status_code == 422
