"""Zones beyond the counter: config and flags, zone file writers, zone drawing, the summary section."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from vtrack.cli.common import build_run_config
from vtrack.config import RunConfig, zones_from_flags
from vtrack.errors import ConfigError
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.exporters.files import ZONES_CSV_HEADER, ZoneEventsJsonlExporter, ZonesCsvExporter
from vtrack.geometry import Polygon
from vtrack.job import zone_summary
from vtrack.types import Frame, FrameResult, ZoneEvent

T0 = datetime(2024, 5, 1, 8, 59, 58, tzinfo=timezone.utc)
W, H = 320, 240
ZONE = Polygon("lot", ((40, 40), (200, 40), (200, 200), (40, 200)))


def frame_result(
    i: int = 0,
    zone_events: list[ZoneEvent] | None = None,
    occupancy: dict[str, dict[str, int]] | None = None,
    sec: float = 0.0,
) -> FrameResult:
    det = sv.Detections(xyxy=np.empty((0, 4), np.float32), tracker_id=np.empty(0, np.int64))
    return FrameResult(
        Frame(np.full((H, W, 3), 40, np.uint8), i, i / 10), det, time=T0 + timedelta(seconds=sec),
        zone_events=zone_events or [], occupancy=occupancy,
    )


def zev(sec: float, kind: str, tid: int = 1, dwell: float | None = None) -> ZoneEvent:
    return ZoneEvent(T0 + timedelta(seconds=sec), int(sec * 10), tid, "car", "lot", kind, dwell)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ config
def test_config_zones_from_yaml_mapping_and_flags() -> None:
    cfg = RunConfig.model_validate(
        {"counting": {"zones": [{"name": "lot", "points": [[0.2, 0.2], [0.8, 0.2], [0.5, 0.9]]}]}}
    )
    poly = cfg.counting.zones[0].spec()
    assert poly.name == "lot" and poly.points == ((0.2, 0.2), (0.8, 0.2), (0.5, 0.9))
    (flag,) = zones_from_flags(["lot=0.2,0.2,0.8,0.2,0.5,0.9"])
    assert flag == cfg.counting.zones[0]
    merged = build_run_config(None, {"counting.zones": [flag.model_dump()]})
    assert merged.counting.zones == cfg.counting.zones


@pytest.mark.parametrize(
    ("zones", "match"),
    [
        ([{"name": "a", "points": [[0, 0], [1, 1]]}], "at least 3"),
        ([{"name": "a", "points": [[0, 0], [1, 0], [1, -1]]}], "≥ 0"),
        ([{"name": "a b", "points": [[0, 0], [1, 0], [1, 1]]}], "pattern"),
        ([{"name": "a", "points": [[0, 0], [1, 0], [1, 1]]}] * 2, "zone names must be unique"),
        ([{"name": "a", "points": [[0, 0], [1, 0], [1, 1]], "colour": "red"}], "colour: unknown key"),
    ],
)
def test_config_rejects_bad_zones(zones: list[dict], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_run_config(None, {"counting.zones": zones})


# -------------------------------------------------------------------------------- writers
def test_zone_events_jsonl_writes_each_frames_zone_events(tmp_path: Path) -> None:
    ex = ZoneEventsJsonlExporter(tmp_path / "zone_events.jsonl")
    ex.write(frame_result(0, [zev(0, "enter")]))
    ex.write(frame_result(1))
    ex.write(frame_result(2, [zev(3, "exit", dwell=3.0)]))
    ex.close()
    rows = [json.loads(line) for line in (tmp_path / "zone_events.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["dwell_seconds"]) for r in rows] == [("enter", None), ("exit", 3.0)]
    assert set(rows[0]) == {"time", "frame", "track_id", "class", "zone", "kind", "dwell_seconds"}
    assert ex.events_written == 2


def test_zones_csv_renders_hourly_rows_aggregated_from_the_frames(tmp_path: Path) -> None:
    ex = ZonesCsvExporter(tmp_path / "zones.csv", checkpoint_interval_s=None)
    ex.write(frame_result(0, [zev(0, "enter")], {"lot": {"car": 1}}))
    ex.write(frame_result(40, [zev(4, "exit", dwell=4.0)], {"lot": {"car": 0}}, sec=4))  # spans 09:00
    ex.close()
    rows = list(csv.reader(io.StringIO((tmp_path / "zones.csv").read_text())))
    assert tuple(rows[0]) == ZONES_CSV_HEADER
    assert rows[1:] == [
        ["2024-05-01T08:00:00+00:00", "lot", "car", "1", "0", "1", "1.000", ""],
        ["2024-05-01T09:00:00+00:00", "lot", "car", "0", "1", "1", "0.333", "4.00"],
    ]


def test_zones_csv_without_frames_is_header_only(tmp_path: Path) -> None:
    ex = ZonesCsvExporter(tmp_path / "zones.csv")
    ex.close()
    assert (tmp_path / "zones.csv").read_text().splitlines() == [",".join(ZONES_CSV_HEADER)]


# -------------------------------------------------------------------------------- drawing
def test_annotator_tints_the_zone_draws_its_label_and_leaves_the_rest() -> None:
    occupancy = {"lot": {"car": 2, "truck": 0}}
    ann = FrameAnnotator([], zones=[ZONE], trail_length_frames=0)
    r = frame_result(occupancy=occupancy)
    out = ann.annotate(r)
    assert out.shape == (H, W, 3)
    assert not np.array_equal(out[120, 120], r.frame.image[120, 120])  # tinted inside
    assert np.array_equal(out[230, 300], r.frame.image[230, 300])  # far outside: untouched
    assert ann.zone_label_rows(ZONE, occupancy["lot"]) == ["lot 2", "car 2"]
    assert ann.zone_label_rows(ZONE, None) == ["lot"]


# -------------------------------------------------------------------------------- summary
def test_zone_summary_lists_every_zone_and_configured_class() -> None:
    cfg = RunConfig.model_validate(
        {
            "classes": ["car", "bus"],
            "counting": {"zones": [{"name": n, "points": [[0, 0], [1, 0], [1, 1]]} for n in ("a", "b")]},
        }
    )
    totals = {"a": {"car": {"entries": 3, "exits": 2, "max_occupancy": 2}}, "b": {}}
    zero = {"entries": 0, "exits": 0, "max_occupancy": 0}
    assert zone_summary(cfg, totals) == {
        "a": {"bus": zero, "car": {"entries": 3, "exits": 2, "max_occupancy": 2}},
        "b": {"bus": zero, "car": zero},
    }
