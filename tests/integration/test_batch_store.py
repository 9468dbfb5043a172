"""`vtrack batch --store` and interrupted store runs, end to end (subprocesses, the real detector).

The batch runs on two short clips re-encoded from ../shared's bicycle video into ``tmp_path`` (60 and 72
frames at stride 2: about 65 detector frames per batch), against SQLite and a real PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vtrack.cli import app
from vtrack.exporters.store import CountFilter, open_store

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TIMEOUT_S = 600
BICYCLES = "media/video/bicycle_tracking_sample.mp4"
CLIPS = {"cam_a": (140, 200), "cam_b": (190, 262)}  # [first, last) frames: where most crossings are
START = "2026-05-01T06:59:58+02:00"  # the clips' crossings straddle 07:00 local
COUNTING = [
    "--stride", "2", "--classes", "bicycle,person", "--no-video",
    "--line", "gate=400,250,400,650", "--line", "v=0.5,0,0.5,1",
]
Key = tuple[str, str, str]  # line, class, direction


def vtrack(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )


def make_clip(src: Path, dst: Path, first: int, last: int) -> None:
    """Re-encode frames ``[first, last)`` of ``src`` into ``dst`` (H.264, same size and rate)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s = inp.streams.video[0]
        o = out.add_stream("libx264", rate=s.average_rate)
        o.width, o.height, o.pix_fmt = s.width, s.height, "yuv420p"
        o.options = {"preset": "ultrafast", "crf": "18"}
        for i, frame in enumerate(inp.decode(s)):
            if i >= last:
                break
            if i >= first:
                for p in o.encode(frame.reformat(format="yuv420p")):
                    out.mux(p)
        for p in o.encode():
            out.mux(p)


@pytest.fixture(scope="module")
def clips(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    out = []
    for name, (first, last) in CLIPS.items():
        make_clip(shared / BICYCLES, folder / f"{name}.mp4", first, last)
        out.append(folder / f"{name}.mp4")
    return out


def url_of(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'counts.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return url_of(request.param, request, tmp_path)


def batch(shared: Path, clips: list[Path], out: Path, url: str, *extra: str) -> dict[str, Any]:
    r = vtrack(
        "batch", *clips, "--out", out, "--model", shared / "models/yolov8n.onnx", *COUNTING,
        "--store", url, "--start-time", START, "--tz", "Europe/Amsterdam", "-q", *extra,
    )
    assert r.returncode == 0, r.stderr
    return json.loads((out / "summary.json").read_text())


def counts_csv(url: str, *extra: str) -> list[dict[str, str]]:
    """``vtrack counts --by hour --format csv`` (in-process: the batch is the subprocess here)."""
    r = CliRunner().invoke(app, ["counts", "--store", url, "--by", "hour", "--format", "csv", *extra])
    assert r.exit_code == 0, r.output
    return list(csv.DictReader(io.StringIO(r.stdout)))


def runs(url: str) -> list[dict[str, Any]]:
    r = CliRunner().invoke(app, ["counts", "--store", url, "--runs", "--format", "json"])
    assert r.exit_code == 0, r.output
    return list(json.loads(r.stdout)["runs"])


def totals_of_counts(rows: list[dict[str, str]]) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for row in rows:
        out[(row["line"], row["class"], row["direction"])] += int(row["count"])
    return out


def totals_of_lines(lines: dict[str, dict[str, dict[str, int]]]) -> Counter[Key]:
    return Counter(
        {(ln, cls, d): n for ln, per in lines.items() for cls, c in per.items() for d, n in c.items() if n}
    )


def hourly_of_counts(rows: list[dict[str, str]]) -> Counter[tuple[datetime, str, str, str]]:
    out: Counter[tuple[datetime, str, str, str]] = Counter()
    for row in rows:
        key = (datetime.fromisoformat(row["bucket_start"]), row["line"], row["class"], row["direction"])
        out[key] += int(row["count"])
    return out


def test_batch_store_totals_match_the_summary_and_a_rerun_replaces(
    shared: Path, clips: list[Path], store_url: str, tmp_path: Path
) -> None:
    summary = batch(shared, clips, tmp_path / "out1", store_url, "--run-id", "b1")
    expected = totals_of_lines(summary["totals"]["lines"])
    assert sum(expected.values()) >= 4, "the clips should have crossings"
    assert summary["store"]["run_id"] == "b1"

    # `vtrack counts` totals equal the batch summary's, per stream and per UTC hour too
    rows = counts_csv(store_url)
    assert totals_of_counts(rows) == expected
    for f in summary["files"]:
        assert f["store"] == {**f["store"], "run_id": "b1", "stream": f["file"]}
        assert totals_of_counts(counts_csv(store_url, "--stream", f["file"])) == totals_of_lines(f["lines"])
    utc_rows = counts_csv(store_url, "--tz", "UTC")
    assert hourly_of_counts(utc_rows) == Counter(
        {
            (datetime.fromisoformat(h["hour_start"]), h["line"], h["class"], h["direction"]): h["count"]
            for h in summary["totals"]["hourly_utc"]
        }
    )
    assert {r["bucket_start"] for r in rows} <= {"2026-05-01T06:00:00+02:00", "2026-05-01T07:00:00+02:00"}

    stored = runs(store_url)
    assert sorted((r["run_id"], r["stream"], r["status"]) for r in stored) == [
        ("b1", "cam_a", "finished"), ("b1", "cam_b", "finished")
    ]
    assert all(r["start_time_source"] == "flag" and r["timezone"] == "Europe/Amsterdam" for r in stored)
    assert sum(r["events"] for r in stored) == sum(expected.values())

    # the same batch again into the same folder: skipped, the store untouched
    again = batch(shared, clips, tmp_path / "out1", store_url, "--run-id", "b1")
    assert again["run"]["skipped"] == 2
    assert totals_of_counts(counts_csv(store_url)) == expected

    # processed again (a fresh --out) with the same run id: replaced, never doubled
    redo = batch(shared, clips, tmp_path / "out2", store_url, "--run-id", "b1")
    assert redo["run"]["processed"] == 2
    assert totals_of_lines(redo["totals"]["lines"]) == expected  # the pipeline is deterministic
    assert totals_of_counts(counts_csv(store_url)) == expected
    assert [(r["stream"], r["status"], r["events"]) for r in runs(store_url)] == [
        (r["stream"], "finished", r["events"]) for r in stored
    ]


def committed(url: str) -> tuple[str | None, int]:
    """The status and committed events of the only run in the store (``None, 0`` before it exists)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return None, 0
    with open_store(url) as st:  # type: ignore[attr-defined]
        found = st.runs(CountFilter())
    return (found[0].status, found[0].events) if found else (None, 0)


def wait_for_an_event(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S - 60
    while committed(url)[1] < 1:
        assert proc.poll() is None, "the run ended before its first crossing was committed"
        assert time.monotonic() < deadline, "no crossing committed in time"
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"


def run_args(shared: Path, url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "vtrack.cli", "run", str(shared / BICYCLES),
        "--model", str(shared / "models/yolov8n.onnx"), *COUNTING, "--store", url, "--run-id", "r1",
        "--out", str(out), "-q", *extra,
    ]


@pytest.mark.parametrize(
    ("backend", "sig"),
    [("sqlite", signal.SIGINT), ("sqlite", signal.SIGTERM), ("postgresql", signal.SIGTERM)],
    ids=["sqlite-SIGINT", "sqlite-SIGTERM", "postgresql-SIGTERM"],
)
def test_signalled_run_is_interrupted_keeps_its_counts_and_a_full_rerun_finishes(
    shared: Path, request: pytest.FixtureRequest, tmp_path: Path, backend: str, sig: signal.Signals
) -> None:
    store_url = url_of(backend, request, tmp_path)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        run_args(shared, store_url, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_an_event(proc, store_url)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == 130, err.decode(errors="replace")[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    status, events = committed(store_url)
    assert status == "interrupted"
    expected = totals_of_lines(summary["lines"])
    assert events == sum(expected.values()) >= 1  # every crossing so far was committed
    assert totals_of_counts(counts_csv(store_url)) == expected

    if sig == signal.SIGTERM:  # a later run with the same id that completes: finished, replaced
        r = subprocess.run(
            run_args(shared, store_url, tmp_path / "rerun", "--stride", "10"),
            capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        )
        assert r.returncode == 0, r.stderr
        rerun = totals_of_lines(json.loads((tmp_path / "rerun/summary.json").read_text())["lines"])
        assert committed(store_url) == ("finished", sum(rerun.values()))


@pytest.mark.parametrize("group", [False, True], ids=["parent", "process-group"])
def test_sigterm_to_a_batch_marks_its_store_run_interrupted(
    shared: Path, tmp_path: Path, group: bool
) -> None:
    """SIGTERM to `vtrack batch` only, or to its whole process group (as a service manager sends it)."""
    url = f"sqlite:///{tmp_path / 'counts.db'}"
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vtrack.cli", "batch", str(shared / BICYCLES), "--out", str(out),
         "--model", str(shared / "models/yolov8n.onnx"), *COUNTING, "--store", url, "--run-id", "b1", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        wait_for_an_event(proc, url)
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == 130, err.decode(errors="replace")[-2000:]
    status, events = committed(url)
    assert status == "interrupted" and events >= 1
    with open_store(url) as st:  # type: ignore[attr-defined]
        (run,) = st.runs(CountFilter())
        assert (run.run_id, run.stream) == ("b1", "bicycle_tracking_sample")
        assert sum(h.count for h in st.hourly(CountFilter())) == events
