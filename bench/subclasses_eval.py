"""Per-track accuracy of learned sub-classes on held-out clips, two baselines, counts and cost.

For each clip named by ``--clip NAME=SOURCE`` (``NAME`` = the ``<source>`` prefix of its crops in the
examples folder), a model is learned from the examples of every OTHER clip (leave-one-clip-out: the
split is by clip, never by frame), and the clip is run through the detector, the tracker and the
sub-class stage. A track's truth is the label of its crops: with a manifest, the crop whose cut
rectangle (frame and box, IoU ≥ ``MATCH_IOU``) the track's own crop rectangle meets on that frame —
robust to a tracker that numbers its tracks differently from the one the crops were cut with; with a
folder, the ``_t<track>`` of the crop names (``vtrack crops`` at the same settings, same tracker).
Tracks without a crop (never sharp/large/uncut enough) have no truth and are left out of the accuracy
(their number is reported).

Compared, per track (its label when last seen):

* ``subclasses``: the stage with the held-out model (``unknown`` counts as wrong);
* ``parent only``: what the parent class alone gives: every track gets the label most examples have;
* ``rule``: for cyclist/pedestrian (``--compare bicycle``), a person box overlapping a bicycle box
  (intersection at least ``RULE_OVERLAP`` of the bicycle box) in most of the track's frames is a
  cyclist; for a colour set (``--bright LIGHT,DARK``), a track
  whose boxes' centre half is brighter on average (grey level) than a threshold is ``LIGHT`` — the
  threshold that best splits the training clips' example crops (the same examples the k-NN learns).

With ``--line``, crossings of the sub-classed parent tracks and of the ``--compare`` class (bicycle) are
counted on that clip with the model learned from ALL examples (what a user would run) and with the
held-out one. Cost: the stage's milliseconds per labelled track and per frame, beside the detector +
tracker time per frame measured in the same process (end-to-end FPS with and without the stage).

``--examples`` is a folder of labelled crops or an example set's ``manifest.csv``: the crops are then cut
from ``--shared`` (default ``$VTRACK_SHARED`` or ``../shared``) into a temporary folder (the repository
ships no pixels, see docs/subclasses.md).

Run (about 2 minutes per 300 frames of 720p on 2 shared cores)::

    PYTHONPATH=src python bench/subclasses_eval.py \\
        --examples examples/subclasses/cyclist-pedestrian/manifest.csv \\
        --model ../shared/models/yolov8n.onnx --embedder ../shared/models/efficientnet_lite0.onnx \\
        --clip bicycle_tracking_sample=../shared/media/video/bicycle_tracking_sample.mp4 \\
        --line bicycle_tracking_sample=road=0.3,0.35,0.3,0.9 --compare bicycle --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from vtrack.analytics.lines import LineCounter
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.geometry import parse_line_spec
from vtrack.stream.sources import open_source
from vtrack.subclasses.embedder import CropEmbedder, context_box
from vtrack.subclasses.examples import ManifestRow, build, default_shared, read_manifest
from vtrack.subclasses.learn import learn
from vtrack.subclasses.model import UNKNOWN, SubclassModel
from vtrack.subclasses.stage import SubclassStage
from vtrack.trackers import make_tracker
from vtrack.trackers.byte_engine import iou_matrix

RULE_OVERLAP = 0.5
MATCH_IOU = 0.7
CONF = 0.35  # as `vtrack crops` (same detections, same track ids)
_NAME = re.compile(r"^(?P<clip>.+)_t(?P<tid>\d+)_f\d+")


def truth(examples: Path) -> dict[str, dict[int, str]]:
    """clip → track id → label, from the example file names."""
    out: dict[str, dict[int, str]] = defaultdict(dict)
    for f in examples.glob("*/*.jpg"):
        m = _NAME.match(f.stem)
        if m:
            out[m["clip"]][int(m["tid"])] = f.parent.name
    return out


def truth_boxes(rows: list[ManifestRow]) -> dict[str, dict[int, list[tuple[np.ndarray, str]]]]:
    """clip → frame → [(cut rectangle (4,), label)], from a manifest's rows."""
    out: dict[str, dict[int, list[tuple[np.ndarray, str]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        m = _NAME.match(r.file)
        if m:
            out[m["clip"]][r.frame].append((np.asarray(r.box, dtype=np.float64), r.label))
    return out


def learn_without(
    examples: Path, clip: str | None, embedder: CropEmbedder, colour_weight: float = 0.0
) -> SubclassModel:
    """The model learned from every example not cut from ``clip`` (``None``: all examples)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(examples / "parent.txt", root / "parent.txt")
        for f in examples.glob("*/*.jpg"):
            m = _NAME.match(f.stem)
            if clip is not None and m and m["clip"] == clip:
                continue
            (root / f.parent.name).mkdir(exist_ok=True)
            (root / f.parent.name / f.name).symlink_to(f.resolve())
        return learn(root, embedder, colour_weight=colour_weight)[0]


def overlaps(person: np.ndarray, bikes: np.ndarray) -> np.ndarray:
    """(P,) bool: person box meets a bicycle box over >= RULE_OVERLAP of the bicycle's area."""
    if len(person) == 0 or len(bikes) == 0:
        return np.zeros(len(person), bool)
    x1 = np.maximum(person[:, None, 0], bikes[None, :, 0])
    y1 = np.maximum(person[:, None, 1], bikes[None, :, 1])
    x2 = np.minimum(person[:, None, 2], bikes[None, :, 2])
    y2 = np.minimum(person[:, None, 3], bikes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (bikes[:, 2] - bikes[:, 0]) * (bikes[:, 3] - bikes[:, 1])
    return (inter / np.maximum(area[None, :], 1e-9) >= RULE_OVERLAP).any(axis=1)


def run_clip(
    args: argparse.Namespace,
    name: str,
    source: str,
    held: SubclassModel,
    full: SubclassModel,
    embedder: CropEmbedder,
    line: str | None,
    boxes: dict[int, list[tuple[np.ndarray, str]]] | None = None,
    threshold: float = 128.0,
) -> dict:
    parent = held.parent
    det = YoloOnnxDetector(args.model, conf=CONF)
    keep = [parent] + ([args.compare] if args.compare else [])
    det.classes = det.class_ids_for_names(keep)
    src = open_source(source)
    trk = make_tracker("bytetrack", fps=src.fps)
    trk_cmp = make_tracker("bytetrack", fps=src.fps)
    stage = SubclassStage(held, embedder)
    stage_full = SubclassStage(full, CropEmbedder(args.embedder))
    lines = [parse_line_spec(line).resolve(src.width, src.height)] if line else []
    counters = {k: LineCounter(lines) for k in ("held", "full", "compare")} if lines else {}
    now = datetime.now(timezone.utc)
    last: dict[int, str] = {}
    found: dict[int, str] = {}  # track id -> label of the manifest crop it was matched to
    rule_votes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    grey: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])  # per track, sum and count (--bright)
    t_base = t_stage = 0.0
    frames = 0
    for frame in src:
        t0 = time.perf_counter()
        d = det(frame.image)
        names = np.asarray(d.data["class_name"])
        p = trk.update(d[names == parent], frame.image)
        c = trk_cmp.update(d[names == args.compare], frame.image) if args.compare else sv.Detections.empty()
        t1 = time.perf_counter()
        ph = stage.apply(frame.image, _copy(p), frame.index)
        t2 = time.perf_counter()
        pf = stage_full.apply(frame.image, _copy(p), frame.index)
        t_base += t1 - t0
        t_stage += t2 - t1
        frames += 1
        if len(p) and p.tracker_id is not None:
            ov = overlaps(np.asarray(p.xyxy), np.asarray(c.xyxy) if len(c) else np.zeros((0, 4)))
            for r, tid in enumerate(p.tracker_id.tolist()):
                if tid < 0:
                    continue
                for rect, label in (boxes or {}).get(frame.index, []):
                    cut = np.asarray(context_box(p.xyxy[r], src.width, src.height), dtype=np.float64)
                    if iou_matrix(cut[None], rect[None])[0, 0] >= MATCH_IOU:
                        found[tid] = label
                last[tid] = str(ph.data["class_name"][r]).split(":", 1)[1]
                rule_votes[tid][int(ov[r])] += 1
                if args.bright:
                    g = grey[tid]
                    g[0] += _centre_grey(frame.image, p.xyxy[r])
                    g[1] += 1
        if counters:
            for e in counters["held"].update(ph, frame.index, now):
                stage.observe_crossing(e.track_id)
            for e in counters["full"].update(pf, frame.index, now):
                stage_full.observe_crossing(e.track_id)
            counters["compare"].update(c, frame.index, now)
    src.close()
    return {
        "frames": frames,
        "labels": last,
        "found": found,
        "rule": (
            {t: (args.bright[0] if g[0] / g[1] >= threshold else args.bright[1]) for t, g in grey.items()}
            if args.bright
            else {t: ("cyclist" if v[1] > v[0] else "pedestrian") for t, v in rule_votes.items()}
        ),
        "ms_per_frame_detect_track": 1000 * t_base / max(frames, 1),
        "ms_per_frame_stage": 1000 * t_stage / max(frames, 1),
        "ms_per_track": stage.ms_per_track,
        "cpu_ms_per_track": stage.cpu_ms_per_track,
        "tracks_labelled": stage.tracks_labelled,
        "crops": stage.crops,
        "counts": {k: c.counts for k, c in counters.items()},
    }


def _centre_grey(image: np.ndarray, xyxy: np.ndarray) -> float:
    """Mean grey level of the centre half (per side) of a box in a BGR ``(H, W, 3)`` image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = (x2 - x1) / 4, (y2 - y1) / 4
    h, w = image.shape[:2]
    a, b = max(0, int(x1 + dx)), max(0, int(y1 + dy))
    c, d = min(w, int(x2 - dx)), min(h, int(y2 - dy))
    if c <= a or d <= b:
        return 0.0
    return float(image[b:d, a:c].mean())


def bright_threshold(examples: Path, clip: str | None, labels: list[str]) -> float:
    """The grey level that best splits the example crops not cut from ``clip`` into ``labels[0]``
    (brighter) and ``labels[1]``: the crops' centre halves, as the rule sees a track's boxes (the
    context margin of a crop is left out with it)."""
    values: list[tuple[float, bool]] = []
    for f in examples.glob("*/*.jpg"):
        m = _NAME.match(f.stem)
        if f.parent.name not in labels or (clip is not None and m and m["clip"] == clip):
            continue
        im = cv2.imread(str(f))
        h, w = im.shape[:2]
        # the detection box inside its crop (grown by 15 % per side; ignoring crops clipped by the frame)
        box = (np.array([0.15, 0.15, 1.15, 1.15]) / 1.3) * np.array([w, h, w, h])
        values.append((_centre_grey(im, box), f.parent.name == labels[0]))
    cuts = sorted({v for v, _ in values})
    best, best_ok = 128.0, -1
    for lo, hi in itertools.pairwise(cuts):
        t = (lo + hi) / 2
        ok = sum((v >= t) == light for v, light in values)
        if ok > best_ok:
            best, best_ok = t, ok
    return best


def _copy(d: sv.Detections) -> sv.Detections:
    out = d[np.arange(len(d))] if len(d) else d
    out.data = {k: np.array(v, copy=True) for k, v in d.data.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=Path, required=True, help="folder of labelled crops or manifest.csv")
    ap.add_argument("--shared", type=Path, default=None, help="assets for a manifest (default: ../shared)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--embedder", required=True)
    ap.add_argument("--clip", action="append", required=True, help="NAME=SOURCE")
    ap.add_argument("--line", action="append", default=[], help="CLIP=NAME=x1,y1,x2,y2")
    ap.add_argument("--compare", default=None, help="class counted beside (bicycle); also enables the rule")
    ap.add_argument("--bright", default=None, help="LIGHT,DARK labels: the brightness rule")
    ap.add_argument("--colour", type=float, default=0.0, help="vtrack learn --colour weight (0: off)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.bright:
        args.bright = [x.strip() for x in args.bright.split(",")]
        if len(args.bright) != 2:
            ap.error("--bright takes two labels: LIGHT,DARK")
    manifest = None
    if args.examples.suffix == ".csv":
        manifest = read_manifest(args.examples)
        built = Path(tempfile.mkdtemp(prefix="vtrack-examples-"))
        build(args.examples, built, args.shared or default_shared())
        args.examples = built
    embedder = CropEmbedder(args.embedder)
    gt = truth(args.examples)
    by_box = truth_boxes(manifest) if manifest is not None else None
    full = learn_without(args.examples, None, embedder, args.colour)
    lines = dict(item.split("=", 1) for item in args.line)
    report: dict[str, dict] = {}
    for item in args.clip:
        name, source = item.split("=", 1)
        held = learn_without(args.examples, name, embedder, args.colour)
        majority = Counter(held.label_counts()).most_common(1)[0][0]
        threshold = bright_threshold(args.examples, name, args.bright) if args.bright else 128.0
        r = run_clip(args, name, source, held, full, embedder, lines.get(name),
                     by_box.get(name, {}) if by_box is not None else None, threshold)  # fmt: skip
        truth_c = r["found"] if by_box is not None else gt.get(name, {})
        scored = [t for t in r["labels"] if t in truth_c]

        def acc(pred: dict[int, str], scored: list[int] = scored, truth_c: dict[int, str] = truth_c) -> float:
            return sum(pred[t] == truth_c[t] for t in scored) / max(len(scored), 1)

        res = {
            "tracks": len(r["labels"]),
            "tracks_with_truth": len(scored),
            "truth": dict(Counter(truth_c[t] for t in scored)),
            "subclasses": acc(r["labels"]),
            "unknown": sum(r["labels"][t] == UNKNOWN for t in scored),
            "parent_only": acc(dict.fromkeys(scored, majority)),
            "predicted": dict(Counter(r["labels"][t] for t in scored)),
            **{k: v for k, v in r.items() if k not in ("labels", "rule", "found")},
        }
        if args.compare or args.bright:
            res["rule"] = acc(r["rule"])
        if args.bright:
            res["rule_threshold"] = threshold
        res["errors"] = {t: (truth_c[t], r["labels"][t]) for t in scored if r["labels"][t] != truth_c[t]}
        report[name] = res
        print(json.dumps({name: res}, indent=1, default=str), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
