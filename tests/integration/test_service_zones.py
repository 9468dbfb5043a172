"""`vtrack serve` zones, output files, restarts and readiness against a real uvicorn, model and files.

A looping clip of cyclists with a zone over the whole frame: people and bicycles enter it, its
occupancy shows in the stream's status, in the metrics and per hour in ``/api/streams/{id}/zones``
(in memory, and from a SQLite count store). A stream whose file is missing goes ``failed`` and makes
``/readyz`` answer 503 naming it; once the file appears, ``POST /api/streams/{id}/restart`` brings
it back to ``running`` and ``/readyz`` to 200, and a running stream restarted keeps its counts. With
``outputs: true`` each stream leaves events.jsonl, counts.csv, zone_events.jsonl and zones.csv in
its segment folders.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_service_api import Server, _wait

from vtrack.config import DeploymentConfig

pytestmark = [pytest.mark.assets, pytest.mark.slow]

CLIP = "media/video/bicycle_tracking_sample.mp4"
WHOLE_FRAME = [[0, 0], [1, 0], [1, 1], [0, 1]]


def _stream(sid: str, source: Path, **extra: object) -> dict[str, object]:
    return {
        "id": sid,
        "source": str(source),
        "loop": True,
        "max_fps": 5,
        "classes": ["person", "bicycle"],
        "zones": [{"name": "lot", "points": WHOLE_FRAME}],
        **extra,
    }


VERTICAL = {"name": "v", "points": [0.5, 0, 0.5, 1]}


def _cfg(shared: Path, tmp: Path, *, store: str | None = None) -> DeploymentConfig:
    return DeploymentConfig.model_validate(
        {
            "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
            "store": store,
            "output_dir": str(tmp / "out"),
            "streams": [
                _stream("lot", shared / CLIP, outputs=True, lines=[VERTICAL]),
                _stream("late", tmp / "late.mp4", outputs=True),  # the file does not exist yet
            ],
        }
    )


def _occupied(api: httpx.Client, sid: str) -> int:
    return sum(api.get(f"/api/streams/{sid}").json()["occupancy"]["lot"].values())


@pytest.fixture(scope="module")
def served(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("zones")
    with Server(_cfg(shared, tmp)) as srv:
        yield srv, tmp


@pytest.fixture(scope="module")
def api(served: tuple[Server, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].base, timeout=30) as c:
        _wait(lambda: _occupied(c, "lot") > 0, timeout=90, what="objects in the lot zone")
        yield c


def test_zone_occupancy_in_status_and_metrics(api: httpx.Client) -> None:
    s = api.get("/api/streams/lot").json()
    assert s["state"] == "running" and s["zones"] == ["lot"] and set(s["occupancy"]) == {"lot"}
    text = api.get("/metrics").text

    def series(name: str, stream: str) -> list[float]:
        return [
            float(x.split()[-1])
            for x in text.splitlines()
            if x.startswith(name + "{") and f'stream="{stream}"' in x and 'zone="lot"' in x
        ]

    assert len(series("vtrack_zone_occupancy", "lot")) == 2  # person and bicycle, from the start
    assert sum(series("vtrack_zone_entries_total", "lot")) >= 1  # someone entered (the fixture saw it)
    assert series("vtrack_zone_exits_total", "late") == [0.0, 0.0]  # failed stream: series at 0


def test_zone_route_from_memory(api: httpx.Client) -> None:
    def rows() -> list[dict[str, Any]]:
        return list(api.get("/api/streams/lot/zones").json()["rows"])

    _wait(lambda: bool(rows()), what="hourly zone figures")  # published at most 1 s late
    r = api.get("/api/streams/lot/zones", params={"bucket": "hour"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "memory" and body["bucket"] == "hour" and body["stream"] == "lot"
    assert {(row["zone"], row["class"]) for row in body["rows"]} <= {("lot", "person"), ("lot", "bicycle")}
    assert all(row["mean_occupancy"] is not None for row in body["rows"])  # hour buckets
    entered = [row for row in body["rows"] if row["entries"] >= 1]
    assert entered and all(row["max_occupancy"] >= 1 and row["mean_occupancy"] > 0 for row in entered)
    day = api.get("/api/streams/lot/zones", params={"bucket": "day", "zone": "lot"}).json()
    assert day["rows"] and day["rows"][0]["mean_occupancy"] is None  # kept per hour only
    assert api.get("/api/streams/lot/zones", params={"zone": "nope"}).json()["rows"] == []


@pytest.mark.parametrize(
    ("path", "params", "status", "word"),
    [
        ("/api/streams/nope/zones", {}, 404, "nope"),
        ("/api/streams/lot/zones", {"bucket": "week"}, 422, "bucket"),
        ("/api/streams/lot/zones", {"bucket": "15min"}, 422, "store"),
        ("/api/streams/lot/zones", {"from": "yesterday"}, 422, "ISO 8601"),
        ("/api/streams/lot/zones", {"from": "2026-01-02", "to": "2026-01-01"}, 422, "before"),
        ("/api/streams/nope/restart", {}, 404, "nope"),
    ],
)
def test_zone_and_restart_errors(
    api: httpx.Client, path: str, params: dict[str, str], status: int, word: str
) -> None:
    r = api.post(path) if path.endswith("/restart") else api.get(path, params=params)
    assert r.status_code == status, r.text
    assert word in r.json()["detail"]


def test_failed_stream_makes_readyz_503_until_restarted(
    api: httpx.Client, served: tuple[Server, Path], shared: Path
) -> None:
    _, tmp = served
    _wait(lambda: api.get("/api/streams/late").json()["state"] == "failed", what="late failed")
    s = api.get("/api/streams/late").json()
    assert "late.mp4" in s["last_error"]
    r = api.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["failed"] == ["late"] and "late" in r.json()["detail"]
    assert api.get("/healthz").status_code == 200
    os.symlink(shared / CLIP, tmp / "late.mp4")  # the file appears (a link: no copy of the asset)
    r = api.post("/api/streams/late/restart")
    assert r.status_code == 200, r.text
    assert r.json()["restarts"] == 1
    _wait(lambda: api.get("/api/streams/late").json()["state"] == "running", what="late running")
    _wait(lambda: api.get("/readyz").status_code == 200, what="ready again")
    assert api.get("/readyz").json()["failed"] == []
    _wait(lambda: _occupied(api, "late") > 0, timeout=90, what="objects in late's zone")


def test_restart_keeps_the_counts(api: httpx.Client) -> None:
    def entries() -> int:
        return sum(int(row["entries"]) for row in api.get("/api/streams/lot/zones").json()["rows"])

    before, frames = entries(), api.get("/api/streams/lot").json()["frames_processed"]
    assert before >= 1
    r = api.post("/api/streams/lot/restart")
    assert r.status_code == 200, r.text
    assert r.json()["restarts"] == 1 and r.json()["frames_processed"] >= frames  # not reset
    _wait(lambda: api.get("/api/streams/lot").json()["state"] == "running", what="lot running again")
    assert entries() >= before  # the counters carried on


def test_zz_output_files(api: httpx.Client, served: tuple[Server, Path]) -> None:
    # runs last: removing the stream closes its segment (CSVs written, JSONL fsynced)
    _, tmp = served
    assert api.delete("/api/streams/lot").status_code == 204
    segments = sorted((tmp / "out" / "lot").iterdir())
    assert len(segments) == 2  # one before the restart, one after
    for seg in segments:
        assert {p.name for p in seg.iterdir()} == {
            "events.jsonl", "counts.csv", "zone_events.jsonl", "zones.csv"
        }
    first = segments[0]
    events = [json.loads(x) for x in (first / "zone_events.jsonl").read_text().splitlines()]
    assert events and events[0]["zone"] == "lot" and events[0]["kind"] == "enter"
    zones = list(csv.DictReader((first / "zones.csv").open()))
    assert zones and zones[0]["zone"] == "lot" and int(zones[0]["entries"]) >= 1
    assert (first / "counts.csv").read_text().startswith("hour_start,line,class,direction,count")


def test_zone_route_from_the_store(shared: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared, tmp_path, store=f"sqlite:///{tmp_path / 'counts.db'}")
    cfg.streams = cfg.streams[:1]
    cfg.streams[0].outputs = False
    with Server(cfg) as srv, httpx.Client(base_url=srv.base, timeout=30) as c:

        def stored() -> list[dict[str, Any]]:
            r = c.get("/api/streams/lot/zones")
            assert r.status_code == 200, r.text
            assert r.json()["source"] == "store"
            return list(r.json()["rows"])

        _wait(lambda: bool(stored()), timeout=90, what="zone figures in the store")
        _wait(lambda: any(row["entries"] >= 1 for row in stored()), timeout=60, what="a stored entry")
        assert all(row["zone"] == "lot" and row["mean_occupancy"] is not None for row in stored())
        assert c.get("/api/streams/lot/zones", params={"bucket": "15min"}).status_code == 200
