"""End to end: ``vtrack run`` on real media with the real model, as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import av
import pytest

pytestmark = [pytest.mark.assets, pytest.mark.slow]


def vtrack(*args: str | os.PathLike[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_video(path: Path) -> tuple[str, str, int, float]:
    """codec, pix_fmt, decoded frame count, average rate."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return s.codec_context.name, s.codec_context.pix_fmt, n, float(s.average_rate)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bicycle_run(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bike")
    r = vtrack(
        "run", shared / "media/video/bicycle_tracking_sample.mp4",
        "--model", shared / "models/yolov8n.onnx",
        "--classes", "bicycle", "--line", "gate=400,250,400,650",
        "--start-time", "2026-05-01T08:59:55+02:00", "--out", out, "--quiet",
    )
    assert r.returncode == 0, r.stderr
    return out


def test_bicycle_clip_counts_cyclists_riding_out(bicycle_run: Path) -> None:
    summary = json.loads((bicycle_run / "summary.json").read_text())
    assert summary["frames"] == 300
    assert summary["fps"] == pytest.approx(30.0, abs=0.01)
    assert summary["start_time_source"] == "flag"
    gate = summary["lines"]["gate"]["bicycle"]
    # The riders move right to left across a line drawn top→bottom: that is "out".
    assert gate["out"] >= 3, summary
    assert gate["in"] <= 1, summary
    assert gate["out"] > gate["in"]
    assert summary["classes"]["bicycle"] >= gate["out"]


def test_bicycle_outputs_are_complete_and_consistent(bicycle_run: Path) -> None:
    summary = json.loads((bicycle_run / "summary.json").read_text())
    codec, pix_fmt, n, rate = read_video(bicycle_run / "annotated.mp4")
    assert (codec, pix_fmt, n) == ("h264", "yuv420p", 300)
    assert rate == pytest.approx(30.0, abs=0.01)

    events = read_events(bicycle_run / "events.jsonl")
    assert {e["line"] for e in events} == {"gate"}
    assert all(set(e) == {"time", "frame", "track_id", "class", "line", "direction"} for e in events)
    by_dir = Counter(e["direction"] for e in events)
    assert by_dir["out"] == summary["lines"]["gate"]["bicycle"]["out"]
    assert by_dir["in"] == summary["lines"]["gate"]["bicycle"]["in"]
    # every settled crossing counts, but no rider in this clip rides back: one count per track
    assert len({(e["track_id"], e["direction"]) for e in events}) == len(events)
    # start 08:59:55 + up to 10 s of video: events fall in the 08:00 and 09:00 hours (+02:00)
    assert all(e["time"].startswith("2026-05-01T0") and e["time"].endswith("+02:00") for e in events)

    with (bicycle_run / "counts.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["count"]) for r in rows) == len(events)
    assert {r["hour_start"][:13] for r in rows} <= {"2026-05-01T08", "2026-05-01T09"}

    mot = [ln.split(",") for ln in (bicycle_run / "tracks.txt").read_text().splitlines()]
    assert mot and all(len(r) == 10 for r in mot)
    frames = [int(r[0]) for r in mot]
    assert min(frames) >= 1 and max(frames) <= 300
    ids = {int(r[1]) for r in mot}
    assert {e["track_id"] for e in events} <= ids


def test_tud_campus_in_out_close_to_ground_truth(shared: Path, tmp_path: Path) -> None:
    seq = shared / "mot/TUD-Campus"
    r = vtrack(
        "run", seq / "img1", "--model", shared / "models/yolov8n.onnx",
        "--classes", "person", "--line", "mid=320,0,320,480", "--out", tmp_path, "--quiet", "--no-video",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == 71
    assert summary["fps"] == pytest.approx(25.0)  # from seqinfo.ini
    mid = summary["lines"]["mid"]["person"]
    # Ground truth at this line: 4 in (left→right), 1 out.
    assert abs(mid["in"] - 4) <= 1, mid
    assert abs(mid["out"] - 1) <= 1, mid
    assert not (tmp_path / "annotated.mp4").exists()


def test_segmenter_draws_masks(shared: Path, tmp_path: Path) -> None:
    seq = shared / "mot/TUD-Campus"
    r = vtrack(
        "run", seq / "img1", "--model", shared / "models/yolov8n-seg.onnx",
        "--classes", "person", "--line", "mid=0.5,0,0.5,1", "--out", tmp_path, "--quiet",
    )
    assert r.returncode == 0, r.stderr
    codec, _, n, _ = read_video(tmp_path / "annotated.mp4")
    assert (codec, n) == ("h264", 71)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["classes"].get("person", 0) >= 4


def test_sigint_leaves_complete_outputs(shared: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "vtrack.cli", "run",
            str(shared / "media/video/bicycle_tracking_sample.mp4"),
            "--model", str(shared / "models/yolov8n.onnx"), "--classes", "bicycle",
            "--line", "gate=400,250,400,650", "--out", str(tmp_path), "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120  # model load, then a few frames of a ~15 s run
    while not any(p.stat().st_size > 0 for p in tmp_path.glob("tracks.txt*")):
        assert proc.poll() is None and time.monotonic() < deadline, "no frame was written"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert 0 < summary["frames"] < 300
    _, _, n, _ = read_video(tmp_path / "annotated.mp4")
    assert n == summary["frames"]
    for line in (tmp_path / "events.jsonl").read_text().splitlines():
        json.loads(line)
