from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import supervision as sv

from vtrack.pipeline.step import FrameStep
from vtrack.stream.runner import Pipeline
from vtrack.types import Frame, FrameResult

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeSource:
    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.name, self.fps, self.native_fps, self.width, self.height = "fake", 10.0, 10.0, 32, 24
        self.frame_count: int | None = n
        self.n, self.fail_at, self.closed = n, fail_at, False

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.n):
            if i == self.fail_at:
                raise OSError("disk gone")
            yield Frame(np.full((24, 32, 3), i % 256, np.uint8), i, i / self.fps, "fake")

    def close(self) -> None:
        self.closed = True


class FakeDetector:
    class_names = {0: "thing"}  # noqa: RUF012
    task = "detect"

    def __call__(self, image: np.ndarray) -> sv.Detections:
        v = float(image[0, 0, 0])
        return sv.Detections(
            xyxy=np.array([[v, 0, v + 5, 5]], np.float32), confidence=np.array([0.9], np.float32),
            class_id=np.array([0]), data={"class_name": np.array(["thing"])},
        )

    def warmup(self) -> None:
        pass


class FakeTracker:
    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        detections.tracker_id = np.ones(len(detections), dtype=int)
        return detections

    def reset(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.results: list[FrameResult] = []
        self.closed = 0

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        self.closed += 1


def make(src: FakeSource, rec: Recorder, **kw: object) -> Pipeline:
    return Pipeline(src, FakeDetector(), FrameStep(FakeTracker()), [rec], start_time=T0, **kw)  # type: ignore[arg-type]


def test_every_frame_in_order_with_times() -> None:
    src, rec = FakeSource(50), Recorder()
    stats = make(src, rec).run()
    assert stats.frames == 50 and not stats.interrupted
    assert [r.frame.index for r in rec.results] == list(range(50))
    assert rec.results[10].time == T0 + timedelta(seconds=1.0)
    assert rec.results[7].detections.xyxy[0, 0] == 7
    assert rec.closed == 1 and src.closed
    assert stats.unique_tracks == {"thing": 1}


def test_stop_event_stops_and_closes() -> None:
    stop = threading.Event()
    src, rec = FakeSource(10_000), Recorder()

    def on_frame(r: FrameResult) -> None:
        if r.frame.index == 20:
            stop.set()

    stats = make(src, rec, stop_event=stop, on_frame=on_frame).run()
    assert stats.interrupted and stats.frames == 21
    assert rec.closed == 1 and src.closed


def test_source_error_propagates_after_closing_exporters() -> None:
    src, rec = FakeSource(100, fail_at=30), Recorder()
    with pytest.raises(OSError, match="disk gone"):
        make(src, rec).run()
    assert len(rec.results) == 30 and rec.closed == 1 and src.closed


def test_exporter_error_still_closes_others() -> None:
    class Broken(Recorder):
        def write(self, result: FrameResult) -> None:
            raise ValueError("boom")

    src, rec, broken = FakeSource(5), Recorder(), Broken()
    p = Pipeline(src, FakeDetector(), FrameStep(FakeTracker()), [broken, rec], start_time=T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boom"):
        p.run()
    assert broken.closed == 1 and rec.closed == 1
