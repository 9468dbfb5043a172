"""build_detector: one function turns a ModelConfig into a ready detector of the chosen backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_onnx import build_mean_color_model, colour_frames

from vtrack.config import ModelConfig
from vtrack.detectors import YoloOnnxDetector
from vtrack.detectors.factory import build_detector
from vtrack.errors import ConfigError

pytest.importorskip("openvino")
from vtrack.detectors.openvino_yolo import YoloOpenVinoDetector

BF16 = {"avx512_bf16"}
PLAIN = {"avx2"}


@pytest.fixture
def model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "cache"))
    return build_mean_color_model(tmp_path / "mean.onnx")


@pytest.mark.parametrize(
    ("backend", "precision", "flags", "cls", "want"),
    [
        ("auto", "auto", BF16, YoloOpenVinoDetector, ("openvino", "bf16")),
        ("auto", "auto", PLAIN, YoloOpenVinoDetector, ("openvino", "fp32")),  # a CPU without AVX512/AMX
        ("onnxruntime", "fp32", BF16, YoloOnnxDetector, ("onnxruntime", "fp32")),
        ("openvino", "fp32", BF16, YoloOpenVinoDetector, ("openvino", "fp32")),
    ],
)
def test_builds_the_chosen_backend(model_path: Path, backend, precision, flags, cls, want) -> None:
    mc = ModelConfig(path=str(model_path), backend=backend, precision=precision)
    det = build_detector(mc, flags=flags, cores=2)
    assert type(det) is cls
    assert det.choice is not None and (det.choice.backend, det.choice.precision) == want
    assert (det.choice.sessions, det.choice.threads) == (2, 1)  # two 1-thread inferences on 2 cores
    assert det.sessions == 2
    d = det(colour_frames(1)[0])
    assert d.xyxy.shape[1] == 4


def test_onnxruntime_and_openvino_fp32_agree(model_path: Path) -> None:
    frames = colour_frames(3)
    ort_det = build_detector(ModelConfig(path=str(model_path), backend="onnxruntime"), cores=2)
    ov_det = build_detector(ModelConfig(path=str(model_path), backend="openvino", precision="fp32"), cores=2)
    for f in frames:
        a, b = ort_det(f), ov_det(f)
        assert len(a) == len(b)
        assert abs(a.xyxy - b.xyxy).max(initial=0.0) < 1e-2


def test_shared_onnxruntime_keeps_one_session_openvino_gets_streams(model_path: Path) -> None:
    ort_det = build_detector(ModelConfig(path=str(model_path), backend="onnxruntime"), shared=True, cores=2)
    ov_det = build_detector(ModelConfig(path=str(model_path), backend="openvino"), shared=True, cores=2,
                            flags=PLAIN)
    assert ort_det.sessions == 1
    assert ov_det.sessions == 2


def test_explicit_sessions_and_threads(model_path: Path) -> None:
    mc = ModelConfig(path=str(model_path), backend="openvino", precision="fp32", sessions=1, threads=2)
    det = build_detector(mc, cores=2)
    assert det.choice is not None and (det.choice.sessions, det.choice.threads) == (1, 2)
    assert det.sessions == 1


def test_impossible_combination_is_a_config_error(model_path: Path) -> None:
    with pytest.raises(ConfigError, match="bf16 runs on OpenVINO"):
        build_detector(ModelConfig(path=str(model_path), backend="onnxruntime", precision="bf16"))


def test_config_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="backend"):
        ModelConfig(backend="tensorflow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision"):
        ModelConfig(precision="int4")  # type: ignore[arg-type]
