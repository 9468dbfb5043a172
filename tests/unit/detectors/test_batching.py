"""BatchInferer: frames of several callers in one inference, each caller getting its own outputs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_onnx import assert_same_detections, build_mean_color_model, colour_frames

from vtrack.detectors import YoloOnnxDetector
from vtrack.detectors.batching import BatcherClosedError, BatchInferer
from vtrack.errors import ConfigError, ModelError

LONG_WAIT_MS = 10_000.0  # a batch runs when full, never on this timer, in the deterministic tests
RESULT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> YoloOnnxDetector:
    path = build_mean_color_model(tmp_path_factory.mktemp("batching") / "dyn.onnx", hw=("h", "w"))
    return YoloOnnxDetector(path, conf=0.3, intra_op_threads=1)


class GatedModel:
    """The real detector, but each batch waits for ``gate`` (set ``entered`` first): holds the thread busy."""

    def __init__(self, detector: YoloOnnxDetector) -> None:
        self.detector = detector
        self.entered = threading.Event()
        self.gate = threading.Event()

    def infer_batch(self, tensors: Sequence[np.ndarray], session: int = 0) -> list[list[np.ndarray]]:
        self.entered.set()
        assert self.gate.wait(RESULT_TIMEOUT_S)
        return self.detector.infer_batch(tensors, session)


def test_full_batch_runs_once_and_each_caller_gets_its_own(detector: YoloOnnxDetector) -> None:
    frames = colour_frames(4)
    prepared = [detector.preprocess(f) for f in frames]
    with BatchInferer(detector, max_batch=4, max_wait_ms=LONG_WAIT_MS) as batcher:
        futures = [batcher.submit(t) for t, _ in prepared]
        outputs = [f.result(RESULT_TIMEOUT_S) for f in futures]
        assert (batcher.batches, batcher.frames) == (1, 4)
    for (tensor, geom), out, frame in zip(prepared, outputs, frames, strict=True):
        np.testing.assert_allclose(out[0], detector.infer(tensor)[0], rtol=1e-5, atol=1e-5)
        assert_same_detections(detector.postprocess(out, geom), detector(frame))


def test_threads_each_get_their_own_detections(detector: YoloOnnxDetector) -> None:
    n_threads, rounds = 6, 5
    frames = colour_frames(n_threads * rounds)
    expected = [detector(f) for f in frames]
    got: dict[int, object] = {}
    errors: list[BaseException] = []
    with BatchInferer(detector, max_batch=4, max_wait_ms=20.0) as batcher:

        def stream(k: int) -> None:
            batcher.attach()
            buffer = None
            try:
                for r in range(rounds):
                    i = k * rounds + r
                    buffer, geom = detector.preprocess(frames[i], out=buffer)
                    got[i] = detector.postprocess(batcher.infer(buffer, RESULT_TIMEOUT_S), geom)
            except BaseException as e:
                errors.append(e)
            finally:
                batcher.detach()

        threads = [threading.Thread(target=stream, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RESULT_TIMEOUT_S * 2)
        assert batcher.frames == n_threads * rounds
    assert errors == []
    assert sorted(got) == list(range(len(frames)))
    for i, want in enumerate(expected):
        assert_same_detections(got[i], want)  # type: ignore[arg-type]


def test_frames_of_different_shapes_run_in_separate_inferences(detector: YoloOnnxDetector) -> None:
    frames = colour_frames(2, (128, 256)) + colour_frames(2, (256, 128))
    prepared = [detector.preprocess(f) for f in frames]
    assert prepared[0][0].shape != prepared[2][0].shape
    with BatchInferer(detector, max_batch=4, max_wait_ms=LONG_WAIT_MS) as batcher:
        futures = [batcher.submit(t) for t, _ in prepared]
        outputs = [f.result(RESULT_TIMEOUT_S) for f in futures]
        assert (batcher.batches, batcher.frames) == (2, 4)
    for (_, geom), out, frame in zip(prepared, outputs, frames, strict=True):
        assert_same_detections(detector.postprocess(out, geom), detector(frame))


def test_an_inference_error_reaches_every_caller_of_the_batch(tmp_path: Path) -> None:
    static = YoloOnnxDetector(build_mean_color_model(tmp_path / "static.onnx", batch=1))
    tensors = [static.preprocess(f)[0] for f in colour_frames(3)]
    with BatchInferer(static, max_batch=3, max_wait_ms=LONG_WAIT_MS) as batcher:
        futures = [batcher.submit(t) for t in tensors]
        for f in futures:
            with pytest.raises(ModelError, match="fixed batch of 1"):
                f.result(RESULT_TIMEOUT_S)
        assert batcher.batches == 0
        # the batcher survives: a lone frame still runs
        batcher.max_wait_s = 0.0
        out = batcher.infer(tensors[0], RESULT_TIMEOUT_S)
        np.testing.assert_allclose(out[0], static.infer(tensors[0])[0], rtol=1e-6)


def test_close_fails_waiting_requests_and_finishes_the_running_one(detector: YoloOnnxDetector) -> None:
    model = GatedModel(detector)
    tensors = [detector.preprocess(f)[0] for f in colour_frames(3)]
    batcher = BatchInferer(model, max_batch=1, max_wait_ms=0.0)
    running = batcher.submit(tensors[0])
    assert model.entered.wait(RESULT_TIMEOUT_S)
    waiting: list[Future[list[np.ndarray]]] = [batcher.submit(t) for t in tensors[1:]]
    closer = threading.Thread(target=batcher.close)
    closer.start()
    while not batcher.closed:
        threading.Event().wait(0.01)
    with pytest.raises(BatcherClosedError, match="closed"):
        batcher.submit(tensors[0])
    model.gate.set()
    closer.join(RESULT_TIMEOUT_S)
    assert not closer.is_alive()
    np.testing.assert_allclose(running.result(RESULT_TIMEOUT_S)[0], detector.infer(tensors[0])[0], rtol=1e-6)
    for f in waiting:
        with pytest.raises(BatcherClosedError, match="before this frame ran"):
            f.result(RESULT_TIMEOUT_S)
    batcher.close()  # idempotent


def test_the_queue_is_bounded(detector: YoloOnnxDetector) -> None:
    model = GatedModel(detector)
    tensor = detector.preprocess(colour_frames(1)[0])[0]
    batcher = BatchInferer(model, max_batch=1, max_wait_ms=0.0, max_queue=2)
    try:
        first = batcher.submit(tensor)
        assert model.entered.wait(RESULT_TIMEOUT_S)
        queued = [batcher.submit(tensor), batcher.submit(tensor)]
        with pytest.raises(TimeoutError, match="queue stayed full"):
            batcher.submit(tensor, timeout=0.05)
        model.gate.set()
        for f in [first, *queued]:
            assert f.result(RESULT_TIMEOUT_S)[0].shape[0] == 1
    finally:
        model.gate.set()
        batcher.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_batch": 0}, "max_batch must be in"),
        ({"max_batch": 2, "max_wait_ms": -1.0}, "max_wait_ms must be >= 0"),
        ({"max_batch": 4, "max_queue": 2}, "max_queue must be >= max_batch"),
    ],
)
def test_bad_settings(detector: YoloOnnxDetector, kwargs, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BatchInferer(detector, **kwargs)


def test_bad_tensor(detector: YoloOnnxDetector) -> None:
    with BatchInferer(detector, max_batch=2) as batcher, pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        batcher.submit(np.zeros((3, 8, 8), np.float32))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    colours=st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=12),
    max_batch=st.integers(1, 5),
    wait_ms=st.sampled_from([0.0, 1.0, 5.0]),
)
def test_any_batching_gives_each_frame_its_own_outputs(
    detector: YoloOnnxDetector, colours: list[tuple[int, int, int]], max_batch: int, wait_ms: float
) -> None:
    tensors = []
    for c in colours:
        frame = np.empty((64, 96, 3), dtype=np.uint8)
        frame[:] = c
        tensors.append(detector.preprocess(frame)[0])
    with BatchInferer(detector, max_batch=max_batch, max_wait_ms=wait_ms) as batcher:
        futures = [batcher.submit(t) for t in tensors]
        outputs = [f.result(RESULT_TIMEOUT_S) for f in futures]
        assert batcher.frames == len(tensors) and batcher.batches >= -(-len(tensors) // max_batch)
    for tensor, out in zip(tensors, outputs, strict=True):
        np.testing.assert_allclose(out[0], detector.infer(tensor)[0], rtol=1e-5, atol=1e-5)
