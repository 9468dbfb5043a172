"""Camera-motion compensation (BoT-SORT's CMC): cost per frame against accuracy, per setting.

For each clip the first ``--frames`` frames are decoded once; every setting estimates the affine
frame-to-frame motion on the same frames, interleaved (so a busy machine slows all settings alike).
Accuracy is the mean / 95th-percentile distance, in full-size pixels, between where a setting's
affine moves the frame's four corners and centre and where the reference (the library's
``sparseOptFlow`` at full resolution, 1000 corners) moves them. Time is given as milliseconds and as
a ratio to the library default (``downscale`` 2, 1000 corners, ``minDistance`` 1), measured in the
same process. With ``--track`` the tracker is also run (BoT-SORT + CMC on the cached detections of
``bench/tracker_cache.py``) and the IDs per class are counted.

    python bench/tracker_cmc.py --json runs/tracker_cmc.json
    python bench/tracker_cmc.py --track dashcam_freeway_day_480p cycling_race_onboard_portrait
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from trackers import CMCConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracker_cache import SHARED, load_cache
from tracker_sweep import CACHE, select

from vtrack.trackers import BoTSORT
from vtrack.trackers.sort_family import SharedCMC

log = logging.getLogger("bench.tracker_cmc")

VIDEOS = (
    "dashcam_freeway_day_480p.mp4",
    "cycling_race_onboard_portrait.mp4",
    "bicycle_tracking_sample.mp4",
    "bicycle_tracking_sample_1080p.mp4",
)
SETTINGS: dict[str, dict[str, Any]] = {
    "library default (downscale 2, 1000 corners)": {},
    "~480 px wide, 300 corners": {"cmc_width": 480, "cmc_max_corners": 300},
    "~320 px wide, 200 corners": {"cmc_width": 320, "cmc_max_corners": 200},
}


def make_cmc(
    cmc_width: int | None = None, cmc_max_corners: int | None = None, downscale: int = 2
) -> SharedCMC:
    cfg = CMCConfig(method="sparseOptFlow", downscale=downscale)
    if cmc_max_corners:
        cfg.sof_max_corners = cmc_max_corners
        cfg.sof_min_distance = 8
    return SharedCMC(cfg, analysis_width=cmc_width)


def probe(w: int, h: int) -> np.ndarray:
    return np.array([[0, 0], [w, 0], [0, h], [w, h], [w / 2, h / 2]], dtype=np.float64)


def cmc_costs(video: Path, frames: int) -> list[dict[str, Any]]:
    cap = cv2.VideoCapture(str(video))
    imgs: list[np.ndarray] = []
    while len(imgs) < frames:
        ok, img = cap.read()
        if not ok:
            break
        imgs.append(img)
    cap.release()
    h, w = imgs[0].shape[:2]
    pts = probe(w, h)
    ref = make_cmc(downscale=1)
    cmcs = {k: make_cmc(**v) for k, v in SETTINGS.items()}
    spent = dict.fromkeys(cmcs, 0.0)
    errs: dict[str, list[float]] = {k: [] for k in cmcs}
    for img in imgs:
        r = ref.estimate(img)
        moved_ref = pts @ r[:, :2].T + r[:, 2]
        for k, c in cmcs.items():
            c.next_frame()
            t0 = time.perf_counter()
            a = c.estimate(img)
            spent[k] += time.perf_counter() - t0
            errs[k].append(float(np.linalg.norm(pts @ a[:, :2].T + a[:, 2] - moved_ref, axis=1).mean()))
    base = spent[next(iter(SETTINGS))]
    out = []
    for k in cmcs:
        e = np.asarray(errs[k][1:])
        out.append({
            "video": video.name, "size": f"{w}x{h}", "setting": k,
            "ms_per_frame": round(1000 * spent[k] / len(imgs), 2), "time_ratio": round(spent[k] / base, 3),
            "err_mean_px": round(float(e.mean()), 3), "err_p95_px": round(float(np.percentile(e, 95)), 3),
        })  # fmt: skip
    return out


def tracking(clip: str) -> list[dict[str, Any]]:
    cached, fps, _, _ = load_cache(CACHE / f"{clip}.npz")
    dets = select(cached, 0.25, [0, 1, 2, 3, 5, 7])
    cap = cv2.VideoCapture(str(SHARED / "media" / "video" / f"{clip}.mp4"))
    imgs: list[np.ndarray] = []
    while len(imgs) < len(dets):
        ok, img = cap.read()
        if not ok:
            break
        imgs.append(img)
    cap.release()
    out = []
    for k, v in {"no CMC": None, **SETTINGS}.items():
        trk = BoTSORT(fps=fps, enable_cmc=v is not None, **(v or {}))
        rows: list[tuple[int, int, int]] = []
        t0 = time.perf_counter()
        for i, d in enumerate(dets[: len(imgs)]):
            res = trk.update(d, imgs[i])
            pairs = zip(np.asarray(res.tracker_id).tolist(), np.asarray(res.class_id).tolist(), strict=True)
            rows.extend((i, t, c) for t, c in pairs if t > 0)
        ms = 1000 * (time.perf_counter() - t0) / len(imgs)
        arr = np.array(rows).reshape(-1, 3)
        ids = {int(c): len(np.unique(arr[arr[:, 2] == c, 1])) for c in np.unique(arr[:, 2])}
        spans = [np.ptp(arr[arr[:, 1] == t, 0]) + 1 for t in np.unique(arr[:, 1])]
        out.append({"clip": clip, "setting": k, "ids": ids, "total_ids": int(sum(ids.values())),
                    "short_ids": int(sum(s < fps / 2 for s in spans)),
                    "tracker_ms_per_frame": round(ms, 1)})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", default=list(VIDEOS))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--track", nargs="*", default=[])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    costs = [r for v in args.videos for r in cmc_costs(SHARED / "media" / "video" / v, args.frames)]
    log.info("| video | size | setting | CMC ms/frame | time ratio | error mean px | error p95 px |")
    log.info("|---|---|---|---:|---:|---:|---:|")
    for r in costs:
        log.info("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f |", r["video"], r["size"], r["setting"],
                 r["ms_per_frame"], r["time_ratio"], r["err_mean_px"], r["err_p95_px"])  # fmt: skip
    tracks = [r for c in args.track for r in tracking(c)]
    if tracks:
        log.info("| clip | setting | IDs per class | total IDs | IDs < 0.5 s | tracker ms/frame |")
        log.info("|---|---|---|---:|---:|---:|")
        for r in tracks:
            log.info("| %s | %s | %s | %d | %d | %.1f |", r["clip"], r["setting"], r["ids"], r["total_ids"],
                     r["short_ids"], r["tracker_ms_per_frame"])  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "cmc": costs, "tracking": tracks},
                                        indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
