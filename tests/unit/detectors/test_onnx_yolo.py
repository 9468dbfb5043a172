"""YoloOnnxDetector on tiny ONNX graphs with Ultralytics-like outputs and metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from onnx import TensorProto
from tiny_onnx import (
    NAMES,
    NC,
    NM,
    coeff,
    e2e_output,
    half_split_protos,
    raw_output,
    ultralytics_meta,
)

from vtrack.detectors import Detector, YoloOnnxDetector, class_ids_for_names, onnx_yolo
from vtrack.errors import ConfigError, ModelError

# A 128x256 (h x w) frame lands in the 64x64 input at gain 0.25 below 16 rows of padding:
# input (x, y) -> frame (4x, 4(y - 16)).
FRAME = np.zeros((128, 256, 3), dtype=np.uint8)


def _frame_box(x1: float, y1: float, x2: float, y2: float) -> list[float]:
    return [4 * x1, 4 * (y1 - 16), 4 * x2, 4 * (y2 - 16)]


def test_raw_detect_decodes_to_frame_pixels(make_model) -> None:
    out = raw_output(
        [(20, 30, 8, 4), (40, 40, 10, 10)],  # cx, cy, w, h in input pixels
        [(0.0, 0.9, 0.1), (0.5, 0.0, 0.0)],
    )
    det = YoloOnnxDetector(make_model([out]))
    assert isinstance(det, Detector)
    assert det.task == "detect" and det.class_names == NAMES
    d = det(FRAME)
    assert isinstance(d, sv.Detections)
    assert len(d) == 2
    np.testing.assert_allclose(d.xyxy[0], _frame_box(16, 28, 24, 32), atol=1e-4)
    np.testing.assert_allclose(d.xyxy[1], _frame_box(35, 35, 45, 45), atol=1e-4)
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32
    assert np.issubdtype(d.class_id.dtype, np.integer)
    assert d.class_id.tolist() == [1, 0]
    assert d.data["class_name"].tolist() == ["bicycle", "person"]
    assert isinstance(d.data["class_name"], np.ndarray)
    assert d.mask is None
    assert set(det.timings) == {"preprocess", "inference", "postprocess"}


def test_boxes_are_clipped_to_the_frame(make_model) -> None:
    out = raw_output([(2, 20, 10, 10)], [(0.9, 0, 0)])  # reaches x = -3 and into the top padding
    d = YoloOnnxDetector(make_model([out]))(FRAME)
    np.testing.assert_allclose(d.xyxy[0], [0, 0, 28, 36], atol=1e-4)


@pytest.mark.parametrize(
    ("boxes", "classes", "iou", "expected_ids"),
    [
        ([(20, 30, 10, 10), (21, 30, 10, 10)], [0, 0], 0.7, [0]),  # same class, IoU 0.82: one left
        ([(20, 30, 10, 10), (21, 30, 10, 10)], [0, 2], 0.7, [0, 2]),  # class-aware: both
        ([(20, 30, 10, 10), (21, 30, 10, 10)], [0, 0], 0.9, [0, 0]),  # above a laxer IoU: both
        ([(20, 30, 10, 10), (40, 40, 10, 10)], [1, 1], 0.7, [1, 1]),  # disjoint
    ],
)
def test_nms(make_model, boxes, classes, iou, expected_ids) -> None:
    scores = []
    for i, c in enumerate(classes):
        s = [0.0] * NC
        s[c] = 0.9 - 0.1 * i
        scores.append(s)
    det = YoloOnnxDetector(make_model([raw_output(boxes, scores)]), iou=iou)
    assert det(FRAME).class_id.tolist() == expected_ids


@pytest.mark.parametrize(
    ("kwargs", "expected_ids"),
    [
        ({}, [2, 1, 0]),
        ({"conf": 0.5}, [2, 1]),
        ({"conf": 0.7}, [2]),
        ({"classes": [0, 1]}, [1, 0]),
        ({"classes": [2], "conf": 0.8}, []),
        ({"max_det": 2}, [2, 1]),
    ],
)
def test_conf_class_and_max_det_filters(make_model, kwargs, expected_ids) -> None:
    out = raw_output(
        [(10, 30, 4, 4), (30, 30, 4, 4), (50, 30, 4, 4)],
        [(0.3, 0, 0), (0, 0.6, 0), (0, 0, 0.75)],
    )
    d = YoloOnnxDetector(make_model([out]), **kwargs)(FRAME)
    assert d.class_id.tolist() == expected_ids
    assert d.data["class_name"].tolist() == [NAMES[i] for i in expected_ids]


def test_no_detections_gives_empty_aligned_arrays(make_model) -> None:
    d = YoloOnnxDetector(make_model([raw_output([], [])]))(FRAME)
    assert len(d) == 0
    assert d.xyxy.shape == (0, 4) and d.confidence.shape == (0,) and d.class_id.shape == (0,)
    assert d.data["class_name"].shape == (0,)


def test_end2end_detect(make_model) -> None:
    out = e2e_output([[16, 28, 24, 32, 0.9, 2], [35, 35, 45, 45, 0.3, 0], [1, 1, 2, 2, 0.1, 1]])
    det = YoloOnnxDetector(make_model([out], meta=ultralytics_meta(end2end=True)))
    assert det.spec.end2end
    d = det(FRAME)
    assert d.class_id.tolist() == [2, 0]
    np.testing.assert_allclose(d.xyxy[0], _frame_box(16, 28, 24, 32), atol=1e-4)
    assert YoloOnnxDetector(det.spec.path, conf=0.5)(FRAME).class_id.tolist() == [2]
    assert YoloOnnxDetector(det.spec.path, classes=[0])(FRAME).class_id.tolist() == [0]


def test_end2end_recognised_from_shape_without_metadata_flag(make_model) -> None:
    # nms=True exports say end2end=False in their metadata but output (1, 300, 6)
    out = e2e_output([[16, 28, 24, 32, 0.9, 1]], k=300)
    det = YoloOnnxDetector(make_model([out], meta=ultralytics_meta(end2end=False)))
    assert det.spec.end2end
    assert det(FRAME).class_id.tolist() == [1]


def _expected_left_half_mask(box_frame: list[float]) -> np.ndarray:
    x1, y1, x2, y2 = (int(np.ceil(v)) for v in box_frame)
    m = np.zeros(FRAME.shape[:2], bool)
    m[y1:y2, x1 : min(x2, 128)] = True  # input x < 32 is frame x < 128
    return m


@pytest.mark.parametrize("end2end", [False, True], ids=["raw", "end2end"])
def test_segment_masks(make_model, end2end: bool) -> None:
    protos = half_split_protos()
    if end2end:
        det_out = e2e_output([[20, 20, 40, 40, 0.9, 0, *coeff(0)], [4, 20, 12, 40, 0.8, 2, *coeff(1)]], nm=NM)
    else:
        det_out = raw_output(
            [(30, 30, 20, 20), (8, 30, 8, 20)], [(0.9, 0, 0), (0, 0, 0.8)], [coeff(0), coeff(1)]
        )
    det = YoloOnnxDetector(make_model([det_out, protos], meta=ultralytics_meta("segment")))
    assert det.task == "segment" and det.spec.num_masks == NM and det.spec.end2end is end2end
    d = det(FRAME)
    assert d.mask is not None and d.mask.shape == (2, 128, 256) and d.mask.dtype == bool
    np.testing.assert_array_equal(d.mask[0], _expected_left_half_mask(_frame_box(20, 20, 40, 40)))
    box1 = _frame_box(4, 20, 12, 40)
    full = np.zeros((128, 256), bool)
    full[int(box1[1]) : int(box1[3]), int(box1[0]) : int(box1[2])] = True
    np.testing.assert_array_equal(d.mask[1], full)


def test_segment_with_no_detections_has_empty_mask_stack(make_model) -> None:
    det = YoloOnnxDetector(
        make_model([raw_output([], [], [], anchors=5), half_split_protos()], meta=ultralytics_meta("segment"))
    )
    d = det(FRAME)
    assert len(d) == 0 and d.mask is not None and d.mask.shape == (0, 128, 256)


def test_dynamic_input_shape_letterboxes_to_stride_multiple(make_model) -> None:
    out = raw_output([(20, 20, 8, 8)], [(0, 0, 0.9)])
    path = make_model(
        [out],
        input_shape=("batch", 3, "height", "width"),
        output_shapes=[("batch", 4 + NC, "anchors")],
        meta=ultralytics_meta(imgsz=64),
    )
    det = YoloOnnxDetector(path)
    assert det.spec.dynamic and det.input_size == (64, 64)
    d = det(FRAME)  # 128x256 -> 32x64 tensor, no padding rows: input (x, y) -> frame (4x, 4y)
    np.testing.assert_allclose(d.xyxy[0], [64, 64, 96, 96], atol=1e-4)
    assert det._letterbox.geometry((128, 256)).input_h == 32
    d2 = det(np.zeros((200, 100, 3), np.uint8))  # another frame size works too
    assert len(d2) == 1
    big = YoloOnnxDetector(path, imgsz=128)
    assert big.input_size == (128, 128)
    np.testing.assert_allclose(big(FRAME).xyxy[0], [32, 32, 48, 48], atol=1e-4)


def test_float16_input_model(make_model) -> None:
    out = raw_output([(20, 30, 8, 4)], [(0.0, 0.9, 0.1)])
    det = YoloOnnxDetector(make_model([out], input_type=TensorProto.FLOAT16))
    assert det.spec.input_dtype is np.float16
    np.testing.assert_allclose(det(FRAME).xyxy[0], _frame_box(16, 28, 24, 32), atol=1e-3)


def test_names_metadata_is_parsed_safely(make_model) -> None:
    meta = ultralytics_meta(names={0: "a", 1: "b", 2: "c"})
    meta["names"] = "__import__('os').system('echo pwned')"
    with pytest.raises(ModelError, match="unreadable 'names' metadata"):
        YoloOnnxDetector(make_model([raw_output([], [])], meta=meta))


def test_warmup_and_repr(make_model) -> None:
    det = YoloOnnxDetector(make_model([raw_output([], [])]), intra_op_threads=1)
    det.warmup()
    assert "task=detect" in repr(det)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing", "model file not found: .*nope.onnx"),
        ("empty", "model file is empty .*empty.onnx"),
        ("corrupt", "cannot load ONNX model .*corrupt.onnx"),
        ("no_metadata", "not an Ultralytics YOLO export"),
        ("classify", "is a 'classify' model; vtrack needs a detect or segment model"),
        ("pose", "is a 'pose' model"),
        ("obb", "is a 'obb' model"),
        ("wrong_output", r"output 'output0' has shape \[1, 10, 21\]"),
        ("batch4", "exported with batch=4"),
        ("segment_without_protos", "segment model but has outputs"),
        ("gray_input", "takes 1-channel images"),
    ],
)
def test_refuses_bad_models(make_model, tmp_path: Path, case: str, match: str) -> None:
    raw = raw_output([], [])
    if case == "missing":
        path = tmp_path / "nope.onnx"
    elif case == "empty":
        path = _write(tmp_path / "empty.onnx", b"")
    elif case == "corrupt":
        path = _write(tmp_path / "corrupt.onnx", b"this is not a protobuf \x00\xff" * 10)
    elif case == "no_metadata":
        path = make_model([raw], meta={})
    elif case in ("classify", "pose", "obb"):
        out = np.zeros((1, 5), np.float32) if case == "classify" else np.zeros((1, 56, 21), np.float32)
        path = make_model([out], meta=ultralytics_meta(case))
    elif case == "wrong_output":
        path = make_model([np.zeros((1, 10, 21), np.float32)])
    elif case == "batch4":
        path = make_model([raw], input_shape=(4, 3, 64, 64))
    elif case == "segment_without_protos":
        path = make_model([raw_output([], [], [])], meta=ultralytics_meta("segment"))
    else:
        path = make_model([raw], input_shape=(1, 1, 64, 64))
    with pytest.raises(ModelError, match=match) as info:
        YoloOnnxDetector(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"imgsz": 320}, "fixed input of 64x64; imgsz=320"),
        ({"providers": ["NoSuchExecutionProvider"]}, "NoSuchExecutionProvider not available"),
        ({"classes": [0, 7]}, r"class id\(s\) \[7\] not in the model"),
        ({"conf": 1.5}, "conf must be"),
        ({"iou": 0.0}, "iou must be"),
        ({"max_det": 0}, "max_det must be"),
        ({"intra_op_threads": -1}, "intra_op_threads must be"),
    ],
)
def test_config_errors(make_model, kwargs, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        YoloOnnxDetector(make_model([raw_output([], [])]), **kwargs)


def test_dynamic_imgsz_must_be_stride_multiple(make_model) -> None:
    path = make_model(
        [raw_output([], [])], input_shape=("batch", 3, "h", "w"), output_shapes=[("batch", 4 + NC, "a")]
    )
    with pytest.raises(ConfigError, match="multiple of the model stride 32"):
        YoloOnnxDetector(path, imgsz=100)


@pytest.mark.parametrize(
    ("names", "expected"),
    [(["car"], [2]), (["bicycle", "person"], [1, 0]), (["Car", "PERSON"], [2, 0]), ([], [])],
)
def test_class_ids_for_names(names: list[str], expected: list[int]) -> None:
    assert class_ids_for_names(NAMES, names) == expected


def test_class_ids_for_unknown_names_lists_valid_ones(make_model) -> None:
    det = YoloOnnxDetector(make_model([raw_output([], [])]))
    assert det.class_ids_for_names(["car"]) == [2]
    with pytest.raises(
        ConfigError, match=r"unknown class name\(s\) 'bycicle' \(did you mean 'bicycle'\?\), 'tree'"
    ) as e:
        det.class_ids_for_names(["car", "bycicle", "tree"])
    assert "'person', 'bicycle', 'car'" in str(e.value)


def test_classes_can_be_set_after_construction(make_model) -> None:
    out = raw_output([(10, 30, 4, 4), (50, 30, 4, 4)], [(0.9, 0, 0), (0, 0, 0.8)])
    det = YoloOnnxDetector(make_model([out]))
    assert det.classes is None
    det.classes = det.class_ids_for_names(["car"])
    assert det.classes == [2]
    assert det(FRAME).class_id.tolist() == [2]
    det.classes = None
    assert det(FRAME).class_id.tolist() == [0, 2]
    with pytest.raises(ConfigError, match="not in the model"):
        det.classes = [99]


@pytest.mark.parametrize(
    ("available", "requested", "expected"),
    [
        (["CPUExecutionProvider"], None, ["CPUExecutionProvider"]),
        (
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            None,
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            ["CPUExecutionProvider", "AzureExecutionProvider", "CUDAExecutionProvider"],
            None,
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CPUExecutionProvider"],
            ["CPUExecutionProvider"],
        ),
    ],
)
def test_provider_choice(monkeypatch, available, requested, expected) -> None:
    monkeypatch.setattr(onnx_yolo.ort, "get_available_providers", lambda: available)
    assert onnx_yolo.select_providers(requested) == expected


def test_tensorrt_gets_an_engine_cache(monkeypatch, make_model, tmp_path: Path) -> None:
    path = make_model([raw_output([], [])])
    seen = {}
    real = onnx_yolo.ort.InferenceSession

    def fake_session(model, sess_options=None, providers=None):
        seen["providers"] = providers
        return real(model, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        onnx_yolo.ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(onnx_yolo.ort, "InferenceSession", fake_session)
    YoloOnnxDetector(path)
    trt, cpu = seen["providers"]
    assert trt == (
        "TensorrtExecutionProvider",
        {
            "device_id": 0,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(tmp_path / "cache" / "tensorrt"),
        },
    )
    assert cpu == "CPUExecutionProvider"
