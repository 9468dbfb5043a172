"""Crash test of the count store: SIGKILL a `vtrack run` halfway, run it again with the same run id.

The final counts must equal those of an uninterrupted run, and `vtrack counts` must print the same
totals as summary.json.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.assets, pytest.mark.slow]

STREAM = "bicycle_tracking_sample"
KILL_AFTER_EVENTS = 4  # of ~15-19 on this clip: the first ~third of the video has been processed


def vtrack_args(shared: Path, db: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "vtrack.cli", "run", str(shared / "media/video/bicycle_tracking_sample.mp4"),
        "--model", str(shared / "models/yolov8n.onnx"), "--classes", "bicycle",
        "--line", "gate=400,250,400,650", "--no-video", "--quiet", "--stride", "2",
        "--store", f"sqlite:///{db}", "--run-id", "r1", "--out", str(out),
    ]


def committed_events(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute("SELECT COUNT(*) FROM vtrack_crossings").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def store_counts(db: Path) -> Counter[tuple[str, str, str, str]]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT stream, line, class, direction FROM vtrack_crossings WHERE run_id = 'r1'")
        return Counter(tuple(r) for r in rows)


def summary_counts(out: Path) -> Counter[tuple[str, str, str, str]]:
    summary = json.loads((out / "summary.json").read_text())
    return Counter(
        {
            (STREAM, line, cls, d): n
            for line, per in summary["lines"].items()
            for cls, c in per.items()
            for d, n in c.items()
            if n
        }
    )


def test_sigkill_then_rerun_equals_uninterrupted_run(shared: Path, tmp_path: Path) -> None:
    # the uninterrupted reference run
    ref_db, ref_out = tmp_path / "ref.db", tmp_path / "ref"
    r = subprocess.run(vtrack_args(shared, ref_db, ref_out), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    reference = store_counts(ref_db)
    assert reference == summary_counts(ref_out)
    assert sum(reference.values()) >= 3

    # killed about halfway, once some events are committed
    db, out = tmp_path / "crash.db", tmp_path / "crash"
    proc = subprocess.Popen(vtrack_args(shared, db, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 500
        while committed_events(db) < KILL_AFTER_EVENTS and proc.poll() is None:
            assert time.monotonic() < deadline, "no events committed in time"
            time.sleep(0.1)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    partial = committed_events(db)
    assert KILL_AFTER_EVENTS <= partial < sum(reference.values())
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT status FROM vtrack_runs WHERE run_id = 'r1'").fetchone() == ("running",)

    # the same run again: replaces the partial attempt, never doubles
    r = subprocess.run(vtrack_args(shared, db, out), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert store_counts(db) == reference
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT status FROM vtrack_runs WHERE run_id = 'r1'").fetchone() == ("finished",)
        hourly = c.execute("SELECT SUM(count) FROM vtrack_hourly WHERE run_id = 'r1'").fetchone()[0]
    assert hourly == sum(reference.values())
    assert json.loads((out / "summary.json").read_text())["store"]["run_id"] == "r1"

    # `vtrack counts` prints the same totals as summary.json
    q = subprocess.run(
        [sys.executable, "-m", "vtrack.cli", "counts", "--store", f"sqlite:///{db}", "--stream", STREAM,
         "--by", "hour", "--format", "csv"],
        capture_output=True, text=True, timeout=120,
    )
    assert q.returncode == 0, q.stderr
    rows = list(csv.DictReader(io.StringIO(q.stdout)))
    assert rows and set(rows[0]) == {"bucket_start", "stream", "line", "class", "direction", "count"}
    totals: Counter[tuple[str, str, str, str]] = Counter()
    for row in rows:
        totals[(row["stream"], row["line"], row["class"], row["direction"])] += int(row["count"])
    assert totals == summary_counts(out) == reference
