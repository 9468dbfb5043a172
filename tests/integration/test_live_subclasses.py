"""``subclasses:`` per stream in serve: a live worker counts what ``vtrack run --subclasses`` counts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_live_file_parity import LINE, SEQ, EveryFrameLive, Recorder

from vtrack.config import DeploymentConfig, RunConfig, lines_from_flags
from vtrack.job import run_job
from vtrack.metrics import Metrics
from vtrack.pipeline.compose import load_detector
from vtrack.service.manager import StreamWorker
from vtrack.subclasses.embedder import CropEmbedder
from vtrack.subclasses.learn import learn

pytestmark = [pytest.mark.assets, pytest.mark.slow]



def test_live_worker_with_subclasses_counts_what_run_counts(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subclass_examples: Callable[[str], Path]
) -> None:
    embedder = shared / "models/efficientnet_lite0.onnx"
    monkeypatch.setenv("VTRACK_EMBEDDER", str(embedder))
    vtc = learn(subclass_examples("cyclist-pedestrian"), CropEmbedder(embedder))[0].save(tmp_path / "cp.vtc")
    model = str(shared / "models/yolov8n.onnx")
    cfg = RunConfig(source=str(shared / SEQ), classes=["person"], subclasses=str(vtc))
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
    assert len(file_events) >= 2 and {e["class"] for e in file_events} == {"person:pedestrian"}

    deployment = DeploymentConfig.model_validate(
        {"model": {"path": model, "threads": 1},
         "streams": [{"id": "tud", "source": str(shared / SEQ), "classes": ["person"], "subclasses": str(vtc),
                      "counting": {"lines": [{"name": "mid", "points": [320, 0, 320, 480]}]}}]}
    )
    worker = StreamWorker(
        deployment.streams[0], load_detector(deployment.model), Metrics(),
        source_factory=lambda _c: EveryFrameLive(shared / SEQ),
    )
    recorder = Recorder()
    source = EveryFrameLive(shared / SEQ)
    source.start()
    worker._loop(source, [recorder])
    assert recorder.events == file_events
