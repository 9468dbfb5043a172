"""Batched inference, GPU provider options and IO binding of YoloOnnxDetector (on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import assert_same_detections, build_mean_color_model, colour_frames

from vtrack.detectors import YoloOnnxDetector, onnx_yolo
from vtrack.errors import ConfigError, ModelError

TRT, CUDA, CPU = onnx_yolo.TENSORRT, onnx_yolo.CUDA, onnx_yolo.CPU


@pytest.fixture
def dynamic_batch_model(tmp_path: Path) -> Path:
    return build_mean_color_model(tmp_path / "dyn.onnx")


def test_spec_reads_the_batch_axis(tmp_path: Path) -> None:
    dyn = YoloOnnxDetector(build_mean_color_model(tmp_path / "a.onnx"))
    static = YoloOnnxDetector(build_mean_color_model(tmp_path / "b.onnx", batch=1))
    full = YoloOnnxDetector(build_mean_color_model(tmp_path / "c.onnx", hw=("h", "w")))
    assert dyn.spec.dynamic_batch and not dyn.spec.dynamic
    assert not static.spec.dynamic_batch
    assert full.spec.dynamic_batch and full.spec.dynamic


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("hw", [(64, 64), ("h", "w")])
def test_infer_batch_equals_one_frame_at_a_time(tmp_path: Path, n: int, hw) -> None:
    det = YoloOnnxDetector(build_mean_color_model(tmp_path / "m.onnx", hw=hw), conf=0.3)
    frames = colour_frames(n)
    prepared = [det.preprocess(f) for f in frames]
    batched = det.infer_batch([t for t, _ in prepared])
    assert len(batched) == n
    counts = []
    for (tensor, geom), outs, frame in zip(prepared, batched, frames, strict=True):
        single = det.infer(tensor)
        assert [o.shape for o in outs] == [o.shape for o in single]
        for got, want in zip(outs, single, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert_same_detections(det.postprocess(outs, geom), det(frame))
        counts.append(len(det.postprocess(outs, geom)))
    assert sum(counts) > 0  # the comparison is not vacuous
    if n > 1:  # and the frames really differ
        assert len({o[0].tobytes() for o in batched}) == n


def test_static_batch_model_refuses_a_batch_clearly(tmp_path: Path) -> None:
    det = YoloOnnxDetector(build_mean_color_model(tmp_path / "m.onnx", batch=1))
    tensor, _ = det.preprocess(colour_frames(1)[0])
    assert len(det.infer_batch([tensor])) == 1  # one frame is always fine
    with pytest.raises(ModelError, match=r"fixed batch of 1.*dynamic batch axis"):
        det.infer_batch([tensor, tensor.copy()])


def test_infer_batch_bad_input(dynamic_batch_model: Path) -> None:
    det = YoloOnnxDetector(dynamic_batch_model)
    tensor, _ = det.preprocess(colour_frames(1)[0])
    with pytest.raises(ValueError, match="at least one tensor"):
        det.infer_batch([])
    with pytest.raises(ValueError, match="one shape and dtype"):
        det.infer_batch([tensor, tensor.astype(np.float16)])
    with pytest.raises(ValueError, match="one shape and dtype"):
        det.infer_batch([np.concatenate([tensor, tensor])])
    with pytest.raises(ConfigError, match="session must be in"):
        det.infer_batch([tensor], session=3)


def test_infer_batch_on_a_second_session(dynamic_batch_model: Path) -> None:
    det = YoloOnnxDetector(dynamic_batch_model, intra_op_threads=1)
    det.open_sessions(2, intra_op_threads=1)
    tensors = [det.preprocess(f)[0] for f in colour_frames(3)]
    for a, b in zip(det.infer_batch(tensors, session=0), det.infer_batch(tensors, session=1), strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_io_binding_gives_the_same_outputs(dynamic_batch_model: Path) -> None:
    plain = YoloOnnxDetector(dynamic_batch_model)
    bound = YoloOnnxDetector(dynamic_batch_model, io_binding=True)
    frames = colour_frames(3)
    tensors = [plain.preprocess(f)[0] for f in frames]
    for t in tensors:
        np.testing.assert_array_equal(bound.infer(t)[0], plain.infer(t)[0])
    for a, b in zip(bound.infer_batch(tensors), plain.infer_batch(tensors), strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    for f in frames:
        assert_same_detections(bound(f), plain(f))


@pytest.mark.parametrize(
    ("providers", "kwargs", "expected"),
    [
        ([CPU], {}, [CPU]),
        ([CPU], {"half": True}, [CPU]),
        (
            [CUDA, CPU],
            {"device_id": 1},
            [(CUDA, {"device_id": 1, "cudnn_conv_algo_search": "EXHAUSTIVE"}), CPU],
        ),
        (
            [TRT, CUDA, CPU],
            {"half": True},
            [
                (
                    TRT,
                    {
                        "device_id": 0,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": "CACHE/tensorrt",
                        "trt_fp16_enable": True,
                    },
                ),
                (CUDA, {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}),
                CPU,
            ],
        ),
        (
            [TRT],
            {"trt_profile": ("images:1x3x64x64", "images:4x3x64x64", "images:8x3x64x64")},
            [
                (
                    TRT,
                    {
                        "device_id": 0,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": "CACHE/tensorrt",
                        "trt_profile_min_shapes": "images:1x3x64x64",
                        "trt_profile_opt_shapes": "images:4x3x64x64",
                        "trt_profile_max_shapes": "images:8x3x64x64",
                    },
                )
            ],
        ),
        (
            [TRT, CPU],
            {"half": False, "device_id": 2},
            [
                (
                    TRT,
                    {
                        "device_id": 2,
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": "CACHE/tensorrt",
                    },
                ),
                CPU,
            ],
        ),
    ],
)
def test_provider_options(tmp_path: Path, providers, kwargs, expected) -> None:
    got = onnx_yolo.provider_options(providers, cache_dir=tmp_path, **kwargs)
    for entry in expected:
        if isinstance(entry, tuple) and "trt_engine_cache_path" in entry[1]:
            entry[1]["trt_engine_cache_path"] = str(tmp_path / "tensorrt")
    assert got == expected


def test_provider_options_default_cache_and_bad_device(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "c"))
    (entry,) = onnx_yolo.provider_options([TRT])
    assert isinstance(entry, tuple)
    options = entry[1]
    assert options["trt_engine_cache_path"] == str(tmp_path / "c" / "tensorrt")
    with pytest.raises(ConfigError, match="device_id must be >= 0"):
        onnx_yolo.provider_options([CUDA], device_id=-1)


def test_half_reaches_tensorrt_and_extra_sessions(monkeypatch, dynamic_batch_model: Path) -> None:
    seen: list[object] = []
    real = onnx_yolo.ort.InferenceSession

    def recording_session(model, sess_options=None, providers=None):
        seen.append(providers)
        return real(model, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(onnx_yolo.ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(onnx_yolo.ort, "InferenceSession", recording_session)
    det = YoloOnnxDetector(dynamic_batch_model, providers=[TRT, CPU], half=True, device_id=0)
    monkeypatch.setattr(det._session, "get_providers", lambda: [TRT, CPU])
    det.open_sessions(2)
    assert len(seen) == 2
    for providers in seen:
        assert isinstance(providers, list)
        trt = providers[0]
        assert trt[0] == TRT and trt[1]["trt_fp16_enable"] is True


@pytest.mark.parametrize(
    ("batch", "hw", "kwargs", "expected"),
    [
        (1, (64, 64), {"max_batch": 8}, None),  # nothing dynamic: TensorRT's static engine
        ("b", (64, 64), {"max_batch": 8}, ("images:1x3x64x64", "images:8x3x64x64", "images:8x3x64x64")),
        ("b", ("h", "w"), {"max_batch": 4}, ("images:1x3x32x32", "images:4x3x64x64", "images:4x3x64x64")),
        (
            "b",
            ("h", "w"),
            {"max_batch": 4, "imgsz": 640, "frame_hw": (1080, 1920)},
            ("images:1x3x384x640", "images:4x3x384x640", "images:4x3x384x640"),
        ),
        (1, ("h", "w"), {"max_batch": 4}, ("images:1x3x32x32", "images:1x3x64x64", "images:1x3x64x64")),
    ],
)
def test_trt_shape_profile(tmp_path: Path, batch, hw, kwargs, expected) -> None:
    path = build_mean_color_model(tmp_path / "m.onnx", batch=batch, hw=hw)
    assert onnx_yolo.trt_shape_profile(path, **kwargs) == expected


def test_trt_shape_profile_bad_batch(dynamic_batch_model: Path) -> None:
    with pytest.raises(ConfigError, match="max_batch must be >= 1"):
        onnx_yolo.trt_shape_profile(dynamic_batch_model, max_batch=0)
