"""Photo-folder mode: per-image detections, no tracking (scan-car photos).

Writes in the item's output folder:

* ``detections.jsonl``: one record per image, the Hugging Face object-detection output shape::

      {"image": "/abs/photo.jpg", "width": 4032, "height": 3024,
       "detections": [{"score": 0.91, "label": "bicycle",
                       "box": {"xmin": 10, "ymin": 20, "xmax": 200, "ymax": 180}}]}

  ``score`` a float (4 decimals), box corners integer pixels of the image as read (EXIF-upright),
  detections sorted by score, highest first. An image that cannot be decoded gets
  ``"detections": []`` and an ``"error"``.
* ``counts.csv``: ``image,total,<class>...``: detections per class per image, one row per image; the
  class columns are the ``--classes`` given, else every class found (alphabetical).
* ``summary.json``: images, unreadable images, detections per class, processing speed.
* ``annotated/<image stem>.jpg`` with ``--images-annotated``: boxes and ``class score`` labels; the
  ``privacy.blur`` classes (``--blur``) pixelated first (detected for that even outside ``--classes``,
  but not listed in ``detections.jsonl`` or counted unless they are in ``--classes``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import supervision as sv

from vtrack.config import RunConfig
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.exporters._io import atomic_write_text
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.exporters.files import write_summary
from vtrack.exporters.privacy import blur_regions
from vtrack.pipeline.compose import canonical_classes, load_detector
from vtrack.pipeline.step import keep_classes
from vtrack.stream.images import read_image
from vtrack.subclasses.runtime import detector_classes
from vtrack.types import Frame, FrameResult

logger = logging.getLogger(__name__)

SCORE_DECIMALS: Final = 4
ANNOTATED_JPEG_QUALITY: Final = 90
ANNOTATED_DIR: Final = "annotated"


def make_detector(cfg: RunConfig, model_path: str | Path) -> YoloOnnxDetector:
    """The detector a run config describes (as ``run_job`` builds it), classes and blurred classes applied.

    Raises:
        VtrackError: the model cannot be loaded or a class name is unknown (before any work).
    """
    return load_detector(
        cfg.model.model_copy(update={"path": str(model_path)}),
        classes=_photo_classes(cfg),
        blur=cfg.privacy.blur,
    )


def _photo_classes(cfg: RunConfig) -> list[str] | None:
    """``--classes`` for photos: ``person:cyclist`` counts as ``person`` (photos are not tracked)."""
    return detector_classes(cfg.classes, subclasses=cfg.subclasses is not None)


def hf_detections(det: sv.Detections, width: int, height: int) -> list[dict[str, Any]]:
    """Detections in the Hugging Face object-detection output shape.

    Args:
        det: ``xyxy`` ``(N, 4)`` float pixels, ``confidence`` ``(N,)``, ``data["class_name"]`` ``(N,)``.
        width: image width; boxes are clipped to it.
        height: image height; boxes are clipped to it.

    Returns:
        ``[{"score": float, "label": str, "box": {"xmin", "ymin", "xmax", "ymax"}}]`` with integer
        (rounded, clipped) box corners, highest score first.
    """
    names = det.data.get("class_name")
    conf = det.confidence if det.confidence is not None else np.ones(len(det), dtype=np.float32)
    out = []
    for i in np.argsort(-conf, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
        label = str(names[i]) if names is not None else str(int(det.class_id[i]))  # type: ignore[index]
        out.append(
            {
                "score": round(float(conf[i]), SCORE_DECIMALS),
                "label": label,
                "box": {
                    "xmin": int(min(max(round(x1), 0), width)),
                    "ymin": int(min(max(round(y1), 0), height)),
                    "xmax": int(min(max(round(x2), 0), width)),
                    "ymax": int(min(max(round(y2), 0), height)),
                },
            }
        )
    return out


def render_counts_csv(rows: list[tuple[str, Counter[str]]], classes: Sequence[str] | None) -> str:
    """``image,total,<class>...`` with one row per image.

    Args:
        rows: ``(image path, detections per class)`` per image, in order.
        classes: column order; ``None``: every class found, alphabetical.
    """
    cols = list(classes) if classes else sorted({c for _, cnt in rows for c in cnt})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "total", *cols])
    for image, cnt in rows:
        w.writerow([image, sum(cnt.values()), *(cnt.get(c, 0) for c in cols)])
    return buf.getvalue()


def process_photos(
    images: Sequence[Path],
    out_dir: Path,
    cfg: RunConfig,
    model_path: str | Path,
    *,
    annotate: bool = False,
    on_image: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Detect objects in each image; write ``detections.jsonl``, ``counts.csv``, ``summary.json``.

    Args:
        images: the image files, in order.
        out_dir: output folder (created).
        cfg: model, classes and thresholds (tracking, lines and stride do not apply).
        model_path: the resolved ``.onnx`` file.
        annotate: also write ``annotated/<stem>.jpg`` per image.
        on_image: called after each image (progress).
        should_stop: polled before each image; when true, stop and return ``{"interrupted": True, ...}``.

    Returns:
        The summary written to ``summary.json``.

    Raises:
        VtrackError: the model cannot be loaded or a class name is unknown.
        ExportError: an output cannot be written.
    """
    t0 = time.perf_counter()
    detector = make_detector(cfg, model_path)
    classes = canonical_classes(detector, _photo_classes(cfg))
    blur = (canonical_classes(detector, cfg.privacy.blur) or []) if annotate else []
    out_dir.mkdir(parents=True, exist_ok=True)
    annotator = (
        FrameAnnotator([], class_names=detector.class_names, trail_length_frames=0) if annotate else None
    )
    if annotator is not None:
        (out_dir / ANNOTATED_DIR).mkdir(exist_ok=True)
    totals: Counter[str] = Counter()
    rows: list[tuple[str, Counter[str]]] = []
    errors: list[str] = []
    interrupted = False
    with (out_dir / "detections.jsonl").open("w", encoding="utf-8") as jf:
        for idx, path in enumerate(images):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            image = read_image(path)
            record: dict[str, Any] = {"image": str(path)}
            cnt: Counter[str] = Counter()
            if image is None:
                record["detections"] = []
                record["error"] = "cannot read or decode the image"
                errors.append(f"{path}: cannot read or decode the image")
                logger.warning("%s: cannot read or decode the image; skipped", path)
            else:
                h, w = image.shape[:2]
                det = detector(image)
                if blur:  # pixelated in ``image`` (in place): the annotated copy is the image written
                    blur_regions(image, det, blur, copy=False)
                det = keep_classes(det, classes)
                record["width"], record["height"] = w, h
                record["detections"] = hf_detections(det, w, h)
                cnt.update(d["label"] for d in record["detections"])
                if annotator is not None:
                    frame = Frame(image=image, index=idx, pts=0.0, source_id=out_dir.name, path=str(path))
                    drawn = annotator.annotate(FrameResult(frame=frame, detections=det))
                    cv2.imwrite(
                        str(out_dir / ANNOTATED_DIR / f"{path.stem}.jpg"),
                        drawn,
                        [cv2.IMWRITE_JPEG_QUALITY, ANNOTATED_JPEG_QUALITY],
                    )
            jf.write(json.dumps(record, ensure_ascii=False) + "\n")
            rows.append((str(path), cnt))
            totals.update(cnt)
            if on_image is not None:
                on_image()
    atomic_write_text(out_dir / "counts.csv", render_counts_csv(rows, _photo_classes(cfg)))
    wall = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "source": str(images[0].parent) if images else "",
        "images": len(rows),
        "unreadable_images": len(errors),
        "interrupted": interrupted,
        "detections": dict(sorted(totals.items())),
        "processing": {
            "wall_seconds": round(wall, 3),
            "images_per_second": round(len(rows) / wall, 2) if wall > 0 else 0.0,
        },
    }
    if errors:
        summary["errors"] = errors[:100]
    write_summary(out_dir / "summary.json", summary)
    return summary
