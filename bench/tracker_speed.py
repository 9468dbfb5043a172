"""Tracker time per frame at 10, 50 and 200 detections, for every vtrack tracker.

A synthetic scene: ``N`` objects on a 1920x1080 frame, each moving at its own constant velocity with
1 px box noise and scores in [0.3, 1.0] (so ByteTrack's low-score stage runs too); about 5% of the
boxes are missed on each frame. Each tracker runs ``--frames`` frames after ``--warmup`` frames of
the same scene; the time of ``Tracker.update`` alone is measured (no detector, no drawing). Each
setting is repeated ``--repeat`` times and the best mean is kept, which damps a busy machine's noise.

    python bench/tracker_speed.py                      # markdown table on stdout (via logging)
    python bench/tracker_speed.py --json runs/tracker_speed.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vtrack.trackers import TRACKERS, make_tracker

log = logging.getLogger("bench")

SIZES = (10, 50, 200)
FRAME_W, FRAME_H = 1920.0, 1080.0
FPS = 30.0
MISS_RATE = 0.05


def scene(n: int, frames: int, seed: int = 0) -> list[sv.Detections]:
    """``frames`` frames of ``n`` boxes moving at constant speed (wrapping at the frame border).

    Returns:
        Per-frame detections: ``xyxy`` ``(k, 4)`` float32 with ``k <= n``, confidence, class 0.
    """
    rng = np.random.default_rng(seed)
    wh = rng.uniform([20, 40], [80, 160], size=(n, 2))
    start = rng.uniform([0, 0], [FRAME_W, FRAME_H], size=(n, 2))
    vel = rng.uniform(-6, 6, size=(n, 2))
    conf = rng.uniform(0.3, 1.0, size=n).astype(np.float32)
    out = []
    for f in range(frames):
        xy = np.mod(start + vel * f, [FRAME_W, FRAME_H])
        boxes = np.concatenate([xy, xy + wh], axis=1) + rng.normal(0, 1.0, size=(n, 4))
        keep = rng.random(n) > MISS_RATE
        out.append(
            sv.Detections(
                xyxy=boxes[keep].astype(np.float32),
                confidence=conf[keep],
                class_id=np.zeros(int(keep.sum()), dtype=np.int64),
            )
        )
    return out


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "bytetrack-library": ("bytetrack", {"engine": "library"}),
}
"""Extra rows: a name for ``--trackers`` -> (tracker, parameters)."""


def time_tracker(name: str, dets: list[sv.Detections], warmup: int) -> float:
    """Mean milliseconds per ``update`` over the frames after ``warmup``."""
    base, params = VARIANTS.get(name, (name, {}))
    trk = make_tracker(base, fps=FPS, **params)
    for d in dets[:warmup]:
        trk.update(d)
    t0 = time.perf_counter()
    for d in dets[warmup:]:
        trk.update(d)
    return 1000.0 * (time.perf_counter() - t0) / max(len(dets) - warmup, 1)


def main() -> None:
    """Run the benchmark and log a markdown table (and write JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150, help="timed frames per run")
    ap.add_argument("--warmup", type=int, default=20, help="untimed frames before timing")
    ap.add_argument("--repeat", type=int, default=3, help="runs per setting; the best is kept")
    ap.add_argument("--trackers", default=",".join([*sorted(TRACKERS), *VARIANTS]),
                    help="tracker names, plus bytetrack-library (ByteTrack on the library engine)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    results: dict[str, dict[str, float]] = {}
    for n in SIZES:
        dets = scene(n, args.warmup + args.frames, seed=n)
        for name in names:
            best = min(time_tracker(name, dets, args.warmup) for _ in range(args.repeat))
            results.setdefault(name, {})[str(n)] = round(best, 3)
            log.debug("%s n=%d: %.3f ms", name, n, best)

    header = "| tracker | " + " | ".join(f"{n} dets (ms/frame)" for n in SIZES) + " |"
    lines = [header, "|---|" + "---:|" * len(SIZES)]
    lines += [
        f"| {name} | " + " | ".join(f"{results[name][str(n)]:.2f}" for n in SIZES) + " |" for name in names
    ]
    log.info("\n".join(lines))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "ms_per_frame": results,
            "frames": args.frames,
            "repeat": args.repeat,
            "machine": platform.platform(),
            "processor": platform.processor(),
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
