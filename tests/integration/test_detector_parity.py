"""Our ONNX pipeline against Ultralytics' own ``predict`` on the same ONNX files (torch + ultralytics)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from vtrack.detectors import YoloOnnxDetector

pytestmark = [pytest.mark.torch, pytest.mark.assets, pytest.mark.slow]

MIN_IOU = 0.9
COUNT_TOLERANCE = 1
MIN_MASK_IOU = 0.9


def _match(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching on IoU: (our rows, their rows, IoUs)."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    if len(ours) == 0 or len(theirs) == 0:
        empty = np.zeros(0, dtype=int)
        return empty, empty, np.zeros(0)
    iou = sv.box_iou_batch(ours, theirs)
    rows, cols = scipy_optimize.linear_sum_assignment(-iou)
    return rows, cols, iou[rows, cols]


@pytest.mark.parametrize(("model", "task"), [("yolov8n.onnx", "detect"), ("yolov8n-seg.onnx", "segment")])
def test_matches_ultralytics_predict(shared: Path, ultralytics, monkeypatch, model: str, task: str) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    path = shared / "models" / model
    ours = YoloOnnxDetector(path)
    theirs = ultralytics.YOLO(str(path), task=task)
    images = sorted((shared / "media" / "images").glob("*"))
    assert images
    for image_path in images:
        img = cv2.imread(str(image_path))
        assert img is not None
        d = ours(img)
        r = theirs.predict(img, conf=0.25, verbose=False, retina_masks=True)[0]
        ub = r.boxes.xyxy.cpu().numpy()
        uc = r.boxes.cls.cpu().numpy().astype(int)
        assert abs(len(d) - len(ub)) <= COUNT_TOLERANCE, (image_path.name, len(d), len(ub))
        rows, cols, ious = _match(d.xyxy, ub)
        assert np.all(ious >= MIN_IOU), (image_path.name, ious.min())
        assert np.array_equal(d.class_id[rows], uc[cols]), image_path.name
        if task == "segment" and len(rows):
            assert d.mask is not None and r.masks is not None
            um = r.masks.data.cpu().numpy() > 0.5  # retina masks: frame resolution
            assert um.shape[1:] == d.mask.shape[1:]
            for a, b in zip(rows, cols, strict=True):
                union = np.logical_or(d.mask[a], um[b]).sum()
                if union:
                    assert np.logical_and(d.mask[a], um[b]).sum() / union >= MIN_MASK_IOU, image_path.name
