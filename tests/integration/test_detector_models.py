"""The detector on the real COCO YOLOv8n ONNX exports in ../shared (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vtrack.detectors import YoloOnnxDetector

pytestmark = pytest.mark.assets

MIN_BICYCLES = 3


def _image(shared: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(shared / "media" / "images" / name))
    assert img is not None, name
    return img


def test_yolov8n_finds_parked_bicycles(shared: Path) -> None:
    det = YoloOnnxDetector(shared / "models" / "yolov8n.onnx")
    assert det.task == "detect" and len(det.class_names) == 80 and det.class_names[1] == "bicycle"
    img = _image(shared, "bikes_parked_1.jpg")
    d = det(img)
    names = d.data["class_name"].tolist()
    assert names.count("bicycle") >= MIN_BICYCLES, names
    h, w = img.shape[:2]
    assert np.all(d.xyxy >= 0) and np.all(d.xyxy[:, 0::2] <= w) and np.all(d.xyxy[:, 1::2] <= h)
    assert np.all(d.confidence > 0.25)
    only = YoloOnnxDetector(shared / "models" / "yolov8n.onnx", classes=det.class_ids_for_names(["bicycle"]))
    assert set(only(img).data["class_name"].tolist()) == {"bicycle"}


def test_yolov8n_seg_gives_frame_sized_masks(shared: Path) -> None:
    det = YoloOnnxDetector(shared / "models" / "yolov8n-seg.onnx")
    assert det.task == "segment"
    img = _image(shared, "bikes_parked_1.jpg")
    d = det(img)
    assert len(d) > 0
    assert d.mask is not None and d.mask.shape == (len(d), *img.shape[:2]) and d.mask.dtype == bool
    assert "bicycle" in d.data["class_name"].tolist()
    for box, mask in zip(d.xyxy, d.mask, strict=True):
        ys, xs = np.nonzero(mask)
        assert ys.size > 0  # every detected object has some mask
        x1, y1, x2, y2 = box
        assert xs.min() >= np.floor(x1) and xs.max() < np.ceil(x2)  # masks stay inside their box
        assert ys.min() >= np.floor(y1) and ys.max() < np.ceil(y2)


@pytest.mark.parametrize("model", ["yolov8n.onnx", "yolov8n-seg.onnx"])
def test_warmup_and_repeated_calls_are_stable(shared: Path, model: str) -> None:
    det = YoloOnnxDetector(shared / "models" / model, intra_op_threads=1)
    det.warmup()
    img = _image(shared, "road_traffic.png")
    a, b = det(img), det(img)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.class_id, b.class_id)
