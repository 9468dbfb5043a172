"""Tracker measurements over cached detections (run ``bench/tracker_cache.py`` first).

Sub-commands (each prints a markdown table through logging and can write ``--json``):

* ``paper``: the library's ByteTrack against :class:`~vtrack.trackers.byte_engine.PaperByteTrackEngine`
  (the official code's steps) and against the paper engine with one step switched back to the
  library's behaviour, on TUD-Campus with our detector (conf 0.25 and 0.1) and with ``det/det.txt``.
* ``people``: a grid over detector conf, high/activation thresholds, IoU and lost buffer on TUD-Campus
  (HOTA/IDF1/MOTA against the ground truth).
* ``bikes``: the same knobs on clips without ground truth (IDs per visible object, short-lived IDs,
  line crossings per ID).
* ``stride``: the default against session 1's ByteTrack at frame strides 1-3 (TUD-Campus and the
  bicycle clip's zone entries).

    python bench/tracker_cache.py
    python bench/tracker_sweep.py paper --json runs/tracker_paper.json
    python bench/tracker_sweep.py people --json runs/tracker_people.json
    python bench/tracker_sweep.py bikes --json runs/tracker_bikes.json
    python bench/tracker_sweep.py stride --json runs/tracker_stride.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracker_cache import SHARED, load_cache

from vtrack.evaluation import load_mot_rows, load_sequence, public_detections, score_rows
from vtrack.trackers import ByteTrack, LibraryTracker, Tracker, make_tracker
from vtrack.trackers.byte_engine import PaperByteTrackEngine

log = logging.getLogger("bench.tracker_sweep")

CACHE = Path("/tmp/vtrack-tracker-cache")
SEQ = SHARED / "mot" / "TUD-Campus"
PERSON, BICYCLE = 0, 1
PAPER_THRESHOLDS: dict[str, Any] = {
    "high_conf_threshold": 0.5, "track_activation_threshold": 0.6, "min_iou": 0.2,
}  # fmt: skip
"""The paper's MOT17 thresholds (``PaperByteTrackEngine``'s own defaults)."""
HEAD = ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW")


def select(per_frame: Sequence[sv.Detections], conf: float, classes: Sequence[int]) -> list[sv.Detections]:
    """Cached detections re-thresholded at ``conf`` and restricted to ``classes``."""
    out = []
    for d in per_frame:
        keep = (np.asarray(d.confidence) >= conf) & np.isin(np.asarray(d.class_id), list(classes))
        out.append(cast(sv.Detections, d[keep]))
    return out


def track_rows(per_frame: Sequence[sv.Detections], tracker: Tracker) -> np.ndarray:
    """Run ``tracker`` and return ``(M, 8)`` rows ``frame(1-based), id, x, y, w, h, conf, class``."""
    rows = []
    for k, d in enumerate(per_frame):
        out = tracker.update(d, None)
        ids = np.asarray(out.tracker_id)
        keep = ids > 0
        if not keep.any():
            continue
        xyxy = np.asarray(out.xyxy, dtype=np.float64)[keep]
        block = np.empty((len(xyxy), 8))
        block[:, 0] = k + 1
        block[:, 1] = ids[keep]
        block[:, 2:4] = xyxy[:, :2]
        block[:, 4:6] = xyxy[:, 2:] - xyxy[:, :2]
        block[:, 6] = np.asarray(out.confidence)[keep]
        block[:, 7] = np.asarray(out.class_id)[keep]
        rows.append(block)
    return np.concatenate(rows) if rows else np.empty((0, 8))


def score(gt: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    s, _ = score_rows("TUD-Campus", gt, rows[:, :7])
    return {k: round(float(getattr(s, k)), 2) for k in HEAD}


def paper_variant(fps: float, lost_s: float = 1.0, **opts: Any) -> Tracker:
    """The paper engine behind vtrack's adapter, with some steps switched (see ``PaperByteTrackEngine``)."""
    frames = int(np.ceil(lost_s * fps - 1e-9))
    return LibraryTracker(lambda: PaperByteTrackEngine(max_time_lost=frames, **opts), min_confidence=0.1)


LIBRARY_SWITCHES: dict[str, dict[str, Any]] = {
    "paper engine (all steps as the paper)": {},
    "… but Kalman of the library (xyxy, constant noise)": {"kalman": "xyxy"},
    "… but no score fusion": {"fuse_score": False},
    "… but low-score IoU ≥ 0.2 (library) instead of 0.5": {"second_match_thresh": 0.8},
    "… but lost tracks also in the low-score stage": {"second_stage_lost": True},
    "… but unconfirmed tracks in the first stage": {"separate_unconfirmed": False},
    "… but assignment then threshold (library)": {"assignment": "threshold"},
    "… but no duplicate removal": {"remove_duplicates": False},
    "… and first-frame tracks confirmed at once (paper)": {"activate_first_frame": True},
    "paper engine with every library switch": {
        "kalman": "xyxy", "fuse_score": False, "second_match_thresh": 0.8, "second_stage_lost": True,
        "separate_unconfirmed": False, "assignment": "threshold", "remove_duplicates": False,
    },
}  # fmt: skip


def sources() -> dict[str, tuple[list[sv.Detections], float]]:
    cached, fps, _, _ = load_cache(CACHE / "TUD-Campus.npz")
    seq = load_sequence(SEQ)
    public, _ = public_detections(seq)
    return {
        "own, conf 0.25": (select(cached, 0.25, [PERSON]), fps),
        "own, conf 0.1": (select(cached, 0.1, [PERSON]), fps),
        "public det.txt": (public, seq.fps),
    }


def cmd_paper(args: argparse.Namespace) -> list[dict[str, Any]]:
    gt = load_mot_rows(SEQ / "gt" / "gt.txt", "ground truth")
    results = []
    for src, (dets, fps) in sources().items():
        variants: dict[str, Callable[[], Tracker]] = {
            "library ByteTrackTracker (vtrack adapter)": partial(
                ByteTrack, fps=fps, engine="library", **PAPER_THRESHOLDS
            ),
            **{k: partial(paper_variant, fps, **o) for k, o in LIBRARY_SWITCHES.items()},
        }
        for name, make in variants.items():
            m = score(gt, track_rows(dets, make()))
            results.append({"detections": src, "variant": name, **m})
    log.info("| detections | variant | %s |", " | ".join(HEAD))
    log.info("|---|---|%s", "---:|" * len(HEAD))
    for r in results:
        log.info("| %s | %s | %s |", r["detections"], r["variant"], " | ".join(str(r[k]) for k in HEAD))
    return results


def cmd_people(args: argparse.Namespace) -> list[dict[str, Any]]:
    gt = load_mot_rows(SEQ / "gt" / "gt.txt", "ground truth")
    cached, fps, _, _ = load_cache(CACHE / "TUD-Campus.npz")
    seq = load_sequence(SEQ)
    public, _ = public_detections(seq)
    results = []
    grid = itertools.product(args.engines, args.conf, args.high, args.new_delta, args.min_iou, args.lost)
    for engine, conf, high, delta, iou, lost in grid:
        if conf > high:
            continue
        params = {"high_conf_threshold": high, "track_activation_threshold": min(1.0, high + delta),
                  "min_iou": iou, "engine": engine}  # fmt: skip
        own = score(gt, track_rows(select(cached, conf, [PERSON]),
                                   make_tracker("bytetrack", fps=fps, lost_track_seconds=lost, **params)))
        pub = score(gt, track_rows(public, make_tracker("bytetrack", fps=seq.fps, lost_track_seconds=lost,
                                                        **params)))  # fmt: skip
        r = {"engine": engine, "conf": conf, "high": high, "new": round(high + delta, 2), "min_iou": iou,
             "lost_s": lost, **{f"own_{k}": v for k, v in own.items()},
             **{f"pub_{k}": v for k, v in pub.items()}}  # fmt: skip
        results.append(r)
    results.sort(key=lambda r: -(r["own_HOTA"] + r["own_IDF1"] + r["own_MOTA"]))
    log.info("| engine | conf | high | new | min IoU | lost s | own HOTA | own IDF1 | own MOTA | own IDsw "
             "| public HOTA | public IDF1 | public MOTA |")
    log.info("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results[: args.top]:
        log.info("| %s | %g | %g | %g | %g | %g | %.2f | %.2f | %.2f | %d | %.2f | %.2f | %.2f |",
                 r["engine"], r["conf"], r["high"], r["new"], r["min_iou"], r["lost_s"], r["own_HOTA"],
                 r["own_IDF1"],
                 r["own_MOTA"], r["own_IDSW"], r["pub_HOTA"], r["pub_IDF1"], r["pub_MOTA"])  # fmt: skip
    return results


LINE_X = 0.35
"""Counting line of ``bikes``: the vertical line at this fraction of the width (riders in
bicycle_tracking_sample.mp4 ride from right to left across it)."""


def clip_proxies(
    rows: np.ndarray, fps: float, width: int, cls: int, dets: Sequence[sv.Detections]
) -> dict[str, float]:
    """Ground-truth-free figures for one class of one clip.

    Returns:
        ``ids`` (confirmed IDs), ``short`` (IDs seen for less than 0.5 s: fragments), ``mean_s``
        (mean seconds from first to last sighting per ID), ``cover`` (share of detections scoring
        >= 0.5 that carry an ID), ``cross`` (IDs whose bottom-centre starts right of the line and ends
        left of it: our own once-per-ID rule, not vtrack's LineCounter).
    """
    r = rows[rows[:, 7] == cls]
    ids = np.unique(r[:, 1])
    spans, crosses = [], 0
    for i in ids:
        t = r[r[:, 1] == i]
        spans.append((t[-1, 0] - t[0, 0] + 1) / fps)
        x0 = t[0, 2] + t[0, 4] / 2
        x1 = t[-1, 2] + t[-1, 4] / 2
        crosses += int(x0 > LINE_X * width >= x1)
    strong = sum(int(((np.asarray(d.confidence) >= 0.5) & (np.asarray(d.class_id) == cls)).sum())
                 for d in dets)  # fmt: skip
    tracked_strong = int((r[:, 6] >= 0.5).sum())
    return {
        "ids": len(ids),
        "short": int(sum(s < 0.5 for s in spans)),
        "mean_s": round(float(np.mean(spans)) if spans else 0.0, 2),
        "cover": round(tracked_strong / max(strong, 1), 3),
        "cross": crosses,
    }


def cmd_bikes(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for clip in args.clips:
        cached, fps, (width, _), _ = load_cache(CACHE / f"{clip}.npz")
        grid = itertools.product(args.engines, args.conf, args.high, args.min_iou, args.lost)
        for engine, conf, high, iou, lost in grid:
            if conf > high:
                continue
            dets = select(cached, conf, [PERSON, BICYCLE])
            trk = make_tracker("bytetrack", fps=fps, lost_track_seconds=lost, engine=engine,
                               high_conf_threshold=high, track_activation_threshold=min(1.0, high + 0.1),
                               min_iou=iou)  # fmt: skip
            rows = track_rows(dets, trk)
            r: dict[str, Any] = {"clip": clip, "engine": engine, "conf": conf, "high": high, "min_iou": iou,
                                 "lost_s": lost}  # fmt: skip
            for name, cls in (("bicycle", BICYCLE), ("person", PERSON)):
                r.update({f"{name}_{k}": v for k, v in clip_proxies(rows, fps, width, cls, dets).items()})
            results.append(r)
    log.info("| clip | engine | conf | high | min IoU | lost s | bicycle IDs | short | mean s | cover | "
             "crossing IDs | person IDs | short | mean s |")
    log.info("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        log.info("| %s | %s | %g | %g | %g | %g | %d | %d | %.2f | %.3f | %d | %d | %d | %.2f |", r["clip"],
                 r["engine"], r["conf"], r["high"], r["min_iou"], r["lost_s"], r["bicycle_ids"],
                 r["bicycle_short"], r["bicycle_mean_s"], r["bicycle_cover"], r["bicycle_cross"],
                 r["person_ids"], r["person_short"], r["person_mean_s"])  # fmt: skip
    return results


def cmd_stride(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The default ByteTrack against session 1's (library engine, paper thresholds) at frame strides.

    TUD-Campus: every ``stride``-th frame is tracked and scored against the ground truth of those
    frames. Bicycle clip: bicycle zone entries (vtrack's ``ZoneCounter``, zone x 0.25-0.6, y 0.3-1 of
    the frame, as tests/integration/test_zones_run.py) and confirmed IDs.
    """
    from datetime import datetime, timedelta

    from vtrack.analytics.zones import ZoneCounter
    from vtrack.geometry import Polygon

    gt = load_mot_rows(SEQ / "gt" / "gt.txt", "ground truth")
    src = sources()
    bikes, bfps, (w, h), _ = load_cache(CACHE / "bicycle_tracking_sample.npz")
    bikes = select(bikes, 0.25, [BICYCLE])
    zone = Polygon("mid", tuple((x * w, y * h) for x, y in [(0.25, 0.3), (0.6, 0.3), (0.6, 1), (0.25, 1)]))
    variants: dict[str, dict[str, Any]] = {
        "default (paper engine, tuned)": {},
        "session 1 (library engine, paper thresholds)": {"engine": "library", **PAPER_THRESHOLDS},
    }
    results = []
    for stride in args.strides:
        for name, params in variants.items():
            trk = make_tracker("bytetrack", fps=bfps / stride, **params)
            zc = ZoneCounter([zone], classes={"bicycle"})
            entries, ids = 0, set()
            for i, d in enumerate(bikes):
                if i % stride:
                    continue
                out = trk.update(d)
                out.data["class_name"] = np.array(["bicycle"] * len(out))
                t = datetime(2026, 1, 1) + timedelta(seconds=i / bfps)
                entries += sum(e.kind == "enter" for e in zc.update(out, i, t))
                ids |= {int(x) for x in np.asarray(out.tracker_id) if x > 0}
            r: dict[str, Any] = {"stride": stride, "variant": name, "bike_entries": entries,
                                 "bike_ids": len(ids)}  # fmt: skip
            for label, key in (("own, conf 0.25", "own"), ("public det.txt", "pub")):
                dets, fps = src[label]
                g = gt[((gt[:, 0] - 1) % stride) == 0].copy()
                g[:, 0] = (g[:, 0] - 1) // stride + 1
                trk = make_tracker("bytetrack", fps=fps / stride, **params)
                m = score(g, track_rows(dets[::stride], trk))
                r.update({f"{key}_{k}": v for k, v in m.items()})
            results.append(r)
    log.info("| stride | variant | bicycle zone entries | bicycle IDs | own HOTA / IDF1 / MOTA | "
             "public HOTA / IDF1 / MOTA |")
    log.info("|---:|---|---:|---:|---|---|")
    for r in results:
        log.info("| %d | %s | %d | %d | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f |", r["stride"], r["variant"],
                 r["bike_entries"], r["bike_ids"], r["own_HOTA"], r["own_IDF1"], r["own_MOTA"], r["pub_HOTA"],
                 r["pub_IDF1"], r["pub_MOTA"])  # fmt: skip
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("paper")
    p.add_argument("--json", type=Path)
    p = sub.add_parser("people")
    p.add_argument("--json", type=Path)
    p.add_argument("--engines", nargs="+", default=["paper", "library"])
    p.add_argument("--conf", type=float, nargs="+", default=[0.1, 0.25])
    p.add_argument("--high", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    p.add_argument("--new-delta", type=float, nargs="+", default=[0.0, 0.1])
    p.add_argument("--min-iou", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    p.add_argument("--lost", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--top", type=int, default=25)
    p = sub.add_parser("bikes")
    p.add_argument("--json", type=Path)
    p.add_argument("--clips", nargs="+", default=["bicycle_tracking_sample", "cycling_race_onboard_portrait"])
    p.add_argument("--engines", nargs="+", default=["paper", "library"])
    p.add_argument("--conf", type=float, nargs="+", default=[0.1, 0.25])
    p.add_argument("--high", type=float, nargs="+", default=[0.3, 0.4, 0.5])
    p.add_argument("--min-iou", type=float, nargs="+", default=[0.1, 0.2])
    p.add_argument("--lost", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p = sub.add_parser("stride")
    p.add_argument("--json", type=Path)
    p.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("vtrack").setLevel(logging.WARNING)
    commands = {"paper": cmd_paper, "people": cmd_people, "bikes": cmd_bikes, "stride": cmd_stride}
    results = commands[args.cmd](args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1))


if __name__ == "__main__":
    main()
