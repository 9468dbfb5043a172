"""Export through Ultralytics, then load with our detector (needs torch + ultralytics; no downloads)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from vtrack.detectors import YoloOnnxDetector, export_model, resolve_model
from vtrack.errors import ModelError

pytestmark = [pytest.mark.torch, pytest.mark.slow]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """No network: Ultralytics told so (YOLO_OFFLINE) and every outgoing connection refused and recorded."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"network disabled in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.assets
def test_export_pt_at_320_and_detect(
    shared: Path, ultralytics, tmp_path: Path, offline: list[object]
) -> None:
    src = shared / "models" / "yolov8n.pt"
    before = sorted(p.name for p in src.parent.iterdir())
    out = export_model(src, imgsz=320, out_dir=tmp_path / "out")
    assert out == tmp_path / "out" / "yolov8n.onnx" and out.is_file()
    assert sorted(p.name for p in src.parent.iterdir()) == before  # nothing written beside the shared .pt
    det = YoloOnnxDetector(out)
    assert det.spec.imgsz == (320, 320) and not det.spec.dynamic
    d = det(cv2.imread(str(shared / "media" / "images" / "bikes_parked_1.jpg")))
    assert "bicycle" in d.data["class_name"].tolist()
    assert offline == []


@pytest.mark.assets
@pytest.mark.parametrize(
    ("weights", "kwargs", "end2end", "dynamic"),
    [("yolov8n.pt", {"nms": True}, True, False), ("yolov8n-seg.pt", {"dynamic": True}, False, True)],
)
def test_export_variants_load(
    shared: Path, ultralytics, tmp_path: Path, offline: list[object], weights: str, kwargs, end2end, dynamic
) -> None:
    out = export_model(shared / "models" / weights, imgsz=320, out_dir=tmp_path, **kwargs)
    det = YoloOnnxDetector(out)
    assert det.spec.end2end is end2end and det.spec.dynamic is dynamic
    img = cv2.imread(str(shared / "media" / "images" / "bikes_parked_2.jpg"))
    d = det(img)
    assert "bicycle" in d.data["class_name"].tolist()
    if det.task == "segment":
        assert d.mask is not None and d.mask.shape[1:] == img.shape[:2]


@pytest.mark.assets
def test_resolve_pt_caches_the_export(
    shared: Path, ultralytics, tmp_path: Path, offline: list[object]
) -> None:
    pt = tmp_path / "yolov8n.pt"
    shutil.copy2(shared / "models" / "yolov8n.pt", pt)
    first = resolve_model(str(pt), imgsz=320)
    assert first == tmp_path / "yolov8n-320.onnx"
    mtime = first.stat().st_mtime_ns
    assert resolve_model(str(pt), imgsz=320) == first and first.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(("yaml", "task"), [("yolov8n.yaml", "detect"), ("yolo11n-seg.yaml", "segment")])
def test_random_init_model_exports_offline(
    ultralytics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[object], yaml: str, task: str
) -> None:
    monkeypatch.chdir(tmp_path)
    model = ultralytics.YOLO(yaml)  # built from the architecture file: no weights to fetch
    pt = tmp_path / f"{Path(yaml).stem}.pt"
    model.save(str(pt))
    out = export_model(pt, imgsz=160, out_dir=tmp_path / "onnx")
    det = YoloOnnxDetector(out)
    assert det.task == task and len(det.class_names) == 80
    d = det(np.full((100, 200, 3), 114, np.uint8))  # random weights: any number of boxes, but it runs
    assert len(d) <= det.max_det
    if task == "segment":
        assert d.mask is not None and d.mask.shape[1:] == (100, 200)
    assert offline == [], f"Ultralytics tried to reach the network: {offline}"


def test_official_name_without_network_is_a_clear_error(
    ultralytics, tmp_path: Path, offline: list[object]
) -> None:
    with pytest.raises(ModelError, match="no network to fetch it"):
        resolve_model("yolo11n", cache_dir=tmp_path)
