"""End to end: ``vtrack batch`` as a user runs it (a subprocess), on the shared media and model."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.assets, pytest.mark.slow]

STRIDE = "10"
TIMEOUT_S = 300


def vtrack(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def manifest(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines() if x.strip()]


def without_run(summary_path: Path) -> dict:
    s = json.loads(summary_path.read_text())
    s.pop("run")
    return s


@pytest.fixture(scope="module")
def model(shared: Path) -> Path:
    return shared / "models/yolov8n.onnx"


@pytest.fixture(scope="module")
def clips(shared: Path) -> list[Path]:
    v = shared / "media/video"
    return [v / "mmtracking_demo_street_night_8frames.mp4", v / "intel_car_detection_parking_topdown.mp4"]


def video_args(model: Path) -> list[str | Path]:
    return ["--model", model, "--stride", STRIDE, "--no-video", "--line", "gate=0.5,0,0.5,1", "-q"]


def test_photo_folder_gives_hf_shaped_detections_with_bicycles(
    shared: Path, model: Path, tmp_path: Path
) -> None:
    folder = shared / "media/scan_car_bikes"
    r = vtrack("batch", folder, "--out", tmp_path, "--model", model, "--images-annotated", "-q")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "scan_car_bikes"
    records = [json.loads(x) for x in (out / "detections.jsonl").read_text().splitlines()]
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    assert sorted(Path(rec["image"]).name for rec in records) == [p.name for p in images]
    for rec in records:
        assert set(rec) >= {"image", "detections"}
        for d in rec["detections"]:
            assert set(d) == {"score", "label", "box"}
            assert isinstance(d["score"], float) and 0 < d["score"] <= 1
            assert set(d["box"]) == {"xmin", "ymin", "xmax", "ymax"}
            assert all(isinstance(v, int) for v in d["box"].values())
            assert d["box"]["xmin"] <= d["box"]["xmax"] and d["box"]["ymin"] <= d["box"]["ymax"]
    with_bikes = [rec for rec in records if any(d["label"] == "bicycle" for d in rec["detections"])]
    assert len(with_bikes) >= len(records) // 2, "bicycles should be found in most bike photos"
    rows = list(csv.DictReader((out / "counts.csv").open()))
    assert len(rows) == len(records) and "bicycle" in rows[0]
    assert sum(int(r["bicycle"]) for r in rows) == sum(
        d["label"] == "bicycle" for rec in records for d in rec["detections"]
    )
    assert len(list((out / "annotated").glob("*.jpg"))) == len(records)
    merged = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert {"file": "scan_car_bikes", "kind": "photos", "class": "bicycle"}.items() <= next(
        r for r in merged if r["class"] == "bicycle"
    ).items()


def test_corrupt_file_is_reported_and_the_rest_processed(
    clips: list[Path], model: Path, tmp_path: Path
) -> None:
    data = clips[1].read_bytes()
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "headless.mp4").write_bytes(data[65536:400_000])  # no container header: cannot open
    (bad / "junk.mp4").write_bytes(b"this is not a video\n" * 100)
    (bad / "truncated.mp4").write_bytes(data[:200_000])  # header kept, cut short: partly decodable
    out = tmp_path / "out"
    r = vtrack("batch", clips[0], bad, "--out", out, *video_args(model))
    assert r.returncode == 3, r.stderr
    failed_lines = [x for x in r.stderr.splitlines() if x.startswith("failed:")]
    assert sorted(Path(x.split(": ")[1]).name for x in failed_lines) == ["headless.mp4", "junk.mp4"]
    assert any(x.startswith("warning:") and "truncated.mp4" in x for x in r.stderr.splitlines())
    summary = json.loads((out / "summary.json").read_text())
    status = {f["file"]: f for f in summary["files"]}
    assert status[clips[0].stem]["status"] == "done"
    assert status["truncated"]["status"] == "done" and status["truncated"]["decode_errors"] > 0
    for name in ("headless", "junk"):
        assert status[name]["status"] == "failed" and status[name]["error"]
        assert not (out / name).exists()
    assert (summary["totals"]["done"], summary["totals"]["failed"]) == (2, 2)
    assert (out / clips[0].stem / "counts.csv").is_file()


@pytest.fixture(scope="module")
def uninterrupted(clips: list[Path], model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batch_ref")
    r = vtrack("batch", *clips, "--out", out, "--workers", "2", *video_args(model))
    assert r.returncode == 0, r.stderr
    return out


def test_killed_batch_resumes_without_redoing_finished_files(
    clips: list[Path], model: Path, tmp_path: Path, uninterrupted: Path
) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vtrack.cli", "batch", *map(str, clips), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(
        [*cmd, *map(str, video_args(model))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "manifest.jsonl").is_file() and manifest(out):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed: " + (proc.stderr.read() or "")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    first = manifest(out)
    assert [m["name"] for m in first] == [clips[0].stem]
    first_done = (out / clips[0].stem / "summary.json").stat().st_mtime_ns
    time.sleep(1.0)  # the orphaned worker notices its parent is gone and exits

    r = vtrack("batch", *clips, "--out", out, "--workers", "1", *video_args(model))
    assert r.returncode == 0, r.stderr
    records = manifest(out)
    assert [m["name"] for m in records] == [clips[0].stem, clips[1].stem]  # the first was not redone
    assert (out / clips[0].stem / "summary.json").stat().st_mtime_ns == first_done
    s = json.loads((out / "summary.json").read_text())
    assert (s["run"]["skipped"], s["run"]["processed"]) == (1, 1)
    assert not (out / ".partial").exists()

    assert (out / "summary.csv").read_text() == (uninterrupted / "summary.csv").read_text()
    assert without_run(out / "summary.json") == without_run(uninterrupted / "summary.json")

    # a third run has nothing to do; changed settings redo everything
    r = vtrack("batch", *clips, "--out", out, *video_args(model))
    assert r.returncode == 0 and len(manifest(out)) == 2
    r = vtrack("batch", clips[0], "--out", out, *video_args(model), "--conf", "0.5")
    assert r.returncode == 0 and len(manifest(out)) == 3
