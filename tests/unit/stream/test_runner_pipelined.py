"""The pipelined runner against the plain sequential loop: same events, same tracks, same order.

A fake detector implementing the split API (``preprocess``/``infer``/``postprocess``) with several
"sessions" that finish frames out of order (random sleeps), a real ByteTrack and a real line counter,
and the real JSONL/MOT exporters: both runners must write byte-identical files.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics import LineCounter
from vtrack.analytics.composite import CounterSet
from vtrack.exporters.base import Exporter
from vtrack.exporters.files import EventsJsonlExporter, MotTracksExporter
from vtrack.geometry import Line
from vtrack.pipeline.step import FrameStep
from vtrack.stream.runner import Pipeline, SplitDetector
from vtrack.trackers import make_tracker
from vtrack.types import Frame, FrameResult

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
W, H = 320, 240
N_FRAMES = 120


class MovingSource:
    """Frames whose pixel (0, 0) encodes the frame number; objects are derived from it."""

    name, fps, native_fps, width, height = "moving", 15.0, 15.0, W, H

    def __init__(self, n: int = N_FRAMES, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.closed = n, fail_at, False
        self.frame_count: int | None = n

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.n):
            if i == self.fail_at:
                raise OSError("stream lost")
            img = np.zeros((H, W, 3), np.uint8)
            img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
            yield Frame(img, i, i / self.fps, self.name)

    def close(self) -> None:
        self.closed = True


def boxes_for(i: int) -> np.ndarray:
    """Three objects walking across a vertical line at x=160, at different speeds and heights."""
    rows = []
    for k, (x0, vx, y) in enumerate(((10.0, 3.0, 60.0), (300.0, -2.5, 120.0), (40.0, 4.0, 200.0))):
        x = x0 + vx * i
        if 0 < x < W - 20 and not (k == 1 and i % 17 == 0):  # object 1 is missed now and then
            rows.append([x, y - 30, x + 20, y])
    return np.array(rows, np.float32).reshape(-1, 4)


class SplitFake:
    """A deterministic detector with the split API; ``infer`` sleeps at random to scramble the order."""

    class_names = {0: "person"}  # noqa: RUF012
    task = "detect"

    def __init__(self, sessions: int = 3, jitter_s: float = 0.004) -> None:
        self.sessions = sessions
        self.jitter_s = jitter_s
        self.buffers: set[int] = set()
        self.in_flight: set[int] = set()
        self.lock = threading.Lock()
        self.shared_buffer = False

    def preprocess(self, image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        if out is None:
            out = np.zeros((1, 2), np.int64)
        with self.lock:
            self.shared_buffer |= id(out) in self.in_flight
            self.in_flight.add(id(out))
            self.buffers.add(id(out))
        out[0, 0] = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
        return out, int(out[0, 0])

    def infer(self, tensor: np.ndarray, session: int = 0) -> int:
        assert 0 <= session < self.sessions
        time.sleep(random.random() * self.jitter_s)
        i = int(tensor[0, 0])
        with self.lock:
            self.in_flight.discard(id(tensor))
        return i

    def postprocess(
        self, outputs: int, geom: int, frame_shape: tuple[int, ...] | None = None
    ) -> sv.Detections:
        assert outputs == geom
        xyxy = boxes_for(outputs)
        n = len(xyxy)
        return sv.Detections(
            xyxy=xyxy,
            confidence=np.full(n, 0.9, np.float32),
            class_id=np.zeros(n, np.int64),
            data={"class_name": np.array(["person"] * n)},
        )

    def __call__(self, image: np.ndarray) -> sv.Detections:
        tensor, geom = self.preprocess(image)
        return self.postprocess(self.infer(tensor), geom, image.shape)

    def warmup(self) -> None:
        pass


def run_to(
    out: Path,
    *,
    sequential: bool,
    detector: SplitFake | None = None,
    workers: int | None = None,
    prefetch: int = 4,
) -> Pipeline:
    out.mkdir()
    counter = CounterSet(LineCounter([Line("gate", 160, 0, 160, H)]), None)
    exporters: list[Exporter] = [
        EventsJsonlExporter(out / "events.jsonl"),
        MotTracksExporter(out / "tracks.txt"),
    ]
    p = Pipeline(
        MovingSource(),
        detector or SplitFake(),
        FrameStep(make_tracker("bytetrack", fps=15.0), counter),
        exporters,
        start_time=T0,
        sequential=sequential,
        workers=workers,
        prefetch=prefetch,
    )
    p.run()
    return p


def test_fake_is_a_split_detector() -> None:
    assert isinstance(SplitFake(), SplitDetector)


@pytest.mark.parametrize(("workers", "prefetch"), [(1, 1), (2, 4), (3, 2)])
def test_pipelined_writes_the_same_files_as_sequential(tmp_path: Path, workers: int, prefetch: int) -> None:
    run_to(tmp_path / "seq", sequential=True)
    det = SplitFake()
    p = run_to(tmp_path / "pipe", sequential=False, detector=det, workers=workers, prefetch=prefetch)
    assert p.stats.frames == N_FRAMES
    for name in ("events.jsonl", "tracks.txt"):
        assert (tmp_path / "pipe" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes(), name
    assert (tmp_path / "seq" / "events.jsonl").read_text().count("\n") >= 3  # the scene has crossings
    assert not det.shared_buffer  # no tensor was handed out twice while in flight
    assert len(det.buffers) <= prefetch + workers + 1  # the pool stays small


def test_results_come_in_frame_order_with_stage_times() -> None:
    seen: list[int] = []
    src = MovingSource()
    p = Pipeline(
        src,
        SplitFake(),
        FrameStep(make_tracker("bytetrack", fps=15.0)),
        [],
        start_time=T0,
        on_frame=lambda r: seen.append(r.frame.index),
    )
    stats = p.run()
    assert seen == list(range(N_FRAMES)) and src.closed
    st = stats.stages
    assert st.inference > 0 and st.postprocess > 0 and st.decode > 0 and st.detect == 0


def test_reader_error_after_the_frames_before_it() -> None:
    class Rec:
        def __init__(self) -> None:
            self.results: list[FrameResult] = []
            self.closed = 0

        def write(self, r: FrameResult) -> None:
            self.results.append(r)

        def close(self) -> None:
            self.closed += 1

    rec, src = Rec(), MovingSource(fail_at=40)
    p = Pipeline(src, SplitFake(), FrameStep(make_tracker("bytetrack", fps=15.0)), [rec], start_time=T0)
    with pytest.raises(OSError, match="stream lost"):
        p.run()
    assert [r.frame.index for r in rec.results] == list(range(40))
    assert rec.closed == 1 and src.closed
    assert all(not t.name.startswith(("infer-", "reader-moving")) for t in threading.enumerate())


def test_inference_error_propagates() -> None:
    class Failing(SplitFake):
        def infer(self, tensor: np.ndarray, session: int = 0) -> int:
            if int(tensor[0, 0]) == 25:
                raise RuntimeError("onnxruntime failed")
            return super().infer(tensor, session)

    src = MovingSource()
    p = Pipeline(src, Failing(), FrameStep(make_tracker("bytetrack", fps=15.0)), [], start_time=T0)
    with pytest.raises(RuntimeError, match="onnxruntime failed"):
        p.run()
    assert p.stats.frames == 25 and src.closed


def test_stop_event_midway() -> None:
    stop = threading.Event()

    def on_frame(r: FrameResult) -> None:
        if r.frame.index == 10:
            stop.set()

    p = Pipeline(
        MovingSource(),
        SplitFake(),
        FrameStep(make_tracker("bytetrack", fps=15.0)),
        [],
        start_time=T0,
        stop_event=stop,
        on_frame=on_frame,
    )
    stats = p.run()
    assert stats.interrupted and stats.frames == 11


def test_wall_time_ends_with_the_last_frame_handed_on() -> None:
    """Frames in flight when a stop comes are dropped; waiting for their inference is not run time."""

    class SlowAfter10(SplitFake):
        def infer(self, tensor: np.ndarray, session: int = 0) -> int:
            if int(tensor[0, 0]) > 10:
                time.sleep(2.0)
            return super().infer(tensor, session)

    stop = threading.Event()
    p = Pipeline(
        MovingSource(),
        SlowAfter10(jitter_s=0.0),
        FrameStep(make_tracker("bytetrack", fps=15.0)),
        [],
        start_time=T0,
        stop_event=stop,
        on_frame=lambda r: stop.set() if r.frame.index == 10 else None,
    )
    t0 = time.perf_counter()
    stats = p.run()
    took = time.perf_counter() - t0
    assert took >= 2.0  # run() did wait for the in-flight inferences
    assert stats.frames == 11 and stats.wall_seconds < took - 1.5


def test_cpu_used_by_each_thread_is_accounted() -> None:
    """Reader, inference and pipeline threads' CPU; the process total holds them all."""

    class Busy(SplitFake):
        def infer(self, tensor: np.ndarray, session: int = 0) -> int:
            a = np.ones((120, 120))
            for _ in range(20):  # CPU work in the inference thread
                a = a @ a / 120.0
            return super().infer(tensor, session)

    stats = Pipeline(
        MovingSource(),
        Busy(sessions=2, jitter_s=0.0),
        FrameStep(make_tracker("bytetrack", fps=15.0)),
        [],
        start_time=T0,
    ).run()
    cpu = stats.cpu
    assert cpu.inference > 0 and cpu.reader > 0 and cpu.pipeline > 0
    assert cpu.process >= cpu.inference + cpu.reader + cpu.pipeline - 0.005  # rounding
    ms = cpu.per_frame_ms(stats.frames)
    assert set(ms) == {"process", "reader", "inference", "pipeline", "other"}
    assert ms["inference"] == round(cpu.inference * 1000.0 / N_FRAMES, 2)


def test_more_workers_than_sessions_is_an_error() -> None:
    with pytest.raises(ValueError, match="workers"):
        Pipeline(
            MovingSource(),
            SplitFake(sessions=2),
            FrameStep(make_tracker("bytetrack", fps=15.0)),
            [],
            start_time=T0,
            workers=3,
        )


def test_stop_event_while_waiting_for_a_stalled_source() -> None:
    class Stalling(MovingSource):
        def __iter__(self) -> Iterator[Frame]:
            for i, frame in enumerate(super().__iter__()):
                if i >= 5:
                    time.sleep(1.0)  # a live stream that stopped sending
                yield frame

    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    p = Pipeline(
        Stalling(), SplitFake(), FrameStep(make_tracker("bytetrack", fps=15.0)), [], start_time=T0,
        stop_event=stop,
    )
    stats = p.run()
    timer.cancel()
    assert stats.interrupted and stats.frames == 5


class StillPropagator:
    """Carries the confirmed boxes of the last frame unchanged (a scene that does not move)."""

    def __init__(self) -> None:
        self.last = sv.Detections.empty()
        self.carried: list[float] = []

    def observe(self, frame: np.ndarray, tracked: sv.Detections) -> None:
        keep = np.asarray(tracked.tracker_id) >= 0 if len(tracked) else np.zeros(0, bool)
        self.last = tracked[keep] if len(tracked) else tracked

    def propagate(self, frame: np.ndarray, timestamp: float | None = None) -> sv.Detections:
        assert timestamp is not None
        self.carried.append(timestamp)
        return self.last


class CountingFake(SplitFake):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[int] = []

    def postprocess(
        self, outputs: int, geom: int, frame_shape: tuple[int, ...] | None = None
    ) -> sv.Detections:
        with self.lock:
            self.frames.append(outputs)
        return super().postprocess(outputs, geom, frame_shape)


@pytest.mark.parametrize("sequential", [True, False])
def test_detect_every_k_carries_the_frames_between(tmp_path: Path, sequential: bool) -> None:
    det, carrier = CountingFake(), StillPropagator()
    results: list[FrameResult] = []
    step = FrameStep(make_tracker("bytetrack", fps=15.0), propagator=carrier)
    p = Pipeline(
        MovingSource(), det, step, [MotTracksExporter(tmp_path / "t.txt")], start_time=T0,
        detect_every=3, sequential=sequential, on_frame=results.append,
    )
    stats = p.run()
    assert stats.frames == N_FRAMES  # every frame went through the step and the exporters
    assert sorted(det.frames) == list(range(0, N_FRAMES, 3))  # the detector saw every third
    assert [r.detected for r in results] == [i % 3 == 0 for i in range(N_FRAMES)]
    assert len(carrier.carried) == N_FRAMES - N_FRAMES // 3 == p.step.times.carried
    assert carrier.carried == sorted(carrier.carried)  # in frame order


def test_detect_every_needs_a_tracker_that_carries() -> None:
    with pytest.raises(ValueError, match="carries its tracks"):  # no propagator
        Pipeline(MovingSource(), SplitFake(), FrameStep(make_tracker("bytetrack", fps=15.0)), [],
                 start_time=T0, detect_every=2)
