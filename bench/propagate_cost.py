"""CPU cost of carrying boxes between detections (``FlowPropagator``) against one detection.

For each clip: the first ``--frames`` frames are decoded once; yolov8n detects on every ``--stride``-th
frame and :class:`vtrack.trackers.propagate.FlowPropagator` carries the tracker's boxes over the
frames between. Reported per call, in one process (so the ratio holds under load even where the
absolute milliseconds do not): detection (``YoloOnnxDetector``, its default threads), tracker update,
``propagate`` (grey + downscale + LK on every box) and ``observe``.

    python bench/propagate_cost.py
    python bench/propagate_cost.py --clips bicycle_tracking_sample_1080p.mp4 --frames 60 --width 480
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.trackers import make_tracker
from vtrack.trackers.propagate import FlowPropagator

log = logging.getLogger("bench.propagate_cost")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="bicycle_tracking_sample.mp4,bicycle_tracking_sample_1080p.mp4")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--stride", type=int, default=3)
    ap.add_argument("--width", type=int, default=320, help="FlowPropagator width")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    det = YoloOnnxDetector(str(SHARED / "models" / "yolov8n.onnx"), conf=0.25)
    det.classes = det.class_ids_for_names(["bicycle", "person"])
    det.warmup()
    log.info("| clip | size | detect ms | track ms | propagate ms | observe ms | boxes | propagate/detect |")
    log.info("|---|---|---:|---:|---:|---:|---:|---:|")
    for clip in args.clips.split(","):
        cap = cv2.VideoCapture(str(SHARED / "media" / "video" / clip))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        frames = []
        while len(frames) < args.frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
        trk = make_tracker("bytetrack", fps=fps)
        prop = FlowPropagator(width=args.width)
        t = {"detect": [], "track": [], "propagate": [], "observe": []}
        boxes = []
        for i, img in enumerate(frames):
            t0 = time.perf_counter()
            if i % args.stride == 0:
                d = det(img)
                t["detect"].append(time.perf_counter() - t0)
            else:
                d = prop.propagate(img, i / fps)
                t["propagate"].append(time.perf_counter() - t0)
                boxes.append(len(d))
            t1 = time.perf_counter()
            out = trk.update(d, img, timestamp=i / fps)
            t2 = time.perf_counter()
            prop.observe(img, out)
            t["track"].append(t2 - t1)
            t["observe"].append(time.perf_counter() - t2)
        ms = {k: 1000 * float(np.median(v)) for k, v in t.items()}
        h, w = frames[0].shape[:2]
        log.info(
            "| %s | %dx%d | %.1f | %.2f | %.2f | %.2f | %.1f | %.3f |", clip, w, h, ms["detect"], ms["track"],
            ms["propagate"], ms["observe"], float(np.mean(boxes)) if boxes else 0.0,
            ms["propagate"] / ms["detect"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
