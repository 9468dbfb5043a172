"""One frame step: a live stream's worker counts exactly what the file runner counts on the same frames.

The same TUD-Campus frames (71, people crossing a line) and the same model go once through ``vtrack
run`` (the pipelined file runner) and once through a ``vtrack serve`` stream worker fed by a live
source that hands on every frame (no drops, frames stamped with their own video time). Both build
their tracker and counters in :mod:`vtrack.pipeline.compose` and run :class:`FrameStep`, so the
crossings must be equal event for event (track IDs, frames, directions).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vtrack.config import DeploymentConfig, RunConfig, StreamConfig, lines_from_flags
from vtrack.job import run_job
from vtrack.metrics import Metrics
from vtrack.pipeline.compose import load_detector
from vtrack.service.manager import StreamWorker
from vtrack.stream.sources import open_source
from vtrack.types import Frame, FrameResult

pytestmark = [pytest.mark.assets]

SEQ = "mot/TUD-Campus/img1"
LINE = "mid=320,0,320,480"


class EveryFrameLive:
    """A live source over a finite image sequence that drops nothing (``LiveSourceLike``)."""

    def __init__(self, path: Path) -> None:
        self._src = open_source(str(path))
        self.name = "tud"
        self.safe_url = str(path)
        self.fps = self._src.fps
        self.width, self.height = self._src.width, self._src.height
        self.state = "connecting"
        self.last_error: str | None = None
        self.reconnects = self.frames_read = self.frames_dropped = 0
        self.last_frame_monotonic: float | None = None
        # captured = start + pts lies in the past, so the worker dates and indexes frames by video time
        self.stream_start_monotonic = time.monotonic() - 3600.0
        self._frames: Iterator[Frame] = iter(())

    def start(self) -> None:
        self._frames = iter(self._src)
        self.state = "running"

    def read(self, timeout: float = 1.0) -> Frame | None:
        frame = next(self._frames, None)
        if frame is None:
            self.state = "stopped"
            return None
        self.frames_read += 1
        self.last_frame_monotonic = time.monotonic()
        return frame

    def stop(self) -> None:
        self._src.close()
        self.state = "stopped"


class Recorder:
    """An exporter keeping every result's crossings."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        self.frames += 1
        self.events += [{k: v for k, v in e.to_json().items() if k != "time"} for e in result.events]

    def close(self) -> None:
        pass


def test_live_worker_counts_what_the_file_runner_counts(shared: Path, tmp_path: Path) -> None:
    model = str(shared / "models/yolov8n.onnx")
    cfg = RunConfig(source=str(shared / SEQ), classes=["person"])
    cfg.model.path = model
    cfg.model.threads = 1
    cfg.counting.lines = lines_from_flags([LINE])
    cfg.output.dir = str(tmp_path / "run")
    cfg.output.video = False
    outcome = run_job(cfg)
    file_events = [
        {k: v for k, v in json.loads(line).items() if k != "time"}
        for line in (outcome.out_dir / "events.jsonl").read_text().splitlines()
    ]
    assert len(file_events) >= 2  # people do cross the line

    deployment = DeploymentConfig.model_validate(
        {"model": {"path": model, "threads": 1},
         "streams": [{"id": "tud", "source": str(shared / SEQ), "classes": ["person"],
                      "counting": {"lines": [{"name": "mid", "points": [320, 0, 320, 480]}]}}]}
    )
    stream: StreamConfig = deployment.streams[0]
    detector = load_detector(deployment.model)
    worker = StreamWorker(
        stream, detector, Metrics(), source_factory=lambda _c: EveryFrameLive(shared / SEQ)
    )
    recorder = Recorder()
    source = EveryFrameLive(shared / SEQ)
    source.start()
    worker._loop(source, [recorder])  # the worker thread's loop, run here with a recorder as its exporter
    assert recorder.frames == outcome.stats.frames == 71
    assert recorder.events == file_events
    assert worker.counters is not None and worker.counters.counts == {
        "mid": {c: dict(v) for c, v in outcome.summary["lines"]["mid"].items()}
    }

