"""Run the detector once per sequence or clip at a low confidence and cache the detections.

The tracker sweeps (``bench/tracker_sweep.py``) then re-threshold these cached boxes instead of
running the detector again: a box kept at ``conf`` is exactly a cached box with score >= ``conf``
(the detector's NMS runs per class and does not depend on the threshold above the cache floor).

    python bench/tracker_cache.py --out /tmp/vtrack-tracker-cache            # default inputs
    python bench/tracker_cache.py --mot ../shared/mot/TUD-Campus --video ../shared/media/video/X.mp4

Each input becomes ``OUT/NAME.npz`` with ``frame`` ``(N,)`` int64 (0-based), ``xyxy`` ``(N, 4)``
float32, ``confidence`` ``(N,)`` float32, ``class_id`` ``(N,)`` int64 and ``frames``, ``fps``,
``width``, ``height`` scalars.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.evaluation import load_sequence

log = logging.getLogger("bench.tracker_cache")

SHARED = Path(__file__).resolve().parents[2] / "shared"
CACHE_CONF = 0.05
"""Detector floor of the cache: every sweep threshold must be at or above it."""
CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
DEFAULT_MOT = ("mot/TUD-Campus",)
DEFAULT_VIDEOS = (
    "media/video/bicycle_tracking_sample.mp4",
    "media/video/cycling_race_onboard_portrait.mp4",
    "media/video/dashcam_freeway_day_480p.mp4",
)


def _save(path: Path, per_frame: list[sv.Detections], fps: float, width: int, height: int) -> None:
    frame = np.concatenate([np.full(len(d), i, dtype=np.int64) for i, d in enumerate(per_frame)]
                           or [np.empty(0, dtype=np.int64)])  # fmt: skip
    xyxy = np.concatenate([np.asarray(d.xyxy, dtype=np.float32).reshape(-1, 4) for d in per_frame])
    conf = np.concatenate([np.asarray(d.confidence, dtype=np.float32).reshape(-1) for d in per_frame])
    cls = np.concatenate([np.asarray(d.class_id, dtype=np.int64).reshape(-1) for d in per_frame])
    np.savez(
        path, frame=frame.astype(np.int64), xyxy=xyxy, confidence=conf, class_id=cls,
        frames=np.int64(len(per_frame)), fps=np.float64(fps), width=np.int64(width), height=np.int64(height),
    )  # fmt: skip


def load_cache(path: Path) -> tuple[list[sv.Detections], float, tuple[int, int], dict[int, str]]:
    """Read one cache file.

    Returns:
        Per-frame detections (index = 0-based frame), fps, ``(width, height)`` and the class names.
    """
    z = np.load(path)
    frames = int(z["frames"])
    order = np.argsort(z["frame"], kind="stable")
    frame = z["frame"][order]
    bounds = np.searchsorted(frame, np.arange(frames + 1))
    out = []
    for i in range(frames):
        s = slice(bounds[i], bounds[i + 1])
        idx = order[s]
        out.append(sv.Detections(xyxy=z["xyxy"][idx].reshape(-1, 4), confidence=z["confidence"][idx],
                                 class_id=z["class_id"][idx]))
    names = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
    return out, float(z["fps"]), (int(z["width"]), int(z["height"])), names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/vtrack-tracker-cache"))
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "yolov8n.onnx")
    ap.add_argument("--mot", type=Path, nargs="*", default=[SHARED / p for p in DEFAULT_MOT])
    ap.add_argument("--video", type=Path, nargs="*", default=[SHARED / p for p in DEFAULT_VIDEOS])
    ap.add_argument("--max-frames", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    det = YoloOnnxDetector(str(args.model), conf=CACHE_CONF, intra_op_threads=args.threads)
    det.classes = det.class_ids_for_names(list(CLASSES))
    det.warmup()

    for root in args.mot:
        seq = load_sequence(root)
        files = sorted(seq.image_dir.iterdir())
        per_frame, t0, (h, w) = [], time.perf_counter(), (0, 0)
        for f in files[: seq.length]:
            img = cv2.imread(str(f))
            if img is None:
                raise SystemExit(f"unreadable image: {f}")
            h, w = img.shape[:2]
            per_frame.append(det(img))
        _save(args.out / f"{seq.name}.npz", per_frame, seq.fps, w, h)
        log.info("%s: %d frames in %.1f s", seq.name, len(per_frame), time.perf_counter() - t0)

    for video in args.video:
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS)
        per_frame, t0, (h, w) = [], time.perf_counter(), (0, 0)
        while len(per_frame) < args.max_frames:
            ok, img = cap.read()
            if not ok:
                break
            h, w = img.shape[:2]
            per_frame.append(det(img))
        cap.release()
        _save(args.out / f"{video.stem}.npz", per_frame, fps, w, h)
        log.info("%s: %d frames in %.1f s", video.stem, len(per_frame), time.perf_counter() - t0)


if __name__ == "__main__":
    main()
