"""OpenVINO bf16 and int8 against ONNX Runtime fp32 on the real model and footage (../shared).

Tolerances (measured on these clips, with margin):
* per frame, boxes matched by class at IoU >= 0.5 (:func:`vtrack.detectors.quantize.agreement`): bf16
  recall and precision >= 0.97 of fp32's boxes (measured 0.99-1.0), int8 >= 0.88 (measured 0.94 on the
  export's held-out bike frames);
* counts of ``vtrack run`` on the bike clip (300 frames) and TUD-Campus (71 frames): equal to fp32's at
  bf16, within ±1 per line, class and direction at int8.

The int8 model is quantized once for the module, on frames of the bike clip (calibration and held-out),
and also used on TUD-Campus (a scene it was not calibrated on: the harder case).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import supervision as sv

from vtrack.config import RunConfig, lines_from_flags
from vtrack.detectors import YoloOnnxDetector
from vtrack.errors import ModelError
from vtrack.job import run_job
from vtrack.stream.sources import open_source

pytest.importorskip("openvino")
from vtrack.detectors.openvino_yolo import YoloOpenVinoDetector
from vtrack.detectors.quantize import agreement, quantize_int8

pytestmark = [pytest.mark.assets, pytest.mark.slow]

BIKE = "media/video/bicycle_tracking_sample.mp4"
TUD = "mot/TUD-Campus/img1"
MIN_AGREEMENT = {"bf16": 0.97, "int8": 0.88}
COUNT_TOLERANCE = {"bf16": 0, "int8": 1}
CALIB_FRAMES = 120  # the export's defaults: with 80 and 20 the held-out agreement fell to 0.90
HELDOUT_FRAMES = 40
PARITY_FRAMES = 40
SOURCES = {
    "bike": (BIKE, ["bicycle"], ["gate=400,250,400,650"]),
    "tud": (TUD, ["person"], ["mid=0.5,0,0.5,1"]),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vtrack-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTRACK_CACHE", str(cache))


@pytest.fixture(scope="module")
def int8_model(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nncf")
    dest = tmp_path_factory.mktemp("int8") / "yolov8n-int8.xml"
    path, score = quantize_int8(
        shared / "models/yolov8n.onnx", shared / BIKE, calib_frames=CALIB_FRAMES,
        heldout_frames=HELDOUT_FRAMES, out=dest,
    )
    assert path == dest and dest.is_file() and dest.with_suffix(".bin").is_file()
    assert score.score >= 0.9, score  # the export's own threshold was met
    return dest


def _frames(source: Path, n: int) -> list[Any]:
    src = open_source(source, stride=2)
    try:
        return [f.image for _, f in zip(range(n), src, strict=False)]
    finally:
        src.close()


def _detect(det: YoloOnnxDetector, frames: list[Any]) -> list[sv.Detections]:
    return [det(f) for f in frames]


Reference = tuple[list[Any], list[sv.Detections]]


@pytest.fixture(scope="module")
def fp32_reference(shared: Path) -> Callable[[str], Reference]:
    """``fp32_reference(source)``: its parity frames and ONNX Runtime fp32's boxes on them, made once.

    The bf16 and int8 cases of a source compare with the same reference (ONNX Runtime is deterministic
    on the same frames), so it is decoded and detected once for the module, not once per precision.
    """
    made: dict[str, Reference] = {}

    def get(source: str) -> Reference:
        if source not in made:
            frames = _frames(shared / source, PARITY_FRAMES)
            made[source] = (frames, _detect(YoloOnnxDetector(shared / "models/yolov8n.onnx"), frames))
        return made[source]

    return get


@pytest.mark.parametrize("precision", ["bf16", "int8"])
@pytest.mark.parametrize("source", [BIKE, TUD])
def test_boxes_agree_with_fp32(
    shared: Path,
    request: pytest.FixtureRequest,
    fp32_reference: Callable[[str], Reference],
    precision: str,
    source: str,
) -> None:
    model = shared / "models/yolov8n.onnx"
    frames, reference = fp32_reference(source)
    path = request.getfixturevalue("int8_model") if precision == "int8" else model
    ours = _detect(YoloOpenVinoDetector(path, precision=precision), frames)
    score = agreement(reference, ours)
    assert score.reference > 100  # enough boxes for the figure to mean something
    assert score.recall >= MIN_AGREEMENT[precision], score
    assert score.precision >= MIN_AGREEMENT[precision], score


def test_bf16_segmenter_agrees_with_fp32(shared: Path) -> None:
    model = shared / "models/yolov8n-seg.onnx"
    frames = _frames(shared / BIKE, 10)
    reference = _detect(YoloOnnxDetector(model), frames)
    ours = _detect(YoloOpenVinoDetector(model, precision="bf16"), frames)
    assert all(d.mask is not None for d in ours)
    assert agreement(reference, ours).score >= MIN_AGREEMENT["bf16"]


def _counts(shared: Path, out: Path, source: str, backend: str, precision: str, model: Path) -> dict:
    path, classes, lines = SOURCES[source]
    rc = RunConfig(source=str(shared / path), classes=classes)
    rc.model.path = str(model)
    rc.model.backend = backend  # type: ignore[assignment]
    rc.model.precision = precision  # type: ignore[assignment]
    rc.counting.lines = lines_from_flags(lines)
    rc.output.dir = str(out)
    rc.output.video = False
    summary = run_job(rc).summary
    assert summary["detector"]["backend"] == backend and summary["detector"]["precision"] == precision
    return summary["lines"]


@pytest.mark.parametrize("source", ["bike", "tud"])
def test_counts_equal_fp32_at_bf16_and_within_one_at_int8(
    shared: Path, tmp_path: Path, int8_model: Path, source: str
) -> None:
    model = shared / "models/yolov8n.onnx"
    fp32 = _counts(shared, tmp_path / "fp32", source, "onnxruntime", "fp32", model)
    assert any(c["in"] + c["out"] for per in fp32.values() for c in per.values())  # something is counted
    bf16 = _counts(shared, tmp_path / "bf16", source, "openvino", "bf16", model)
    int8 = _counts(shared, tmp_path / "int8", source, "openvino", "int8", int8_model)
    assert bf16 == fp32
    for line, per in fp32.items():
        for cls, c in per.items():
            for direction in ("in", "out"):
                got = int8[line][cls][direction]
                assert abs(got - c[direction]) <= COUNT_TOLERANCE["int8"], (line, cls, direction, got, c)


def test_int8_below_the_threshold_is_refused_and_not_written(shared: Path, tmp_path: Path) -> None:
    pytest.importorskip("nncf")
    dest = tmp_path / "refused-int8.xml"
    with pytest.raises(ModelError, match=r"agrees too little with fp32.*--force") as e:
        quantize_int8(
            shared / "models/yolov8n.onnx", shared / BIKE, calib_frames=4, heldout_frames=10,
            min_agreement=1.0, out=dest,
        )
    assert "\n" not in str(e.value)
    assert not dest.exists() and not dest.with_suffix(".bin").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind
