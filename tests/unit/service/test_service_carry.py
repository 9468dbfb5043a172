"""A live worker whose tracker carries tracks: when it runs the detector and when it carries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vtrack.config import StreamConfig
from vtrack.metrics import Metrics
from vtrack.service.manager import StreamWorker


class StubDetector:
    class_names = {0: "bicycle"}  # noqa: RUF012

    def class_ids_for_names(self, names: list[str]) -> list[int]:
        return [0 for _ in names]


@pytest.mark.parametrize(
    ("can_carry", "keep", "pending", "max_fps", "last", "now", "detect"),
    [
        (False, 8, 3, None, 0.0, 0.01, True),  # a tracker that cannot carry: every frame is detected
        (True, 1, 0, None, 0.0, 0.01, True),  # newest-frame source: every frame it hands on
        (True, 8, 0, None, None, 0.0, True),  # the first frame
        (True, 8, 2, None, 0.0, 0.1, False),  # behind: carry to catch up
        (True, 8, 2, None, 0.0, 0.19, True),  # ... but a box that stays behind still detects 5 a second
        (True, 8, 2, 10.0, 0.0, 0.05, False),  # behind, 10 FPS: not due yet
        (True, 8, 2, 10.0, 0.0, 0.095, True),  # behind, 10 FPS: due, detections come first
        (True, 8, 0, None, 0.0, 0.01, True),  # caught up, no cap
        (True, 8, 0, 5.0, 0.0, 0.1, False),  # caught up, but 5 FPS allows the next one at 0.2 s
        (True, 8, 0, 5.0, 0.0, 0.19, True),  # within the slack of the interval
    ],
)
def test_detect_now(
    can_carry: bool,
    keep: int,
    pending: int,
    max_fps: float | None,
    last: float | None,
    now: float,
    detect: bool,
) -> None:
    cfg = StreamConfig(id="s", source="clip.mp4", max_fps=max_fps)
    worker = StreamWorker(cfg, StubDetector(), Metrics(), source_factory=lambda _c: None)  # type: ignore[arg-type]
    worker._last_detect = last
    src = SimpleNamespace(keep=keep, pending=pending)
    step = SimpleNamespace(can_carry=can_carry)
    assert worker._detect_now(src, step, now) is detect  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("detect_s", "since", "detect"),
    [
        (0.1, 0.2, True),  # 3 frames arrive meanwhile: fits in 16
        (0.6, 0.2, False),  # 18 frames would arrive: carry on, the queue (16) would overflow
        (0.6, 1.0, True),  # ... but a slow box still detects once a second
    ],
)
def test_slow_detections_leave_room_in_the_queue(detect_s: float, since: float, detect: bool) -> None:
    cfg = StreamConfig(id="s", source="clip.mp4")
    worker = StreamWorker(cfg, StubDetector(), Metrics(), source_factory=lambda _c: None)  # type: ignore[arg-type]
    worker._fps = 30.0
    worker._last_detect, worker._detect_s = 0.0, detect_s
    src = SimpleNamespace(keep=16, pending=0)
    assert worker._detect_now(src, SimpleNamespace(can_carry=True), since) is detect  # type: ignore[arg-type]
