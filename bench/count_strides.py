"""Line counts at every detector stride: the two tables of issue 13 ("Counts that hold at any rate").

* **bike**: ``../shared/media/video/bicycle_tracking_sample.mp4 --classes bicycle --line
  gate=400,250,400,650``, strides 1-6, ``out`` / ``in`` against the full-rate (stride 1) count
  (the clip has no ground truth; target: ``out`` within ±10 % of stride 1, ``in`` ≤ 1).
* **tud**: ``../shared/mot/TUD-Campus --classes person --line mid=320,0,320,480``, strides 1-5, against
  the crossings of the ground-truth identities (``vtrack eval-counts``' truth: the same settled-side
  rule as the counter).

Modes:

* default: the ``vtrack eval-counts`` code (:func:`vtrack.evaluation_counts.predict_run`, one
  :func:`vtrack.job.run_job` per stride, ``tracker.carry`` at its default, ``flow``): what a user gets.
* ``--cached``: every frame is detected once (cached in ``/tmp/vtrack-count-cache``) and each stride
  replays the detections of its frames through a fresh tracker and :class:`LineCounter` built as
  ``run_job`` builds them with ``tracker.carry: off`` (``--check`` compares every stride with
  ``run_job``), so tracker variants (``--param KEY=VALUE``) cost seconds.
* ``--propagate``: as ``--cached``, but every decoded frame reaches the tracker and the counter: the
  detector's boxes on every stride-th frame, and on the frames between the tracks' boxes carried by
  :class:`vtrack.trackers.propagate.FlowPropagator` (the issue's DeepStream idea; ``run_job`` with
  ``tracker.carry: flow``, ``--check`` compares).

    python bench/count_strides.py                              # the issue's tables (run_job)
    python bench/count_strides.py --cached --check             # same figures from the cache
    python bench/count_strides.py --cached --param gate_sigmas=0   # without the buffered pass
    python bench/count_strides.py --propagate --json runs/count_strides.json
    python bench/count_strides.py --propagate --phases         # every phase of each stride too
    python bench/count_strides.py --propagate --gaps 5,6       # the detector at random gaps, 12 schedules
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vtrack.analytics.lines import DEFAULT_MAX_TRACK_AGE_FRAMES, LineCounter
from vtrack.cli.common import parse_params
from vtrack.config import RunConfig, lines_from_flags
from vtrack.evaluation import load_mot_rows, load_sequence
from vtrack.evaluation_counts import (
    CountEvent,
    CountReport,
    predict_run,
    sweep,
    truth_from_gt,
)
from vtrack.stream.sources import open_source
from vtrack.trackers import make_tracker

log = logging.getLogger("bench.count_strides")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MODEL = SHARED / "models" / "yolov8n.onnx"
CACHE = Path("/tmp/vtrack-count-cache")
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    sequence: Path | None
    classes: list[str]
    line: str
    strides: list[int]
    columns: list[tuple[str, str, str]]


CASES = [
    Case("bike", str(SHARED / "media/video/bicycle_tracking_sample.mp4"), None, ["bicycle"],
         "gate=400,250,400,650", [1, 2, 3, 4, 5, 6], [("gate", "bicycle", "out"), ("gate", "bicycle", "in")]),
    Case("tud", str(SHARED / "mot/TUD-Campus/img1"), SHARED / "mot/TUD-Campus", ["person"],
         "mid=320,0,320,480", [1, 2, 3, 4, 5], [("mid", "person", "in"), ("mid", "person", "out")]),
]  # fmt: skip


def run_config(case: Case, carry: str | None = None) -> RunConfig:
    """The case as a ``RunConfig``; ``carry`` sets ``tracker.carry`` (``None``: the default).

    The detector is ONNX Runtime fp32, the one the cache is made with, so ``--check`` compares the
    same detections (OpenVINO bf16, the default where the CPU has bf16, differs in a few boxes)."""
    return RunConfig(
        source=case.source,
        model={"path": str(MODEL), "backend": "onnxruntime", "precision": "fp32"},  # type: ignore[arg-type]
        classes=case.classes,
        counting={"lines": [lc.model_dump() for lc in lines_from_flags([case.line])]},  # type: ignore[arg-type]
        output={"video": False},  # type: ignore[arg-type]
        tracker={} if carry is None else {"carry": carry},  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------- cache
def detections(case: Case, cfg: RunConfig) -> list[sv.Detections]:
    """Every frame's detections as ``run_job``'s detector makes them (cached on disk)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{case.name}-conf{cfg.model.conf:g}.npz"
    if not path.is_file():
        from vtrack.detectors.onnx_yolo import YoloOnnxDetector

        det = YoloOnnxDetector(str(MODEL), conf=cfg.model.conf, iou=cfg.model.iou)
        det.classes = det.class_ids_for_names(cfg.classes or [])
        det.warmup()
        src = open_source(case.source, fps=cfg.fps)
        frames, xyxy, conf, cls, names = [], [], [], [], []
        for fr in src:
            d = det(fr.image)
            frames += [fr.index] * len(d)
            xyxy.append(np.asarray(d.xyxy, np.float32).reshape(-1, 4))
            conf.append(np.asarray(d.confidence, np.float32))
            cls.append(np.asarray(d.class_id, np.int64))
            names += [str(x) for x in d.data["class_name"]]
        n = src.frame_count or (max(frames) + 1 if frames else 0)
        src.close()
        np.savez(path, n=n, frame=np.asarray(frames, np.int64), xyxy=np.concatenate(xyxy),
                 conf=np.concatenate(conf), cls=np.concatenate(cls), names=np.asarray(names))  # fmt: skip
        log.info("cached %s detections in %s", case.name, path)
    z = np.load(path)
    out = []
    for f in range(int(z["n"])):
        sel = z["frame"] == f
        out.append(sv.Detections(xyxy=z["xyxy"][sel], confidence=z["conf"][sel], class_id=z["cls"][sel],
                                 data={"class_name": z["names"][sel]}))  # fmt: skip
    return out


def cached_predictor(
    case: Case,
    cfg: RunConfig,
    params: dict[str, Any],
    *,
    propagate: bool,
    timing: dict[str, list[float]],
    prop_params: dict[str, Any] | None = None,
) -> Callable[[int], tuple[list[CountEvent], dict[str, Any]]]:
    """Replay cached detections through tracker + counter as ``run_job`` builds them."""
    per_frame = detections(case, cfg)
    prop_params = prop_params or {}

    def predict(
        stride: int, phase: int = 0, looks: set[int] | None = None
    ) -> tuple[list[CountEvent], dict[str, Any]]:
        """Counts with the detector on frames ``phase``, ``phase + stride``, … (or on ``looks``)."""
        src = open_source(case.source, fps=cfg.fps)  # every frame: native fps, for the pts
        native = src.native_fps
        lines = [lc.spec().resolve(src.width, src.height) for lc in cfg.counting.lines]
        # With propagation the tracker sees every decoded frame (full rate); without, every stride-th.
        tracker = make_tracker(cfg.tracker.type, fps=native if propagate else native / stride,
                               lost_track_seconds=cfg.tracker.lost_track_seconds, **params)  # fmt: skip
        counter = LineCounter(
            lines, classes=set(cfg.classes or []) or None, anchor=cfg.counting.anchor,
            min_frames=cfg.counting.min_frames,
            max_track_age_frames=max(DEFAULT_MAX_TRACK_AGE_FRAMES,
                                     math.ceil(2 * cfg.tracker.lost_track_seconds * native) + stride),
        )  # fmt: skip
        prop = None
        if propagate:
            from vtrack.trackers.propagate import FlowPropagator

            prop = FlowPropagator(**prop_params)
        events: list[CountEvent] = []
        try:
            for fr in src:
                if (fr.index in looks) if looks is not None else (fr.index - phase) % stride == 0:
                    dets = per_frame[fr.index]
                elif prop is not None:
                    t0 = time.perf_counter()
                    dets = prop.propagate(fr.image, fr.pts)
                    timing["propagate"].append(time.perf_counter() - t0)
                else:
                    continue
                tracked = tracker.update(dets, fr.image, timestamp=fr.pts)
                if prop is not None:
                    t0 = time.perf_counter()
                    prop.observe(fr.image, tracked)
                    timing["observe"].append(time.perf_counter() - t0)
                events += [CountEvent.of(e) for e in counter.update(tracked, fr.index, _EPOCH)]
        finally:
            src.close()
        return events, {"detector_fps": round(native / stride, 3)}

    return predict


# ---------------------------------------------------------------------------------------- tables
def markdown(case: Case, reports: list[CountReport], label: str) -> str:
    head = " | ".join(f"{ln} {c} {d}" for ln, c, d in case.columns)
    lines = [f"### {case.name} (vs {label})", "", f"| stride | detector FPS | {head} | 1-nwRMSE |",
             "|---:|---:|" + "---:|" * len(case.columns) + "---:|"]  # fmt: skip
    truth_row = {(r.line, r.class_name, r.direction): r.truth for r in reports[0].rows}
    lines.append("| truth | | " + " | ".join(str(truth_row.get(k, 0)) for k in case.columns) + " | |")
    for rep in reports:
        by = {(r.line, r.class_name, r.direction): r.predicted for r in rep.rows}
        cells = " | ".join(str(by.get(k, 0)) for k in case.columns)
        fps = rep.info.get("detector_fps", "")
        lines.append(f"| {rep.stride} | {fps} | {cells} | {rep.effectiveness:.3f} |")
    return "\n".join(lines)


def _column_counts(case: Case, events: list[CountEvent]) -> list[int]:
    """Events per column of ``case`` (line, class, direction)."""
    keys = [(e.line, e.class_name, e.direction) for e in events]
    return [keys.count(c) for c in case.columns]


def phase_table(
    case: Case, strides: list[int], predict: Callable[..., tuple[list[CountEvent], dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """Counts at every phase of each stride: the detector's first frame ``0 … stride − 1``.

    A live camera's detections fall on any frame of the scene, so one phase is one sample of what a
    box detecting every ``stride``-th frame counts; the table gives each phase, their mean and range.
    """
    head = " | ".join(f"{ln} {c} {d}: by phase; mean (min–max)" for ln, c, d in case.columns)
    lines = [f"### {case.name}, every phase", "", f"| stride | {head} |",
             "|---:|" + "---|" * len(case.columns)]  # fmt: skip
    record: dict[str, Any] = {}
    for k in strides:
        per_phase = []
        for phase in range(k):
            events, _ = predict(k, phase)
            per_phase.append(_column_counts(case, events))
        cols = np.asarray(per_phase).T  # (columns, phases)
        cells = [f"{' '.join(map(str, col))}; {col.mean():.2f} ({col.min()}–{col.max()})" for col in cols]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
        names = [" ".join(c) for c in case.columns]
        record[str(k)] = {name: col.tolist() for name, col in zip(names, cols, strict=True)}
    return "\n".join(lines), record


def schedule_table(
    case: Case,
    gaps: list[int],
    schedules: int,
    length: int,
    predict: Callable[..., tuple[list[CountEvent], dict[str, Any]]],
) -> tuple[str, dict[str, Any]]:
    """Counts with the detector on frames at random gaps drawn from ``gaps`` (a live box's irregular
    rate), ``schedules`` seeded schedules: each column's mean and range."""
    per: list[list[int]] = []
    for seed in range(schedules):
        rng = np.random.default_rng(seed)
        looks, f = set(), int(rng.integers(0, max(gaps)))
        while f < length:
            looks.add(f)
            f += int(rng.choice(gaps))
        events, _ = predict(max(gaps), 0, looks)
        per.append(_column_counts(case, events))
    cols = np.asarray(per).T
    cells = " | ".join(f"{col.mean():.2f} ({col.min()}–{col.max()})" for col in cols)
    head = " | ".join(" ".join(c) for c in case.columns)
    table = (f"### {case.name}, detector at random gaps {gaps}, {schedules} schedules\n\n| {head} |\n"
             f"|{'---|' * len(case.columns)}\n| {cells} |")  # fmt: skip
    return table, {" ".join(c): col.tolist() for c, col in zip(case.columns, cols, strict=True)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="bike,tud")
    ap.add_argument("--cached", action="store_true", help="replay cached detections (fast)")
    ap.add_argument("--propagate", action="store_true", help="carry boxes between detections (cached)")
    ap.add_argument("--check", action="store_true", help="also run run_job and require equal counts")
    ap.add_argument("--param", "-p", action="append", help="tracker parameter KEY=VALUE (cached modes)")
    ap.add_argument("--prop", action="append", help="FlowPropagator parameter KEY=VALUE (--propagate)")
    ap.add_argument("--phases", action="store_true",
                    help="also count at every phase of each stride (cached modes; see phase_table)")
    ap.add_argument("--gaps", help="also count with the detector at random gaps drawn from these frame "
                    "counts, e.g. 2,3 (cached modes; see schedule_table)")
    ap.add_argument("--schedules", type=int, default=12, help="random schedules for --gaps")
    ap.add_argument("--json", type=Path, help="write the reports here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = parse_params(args.param)
    record: dict[str, Any] = {"params": params, "propagate": args.propagate, "prop": parse_params(args.prop)}
    timing: dict[str, list[float]] = {"observe": [], "propagate": []}
    ok = True
    for case in CASES:
        if case.name not in args.cases.split(","):
            continue
        cfg = run_config(case)
        probe = open_source(case.source)
        length = probe.frame_count or 0
        probe.close()
        truth = None
        if case.sequence is not None:
            seq = load_sequence(case.sequence)
            src = open_source(case.source)
            lines = [lc.spec().resolve(src.width, src.height) for lc in cfg.counting.lines]
            src.close()
            truth = truth_from_gt(load_mot_rows(seq.gt_path, "ground truth"), lines,
                                  class_name=case.classes[0], length=seq.length)  # fmt: skip
        expected = [(c[0], c[1]) for c in case.columns]
        if args.cached or args.propagate:
            predict = cached_predictor(case, cfg, params, propagate=args.propagate, timing=timing,
                                       prop_params=parse_params(args.prop))  # fmt: skip
        else:
            def predict(s: int, cfg: RunConfig = cfg) -> tuple[list[CountEvent], dict[str, Any]]:
                return predict_run(cfg, s)

        t0 = time.perf_counter()
        reports, label = sweep(case.strides, predict, truth=truth, length=length, expected=expected)
        log.info("%s\n(%.1f s)\n", markdown(case, reports, label), time.perf_counter() - t0)
        record[case.name] = {"truth": label, "reports": [r.to_dict() for r in reports]}
        if args.phases and (args.cached or args.propagate):
            table, by_phase = phase_table(case, case.strides, predict)
            log.info("%s\n", table)
            record[case.name]["phases"] = by_phase
        if args.gaps and (args.cached or args.propagate):
            gaps = [int(g) for g in args.gaps.split(",")]
            table, by_schedule = schedule_table(case, gaps, args.schedules, length, predict)
            log.info("%s\n", table)
            record[case.name]["schedules"] = {"gaps": gaps, "counts": by_schedule}
        if args.check:  # run_job with the same carrying as the cached replay
            ref_cfg = run_config(case, "flow" if args.propagate else "off")
            ref, _ = sweep(case.strides, lambda s, c=ref_cfg: predict_run(c, s), truth=truth, length=length,
                           expected=expected)  # fmt: skip
            same = [[r.predicted for r in a.rows] == [r.predicted for r in b.rows]
                    for a, b in zip(reports, ref, strict=True)]  # fmt: skip
            log.info("%s: cached == run_job at strides %s: %s", case.name, case.strides, same)
            ok = ok and all(same)
    for k, v in timing.items():
        if v:
            log.info("%s: %.2f ms per call (median of %d)", k, 1000 * float(np.median(v)), len(v))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
