"""`vtrack run` when its outputs cannot be written: an unwritable --out, a disk that fills up.

One `error:` line and exit code 2, never "internal error" nor a traceback, and no output file cut
under its final name (the disk is "filled" with RLIMIT_FSIZE: the same OSError path as ENOSPC,
without root or a mount). Also `serve --check` refuses a zero-length line.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.assets, pytest.mark.slow]


def _run(shared: Path, out: Path, *extra: str, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", "run", str(shared / "media/video/bicycle_tracking_sample.mp4"),
         "--model", str(shared / "models/yolov8n.onnx"), "--stride", "3", "--quiet", "--out", str(out),
         *extra],
        capture_output=True, text=True, timeout=600, preexec_fn=limit,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def _one_error_line(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_unwritable_out(shared: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = _run(shared, blocker / "out", "--no-video")
    _one_error_line(r, "cannot write to the output folder", "Not a directory")


@pytest.mark.parametrize("video", [False, True], ids=["no-video", "video"])
def test_full_disk(shared: Path, tmp_path: Path, video: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"old": true}\n')  # an earlier run's: must not stay
    r = _run(shared, out, *([] if video else ["--no-video"]), fsize=8_000)
    _one_error_line(r, "File too large")
    names = {p.name for p in out.iterdir()}
    assert "summary.json" not in names, names  # the run did not end: no summary vouches for it
    parts = {n.removesuffix(".part") for n in names if n.endswith(".part")}
    assert parts, names  # 8 kB: a streamed file fails first (tracks.txt, annotated.mp4)...
    assert not parts & names, names  # ...and is kept aside as .part, never under its final name
    for p in out.iterdir():  # whatever is under a final name is whole: complete lines, parsable
        if p.suffix in (".csv", ".jsonl", ".txt"):
            text = p.read_text()
            assert text == "" or text.endswith("\n"), p.name
            if p.suffix == ".jsonl":
                [json.loads(ln) for ln in text.splitlines()]


def test_serve_check_refuses_a_zero_length_line(tmp_path: Path) -> None:
    cfg = tmp_path / "d.yaml"
    cfg.write_text(
        "streams:\n  - id: cam\n    source: rtsp://h/x\n    lines:\n      - {name: a, points: [5, 5, 5, 5]}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "vtrack.cli", "serve", "--config", str(cfg), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2 and "a line needs two different points" in r.stderr, r.stderr
