"""``--blur person``: persons are pixelated in what vtrack writes, while counting ignores them.

Real model, real frames (TUD-Campus, every 10th frame), ``vtrack run`` and ``vtrack batch`` as
subprocesses, as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vtrack.detectors.onnx_yolo import YoloOnnxDetector

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TIMEOUT_S = 300
STRIDE = 10
STRONG_CHANGE = 10.0
"""Mean absolute change (grey levels) inside person boxes between the blurred and the plain video."""
OUTSIDE_RATIO = 6.0
"""The change inside person boxes is this many times the change elsewhere (x264 noise, labels)."""
DETAIL_LEFT = 0.7
"""Share of the horizontal detail (mean neighbour difference) left inside person boxes."""


def vtrack(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def detail(img: np.ndarray, where: np.ndarray) -> float:
    d = np.abs(np.diff(img.astype(np.int16), axis=1)).mean(axis=2)
    return float(d[where[:, 1:]].mean())


def person_boxes(detector: YoloOnnxDetector, image: np.ndarray) -> np.ndarray:
    """Pixels inside any person box, ``(H, W)`` bool."""
    inside = np.zeros(image.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in np.rint(detector(image).xyxy).astype(int).tolist():
        inside[max(y1, 0) : y2, max(x1, 0) : x2] = True
    return inside


def test_run_blur_person_pixelates_persons_outside_classes_and_keeps_counts(
    shared: Path, tmp_path: Path
) -> None:
    model = shared / "models/yolov8n.onnx"
    seq = shared / "mot/TUD-Campus/img1"
    common = [seq, "--model", model, "--classes", "bicycle", "--stride", STRIDE, "-q"]
    plain = vtrack("run", *common, "--out", tmp_path / "plain")
    blurred = vtrack("run", *common, "--out", tmp_path / "blur", "--blur", "person")
    assert plain.returncode == 0, plain.stderr
    assert blurred.returncode == 0, blurred.stderr

    # persons are only detected for blurring: tracking and counting are the same as without --blur
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("plain", "blur")]
    for s in summaries:
        s.pop("processing")
    assert summaries[0] == summaries[1]

    detector = YoloOnnxDetector(model)
    detector.classes = detector.class_ids_for_names(["person"])
    # every frame is written (the detector ran on every STRIDE-th, the others were carried) and every
    # frame written must be pixelated: the carried frames too
    sources = [cv2.imread(str(p)) for p in sorted(seq.glob("*.jpg"))]
    a, b = decode(tmp_path / "plain/annotated.mp4"), decode(tmp_path / "blur/annotated.mp4")
    assert len(a) == len(b) == len(sources) > 0
    persons = 0
    for i, (src, x, y) in enumerate(zip(sources, a, b, strict=True)):
        inside = person_boxes(detector, src)
        if not inside.any():
            continue
        persons += 1
        change = np.abs(x.astype(np.int16) - y).mean(axis=2)
        assert change[inside].mean() > STRONG_CHANGE
        if i % int(STRIDE) == 0:  # a carried frame's boxes are grown: more changes just outside them
            assert change[inside].mean() > OUTSIDE_RATIO * change[~inside].mean()
        assert detail(y, inside) < DETAIL_LEFT * detail(x, inside)
    assert persons >= len(sources) // 2


def test_run_blur_unknown_class_is_bad_usage(shared: Path, tmp_path: Path) -> None:
    r = vtrack(
        "run", shared / "mot/TUD-Campus/img1", "--model", shared / "models/yolov8n.onnx",
        "--out", tmp_path / "x", "--blur", "persn", "-q",
    )  # fmt: skip
    assert r.returncode == 2
    assert "persn" in r.stderr and "person" in r.stderr


def test_batch_photos_blur_person_in_annotated_images_only(shared: Path, tmp_path: Path) -> None:
    """Annotated photos are blurred; detections.jsonl keeps to --classes (persons are not listed)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((shared / "mot/TUD-Campus/img1").glob("*.jpg"))[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    model = shared / "models/yolov8n.onnx"
    r = vtrack(
        "batch", folder, "--model", model, "--classes", "bicycle", "--images-annotated", "--workers", "1",
        "--blur", "person", "--out", tmp_path / "out", "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = [json.loads(x) for x in (tmp_path / "out/photos/detections.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert all(d["label"] == "bicycle" for rec in records for d in rec["detections"])
    detector = YoloOnnxDetector(model)
    detector.classes = detector.class_ids_for_names(["person"])
    for p in sorted(folder.glob("*.jpg")):
        src = cv2.imread(str(p))
        out = cv2.imread(str(tmp_path / "out/photos/annotated" / p.name))
        inside = person_boxes(detector, src)
        assert inside.any()
        change = np.abs(src.astype(np.int16) - out).mean(axis=2)
        # outside: only JPEG re-encoding (no bicycle here, so nothing is drawn)
        assert change[inside].mean() > STRONG_CHANGE
        assert change[inside].mean() > OUTSIDE_RATIO * change[~inside].mean()
        assert detail(out, inside) < DETAIL_LEFT * detail(src, inside)
