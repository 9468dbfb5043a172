"""Batched inference on a real yolov8n export with a dynamic batch axis, and `vtrack serve` batching.

The model is exported in the test (Ultralytics + torch, no downloads) from ../shared/models/yolov8n.pt.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime
import pytest
import supervision as sv

from vtrack.config import DeploymentConfig
from vtrack.detectors import YoloOnnxDetector, export_model
from vtrack.detectors.batching import BatchInferer
from vtrack.service.manager import StreamManager
from vtrack.types import Frame

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.assets]

CLIP = "media/video/bicycle_tracking_sample.mp4"
IMGSZ = 320
FRAMES = 12
RESULT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def dynamic_model(shared: Path, ultralytics: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolov8n exported with dynamic batch/height/width axes at 320, offline."""
    mp = pytest.MonkeyPatch()
    mp.setenv("YOLO_OFFLINE", "1")

    def refuse(self: socket.socket, address: object) -> None:
        raise OSError(f"network disabled in tests: {address}")

    mp.setattr(socket.socket, "connect", refuse)
    try:
        return export_model(
            shared / "models" / "yolov8n.pt",
            imgsz=IMGSZ,
            dynamic=True,
            out_dir=tmp_path_factory.mktemp("dyn"),
        )
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def clip_frames(shared: Path) -> list[np.ndarray]:
    """The first :data:`FRAMES` frames of the 720p clip, BGR uint8 ``(720, 1280, 3)``."""
    cap = cv2.VideoCapture(str(shared / CLIP))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < FRAMES:
            ok, frame = cap.read()
            assert ok, f"cannot read {CLIP}"
            frames.append(frame)
    finally:
        cap.release()
    return frames


def assert_close_detections(a: sv.Detections, b: sv.Detections) -> None:
    assert len(a) == len(b)
    assert a.confidence is not None and b.confidence is not None
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
    np.testing.assert_array_equal(a.class_id, b.class_id)


def test_batched_outputs_equal_per_frame_outputs(dynamic_model: Path, clip_frames: list[np.ndarray]) -> None:
    det = YoloOnnxDetector(dynamic_model, intra_op_threads=1)
    assert det.spec.dynamic_batch and det.spec.dynamic
    picks = [clip_frames[0], clip_frames[5], clip_frames[11]]
    prepared = [det.preprocess(f) for f in picks]
    batched = det.infer_batch([t for t, _ in prepared])
    found = 0
    for (tensor, geom), outs, frame in zip(prepared, batched, picks, strict=True):
        single = det.infer(tensor)
        np.testing.assert_allclose(outs[0], single[0], rtol=1e-3, atol=1e-3)
        d = det.postprocess(outs, geom)
        assert_close_detections(d, det(frame))
        found += len(d)
    assert found > 0


def test_batcher_threads_on_the_real_model(dynamic_model: Path, clip_frames: list[np.ndarray]) -> None:
    det = YoloOnnxDetector(dynamic_model, intra_op_threads=1)
    expected = [det(f) for f in clip_frames]
    got: dict[int, sv.Detections] = {}
    with BatchInferer(det, max_batch=3, max_wait_ms=20.0) as batcher:

        def stream(k: int) -> None:
            batcher.attach()
            try:
                for i in range(k, len(clip_frames), 3):
                    tensor, geom = det.preprocess(clip_frames[i])
                    got[i] = det.postprocess(batcher.infer(tensor, RESULT_TIMEOUT_S), geom)
            finally:
                batcher.detach()

        threads = [threading.Thread(target=stream, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RESULT_TIMEOUT_S)
    assert sorted(got) == list(range(len(clip_frames)))
    for i, want in enumerate(expected):
        assert_close_detections(got[i], want)


class ListSource:
    """A live source that hands out a fixed list of frames, none dropped, then stops."""

    def __init__(self, name: str, frames: list[np.ndarray]) -> None:
        self.name = name
        self.safe_url = f"list://{name}"
        self.fps = 25.0
        self.height, self.width = frames[0].shape[:2]
        self.state = "connecting"
        self.last_error: str | None = None
        self.reconnects = 0
        self.frames_read = 0
        self.frames_dropped = 0
        self.last_frame_monotonic: float | None = None
        self.stream_start_monotonic = time.monotonic()
        self._frames = list(frames)

    def start(self) -> None:
        self.state = "running"

    def read(self, timeout: float = 1.0) -> Frame | None:
        if self.frames_read >= len(self._frames):
            self.state = "stopped"
            return None
        i = self.frames_read
        self.frames_read += 1
        self.last_frame_monotonic = time.monotonic()
        return Frame(image=self._frames[i], index=i, pts=i / self.fps, source_id=self.name)

    def stop(self) -> None:
        self.state = "stopped"


class RecordingDetector(YoloOnnxDetector):
    """The real detector, keeping each stream thread's detections in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, list[sv.Detections]] = {}
        self._seen_lock = threading.Lock()

    def postprocess(self, outputs: Any, geom: Any, frame_shape: Any = None) -> sv.Detections:
        d = super().postprocess(outputs, geom, frame_shape)
        with self._seen_lock:
            self.seen.setdefault(threading.current_thread().name, []).append(d)
        return d


def _serve(model: Path, frames: list[np.ndarray], batch: int) -> tuple[dict[str, list[sv.Detections]], Any]:
    streams = [{"id": "a", "source": "a"}, {"id": "b", "source": "b"}]
    config = DeploymentConfig.model_validate(
        {"model": {"path": str(model), "batch": batch, "batch_wait_ms": 50.0}, "streams": streams}
    )
    per_stream = {"a": frames[::2], "b": frames[1::2]}
    det = RecordingDetector(model, intra_op_threads=1)
    manager = StreamManager(
        config, detector=det, source_factory=lambda cfg: ListSource(cfg.id, per_stream[cfg.id])
    )
    manager.start()
    batcher = manager.batcher
    try:
        deadline = time.monotonic() + RESULT_TIMEOUT_S
        while time.monotonic() < deadline:
            workers = [manager.worker(s) for s in ("a", "b")]
            if all(w is not None and w.frames_processed == len(per_stream[w.id]) for w in workers):
                break
            time.sleep(0.05)
        stats = (batcher.batches, batcher.frames) if batcher is not None else None
    finally:
        manager.stop()
    return det.seen, stats


def test_serve_with_batch_2_gives_the_same_detections_as_batch_1(
    dynamic_model: Path, clip_frames: list[np.ndarray]
) -> None:
    plain, no_batcher = _serve(dynamic_model, clip_frames, batch=1)
    batched, stats = _serve(dynamic_model, clip_frames, batch=2)
    assert no_batcher is None
    assert stats is not None and stats[1] == len(clip_frames)  # every frame went through the batcher
    assert stats[0] < stats[1]  # and some inferences carried two streams' frames
    assert sorted(plain) == sorted(batched) == ["stream-a", "stream-b"]
    for name in plain:
        assert len(plain[name]) == len(batched[name]) == len(clip_frames) // 2
        for a, b in zip(plain[name], batched[name], strict=True):
            assert_close_detections(a, b)


def test_serve_with_a_fixed_batch_model_warns_and_runs_per_stream(
    shared: Path, clip_frames: list[np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    static = shared / "models" / "yolov8n.onnx"
    with caplog.at_level("WARNING", logger="vtrack.service.manager"):
        seen, stats = _serve(static, clip_frames[:4], batch=2)
    assert stats is None
    assert sum(len(v) for v in seen.values()) == 4
    warnings = [r for r in caplog.records if "fixed batch of 1" in r.getMessage()]
    assert len(warnings) == 1


BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_streams.py"


def test_gpu_streams_bench_runs_on_cpu(dynamic_model: Path, shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu_streams.json"
    cmd = [
        sys.executable, str(BENCH), "--model", str(dynamic_model),
        "--model", str(shared / "models" / "yolov8n.onnx"),
        "--clip", str(shared / CLIP), "--providers", "CPUExecutionProvider", "TensorrtExecutionProvider",
        "--imgsz", str(IMGSZ), "--max-streams", "2", "--seconds", "0.3", "--target-fps", "0",
        "--batch", "2", "--batchers", "1", "--threads", "1", "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| model | provider | mode |" in proc.stdout
    results = json.loads(out.read_text())["results"]
    cpu_runs = [r for r in results if r["provider"] == "CPU"]
    assert len(cpu_runs) == 4
    for r in cpu_runs:
        if r["mode"] == "batched" and "fixed batch" in r["note"]:
            assert r["trials"] == []
            continue
        # target 0 FPS: every trial is sustained, so the search is 1, 2 whatever the machine's speed
        assert [t["streams"] for t in r["trials"]] == [1, 2]
        assert r["max_streams"] == 2 and r["total_fps"] >= 0
    assert sum("fixed batch" in r["note"] for r in cpu_runs) == 1  # the shared model is static
    trt = [r for r in results if r["provider"].startswith("Tensorrt")]
    if "TensorrtExecutionProvider" not in onnxruntime.get_available_providers():
        assert all(r["note"] == "provider not available" for r in trt) and len(trt) == 4


def test_gpu_streams_trt_profile_covers_the_1080p_letterbox(
    dynamic_model: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("gpu_streams", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_streams", bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    # 1920x1080 into 320: 320x180, padded to the stride: 320x192
    assert bench.trt_profile(dynamic_model, IMGSZ, 8) == (
        "images:1x3x192x320",
        "images:8x3x192x320",
        "images:8x3x192x320",
    )
    assert bench.trt_profile(shared / "models" / "yolov8n.onnx", None, 8) is None


def test_gpu_streams_cpu_compare_mode(dynamic_model: Path, shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "cpu.json"
    cmd = [
        sys.executable, str(BENCH), "--cpu-compare", "--model", str(dynamic_model),
        "--clip", str(shared / CLIP),
        "--imgsz", str(IMGSZ), "--seconds", "0.2", "--rounds", "2", "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["input"] == [1, 3, 192, 320]  # the 720p clip letterboxed into 320
    assert set(report["ratio"]) == set(report["fps"]) == set(report["samples"])
    assert all(len(v) == 2 for v in report["samples"].values())
    assert report["ratio"]["one session, 2 threads (1 frame per run)"] == 1.0


def test_serve_gives_tensorrt_a_batch_profile(
    dynamic_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vtrack.detectors import onnx_yolo

    seen: list[Any] = []
    real = onnx_yolo.ort.InferenceSession

    def recording_session(model: str, sess_options: Any = None, providers: Any = None) -> Any:
        seen.append(providers)  # TensorRT is not installed here: run on the CPU, keep what was asked
        return real(model, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        onnx_yolo.ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(onnx_yolo.ort, "InferenceSession", recording_session)
    config = DeploymentConfig.model_validate(
        {"model": {"path": str(dynamic_model), "batch": 4, "half": True}}
    )
    manager = StreamManager(config)
    try:
        manager.load_model()
        assert manager.batcher is not None and manager.batcher.max_batch == 4
    finally:
        manager.stop()
    trt_options = [
        p[0][1] for p in seen if isinstance(p[0], tuple) and p[0][0] == "TensorrtExecutionProvider"
    ]
    assert trt_options, seen
    options = trt_options[-1]
    assert options["trt_fp16_enable"] is True
    assert options["trt_profile_min_shapes"] == "images:1x3x32x32"
    assert options["trt_profile_max_shapes"] == f"images:4x3x{IMGSZ}x{IMGSZ}"
