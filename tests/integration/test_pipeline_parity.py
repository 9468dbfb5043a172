"""The pipelined runner with the real model writes the same events and tracks as the plain loop.

``vtrack run`` (the job) on TUD-Campus (71 frames, 640x480, people crossing a line) with two 1-thread
ONNX Runtime sessions running frames in parallel, against the same job with the sequential loop.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import vtrack.job
from vtrack.config import RunConfig, lines_from_flags
from vtrack.job import run_job
from vtrack.stream.runner import Pipeline

pytestmark = [pytest.mark.assets]


def _config(shared: Path, out: Path, sessions: int) -> RunConfig:
    cfg = RunConfig(source=str(shared / "mot/TUD-Campus/img1"), classes=["person"])
    cfg.model.path = str(shared / "models/yolov8n.onnx")
    cfg.model.sessions = sessions
    cfg.model.threads = 1
    cfg.counting.lines = lines_from_flags(["mid=320,0,320,480"])
    cfg.output.dir = str(out)
    cfg.output.video = False
    return cfg


def test_pipelined_matches_sequential_on_tud_campus(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = run_job(_config(shared, tmp_path / "piped", sessions=2))
    with monkeypatch.context() as m:
        m.setattr(vtrack.job, "Pipeline", functools.partial(Pipeline, sequential=True))
        seq = run_job(_config(shared, tmp_path / "seq", sessions=1))
    assert piped.stats.frames == seq.stats.frames == 71
    assert piped.stats.stages.inference > 0 and seq.stats.stages.inference == 0
    events = (seq.out_dir / "events.jsonl").read_text()
    assert events.count("\n") >= 2  # people do cross the line
    assert (piped.out_dir / "events.jsonl").read_text() == events
    assert (piped.out_dir / "tracks.txt").read_text() == (seq.out_dir / "tracks.txt").read_text()
    assert piped.summary["lines"] == seq.summary["lines"]
    assert piped.summary["classes"] == seq.summary["classes"]
