"""The merged batch summary, from synthetic per-item outputs; HF-shaped photo detections."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import supervision as sv

from vtrack.batch.merge import MergeEntry, merge_batch
from vtrack.batch.photos import hf_detections, render_counts_csv


def write_video_outputs(folder: Path, counts: str, lines: dict, classes: dict, frames: int) -> None:
    folder.mkdir(parents=True)
    (folder / "counts.csv").write_text("hour_start,line,class,direction,count\n" + counts)
    summary = {"frames": frames, "seconds": frames / 10, "fps": 10.0, "start_time": "x", "lines": lines,
               "classes": classes}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))


def test_merge_sums_lines_hours_classes_and_keeps_failures(tmp_path: Path) -> None:
    write_video_outputs(
        tmp_path / "a",
        "2024-05-01T10:00:00+02:00,gate,bicycle,in,3\n2024-05-01T11:00:00+02:00,gate,bicycle,out,1\n",
        {"gate": {"bicycle": {"in": 3, "out": 1}}},
        {"bicycle": 4},
        100,
    )
    write_video_outputs(
        tmp_path / "b",
        "2024-05-01T08:00:00+00:00,gate,bicycle,in,2\n",  # the same UTC hour as a's first row
        {"gate": {"bicycle": {"in": 2, "out": 0}, "person": {"in": 0, "out": 0}}},
        {"bicycle": 2, "person": 1},
        50,
    )
    (tmp_path / "p").mkdir()
    (tmp_path / "p/summary.json").write_text(json.dumps({"images": 3, "detections": {"bicycle": 5}}))
    entries = [
        MergeEntry("a", "video", "/in/a.mp4", "done"),
        MergeEntry("bad", "video", "/in/bad.mp4", "failed", "cannot open"),
        MergeEntry("b", "video", "/in/b.mp4", "done"),
        MergeEntry("p", "photos", "/in/p", "done"),
    ]
    csv_text, summary = merge_batch(tmp_path, entries)
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(r["file"], r["direction"], r["count"]) for r in rows] == [
        ("a", "in", "3"),
        ("a", "out", "1"),
        ("b", "in", "2"),
        ("p", "", "5"),
    ]
    t = summary["totals"]
    assert (t["files"], t["done"], t["failed"], t["frames"], t["images"]) == (4, 3, 1, 150, 3)
    assert t["lines"] == {"gate": {"bicycle": {"in": 5, "out": 1}, "person": {"in": 0, "out": 0}}}
    assert [(h["hour_start"], h["direction"], h["count"]) for h in t["hourly_utc"]] == [
        ("2024-05-01T08:00:00+00:00", "in", 5),
        ("2024-05-01T09:00:00+00:00", "out", 1),
    ]
    assert t["tracks"] == {"bicycle": 6, "person": 1}
    assert t["detections"] == {"bicycle": 5}
    assert summary["files"][1] == {
        "file": "bad", "kind": "video", "input": "/in/bad.mp4", "status": "failed", "error": "cannot open"
    }  # fmt: skip
    assert [f["file"] for f in summary["files"]] == ["a", "bad", "b", "p"]


def test_merge_is_deterministic(tmp_path: Path) -> None:
    write_video_outputs(tmp_path / "a", "", {}, {}, 10)
    entries = [MergeEntry("a", "video", "/in/a.mp4", "done")]
    assert merge_batch(tmp_path, entries) == merge_batch(tmp_path, entries)


def test_hf_detections_shape_ints_and_order() -> None:
    det = sv.Detections(
        xyxy=np.array([[10.4, 20.6, 100.5, 300.0], [-5.0, 0.0, 700.0, 50.0]], dtype=np.float32),
        confidence=np.array([0.3, 0.9], dtype=np.float32),
        class_id=np.array([1, 0]),
        data={"class_name": np.array(["bicycle", "person"])},
    )
    out = hf_detections(det, width=640, height=480)
    assert out[0]["label"] == "person" and out[0]["box"] == {"xmin": 0, "ymin": 0, "xmax": 640, "ymax": 50}
    assert out[1] == {
        "score": 0.3, "label": "bicycle", "box": {"xmin": 10, "ymin": 21, "xmax": 100, "ymax": 300}
    }  # fmt: skip
    assert all(isinstance(v, int) for d in out for v in d["box"].values())
    assert isinstance(out[0]["score"], float)


def test_counts_csv_columns() -> None:
    rows = [("a.jpg", Counter({"bicycle": 2})), ("b.jpg", Counter())]
    assert render_counts_csv(rows, None) == "image,total,bicycle\na.jpg,2,2\nb.jpg,0,0\n"
    assert render_counts_csv(rows, ["person", "bicycle"]) == (
        "image,total,person,bicycle\na.jpg,2,0,2\nb.jpg,0,0,0\n"
    )
