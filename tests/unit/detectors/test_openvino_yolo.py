"""YoloOpenVinoDetector on tiny ONNX graphs: the same detections as ONNX Runtime, read from the same file."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from tiny_onnx import (
    NAMES,
    NM,
    assert_same_detections,
    build_mean_color_model,
    coeff,
    colour_frames,
    e2e_output,
    half_split_protos,
    raw_output,
    ultralytics_meta,
)

from vtrack.detectors import Detector, YoloOnnxDetector
from vtrack.errors import ConfigError, ModelError

pytest.importorskip("openvino")
from vtrack.detectors.openvino_yolo import YoloOpenVinoDetector, compile_config

FRAME = np.zeros((128, 256, 3), dtype=np.uint8)
FP32_BOX_ATOL = 1e-2
"""Pixels: OpenVINO's and ONNX Runtime's fp32 kernels (MatMul, Sigmoid) differ in the last bits."""
FP32_CONF_ATOL = 1e-5


def _close_detections(a: sv.Detections, b: sv.Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=FP32_BOX_ATOL)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=FP32_CONF_ATOL)
    np.testing.assert_array_equal(a.class_id, b.class_id)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("outputs", "meta"),
    [
        ([raw_output([(20, 30, 8, 4), (40, 40, 10, 10)], [(0.0, 0.9, 0.1), (0.5, 0.0, 0.0)])], "detect"),
        ([e2e_output([[20, 20, 40, 40, 0.9, 0], [4, 20, 12, 40, 0.8, 2]])], "end2end"),
        ([raw_output([(30, 30, 20, 20), (8, 30, 8, 20)], [(0.9, 0, 0), (0, 0, 0.8)], [coeff(0), coeff(1)]),
          half_split_protos()], "segment"),
    ],
    ids=["raw", "end2end", "segment"],
)
def test_same_detections_as_onnxruntime(make_model, outputs, meta: str) -> None:
    task = "segment" if meta == "segment" else "detect"
    path = make_model(outputs, meta=ultralytics_meta(task, end2end=meta == "end2end"))
    ours = YoloOpenVinoDetector(path)
    ref = YoloOnnxDetector(path)
    assert isinstance(ours, Detector)
    assert ours.spec == ref.spec and ours.class_names == NAMES and ours.task == task
    a, b = ours(FRAME), ref(FRAME)
    assert_same_detections(a, b)
    if task == "segment":
        assert a.mask is not None and b.mask is not None and a.mask.shape == (2, 128, 256)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_split_api_and_infer_batch_match_onnxruntime(tmp_path: Path) -> None:
    path = build_mean_color_model(tmp_path / "mean.onnx")
    ours, ref = YoloOpenVinoDetector(path, streams=2, threads=2), YoloOnnxDetector(path)
    ours.open_sessions(2)
    assert ours.sessions == 2
    frames = colour_frames(4)
    tensors = [ours.preprocess(f)[0].copy() for f in frames]
    batch = ours.infer_batch(tensors, session=1)
    for f, t, outs in zip(frames, tensors, batch, strict=True):
        geom = ours.preprocess(f)[1]
        np.testing.assert_allclose(ours.infer(t, 1)[0], ref.infer(t)[0], rtol=1e-4, atol=1e-4)
        _close_detections(ours.postprocess(outs, geom), ref(f))


def test_concurrent_infer_calls_each_get_their_own_outputs(tmp_path: Path) -> None:
    """Many threads on one detector (as serve's streams share it): no output is another frame's."""
    path = build_mean_color_model(tmp_path / "mean.onnx")
    det = YoloOpenVinoDetector(path, streams=2, threads=2)
    frames = colour_frames(6)
    tensors = [det.preprocess(f)[0].copy() for f in frames]
    expected = [det.infer(t)[0] for t in tensors]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(20):
            got = det.infer(tensors[i], 0)[0]
            if not np.allclose(got, expected[i], atol=1e-6):
                errors.append(f"frame {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tensors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_compiled_model_cache_is_written(tmp_path: Path, make_model) -> None:
    path = make_model([raw_output([(20, 30, 8, 4)], [(0.0, 0.9, 0.1)])])
    YoloOpenVinoDetector(path, cache_dir=tmp_path / "c")
    assert any((tmp_path / "c" / "openvino").iterdir())


_HINT, _PERF, _STREAMS, _THREADS = (
    "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS"
)


@pytest.mark.parametrize(
    ("precision", "streams", "threads", "want"),
    [
        ("fp32", 1, None, {_HINT: "f32", _PERF: "LATENCY", _STREAMS: "1"}),
        ("bf16", 2, 2, {_HINT: "bf16", _PERF: "THROUGHPUT", _STREAMS: "2", _THREADS: "2"}),
        ("int8", 2, 2, {_HINT: "f32", _PERF: "THROUGHPUT", _STREAMS: "2", _THREADS: "2"}),  # head in f32
    ],
)
def test_compile_config(precision: str, streams: int, threads: int | None, want: dict[str, str]) -> None:
    assert compile_config(precision, streams=streams, threads=threads) == want


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"precision": "int4"}, "precision must be one of"),
        ({"streams": 0}, "streams must be >= 1"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"conf": 1.5}, "conf must be in"),
    ],
)
def test_bad_settings_are_config_errors(make_model, kwargs, match: str) -> None:
    path = make_model([raw_output([], [])])
    with pytest.raises(ConfigError, match=match):
        YoloOpenVinoDetector(path, **kwargs)


def test_bad_files_are_one_line_model_errors(tmp_path: Path, make_model) -> None:
    with pytest.raises(ModelError, match="not found"):
        YoloOpenVinoDetector(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="cannot load model") as e:
        YoloOpenVinoDetector(junk)
    assert "\n" not in str(e.value)
    no_meta = make_model([raw_output([], [])], meta={"author": "someone"})
    with pytest.raises(ModelError, match="not an Ultralytics YOLO export"):
        YoloOpenVinoDetector(no_meta)


def test_segment_with_no_detections(make_model) -> None:
    det = YoloOpenVinoDetector(
        make_model([raw_output([], [], [], anchors=5), half_split_protos()], meta=ultralytics_meta("segment"))
    )
    d = det(FRAME)
    assert det.spec.num_masks == NM
    assert len(d) == 0 and d.mask is not None and d.mask.shape == (0, 128, 256)
