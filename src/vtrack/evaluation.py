"""Tracking quality on MOTChallenge-format sequences: HOTA, DetA, AssA, IDF1, MOTA, ID switches.

The metrics are computed by Roboflow's ``trackers.eval`` (``trackers`` 2.6, a port of TrackEval's
matching and CLEAR/HOTA/Identity metrics, checked by its authors for TrackEval parity); nothing here
computes a metric itself. This module only prepares the inputs:

* **Ground truth.** MOTChallenge evaluators score only rows whose 8th column (class) is 1 (pedestrian)
  and whose 7th column (flag) is not 0. MOT15 files (``frame,id,x,y,w,h,flag,-1,-1,-1`` or 7 columns)
  have no class column, so an evaluator reading them as MOT17 sees an empty ground truth and reports
  zeros. :func:`normalize_gt` detects the layout and rewrites MOT15 rows as MOT17
  ``frame,id,x,y,w,h,flag,1,1`` (flag kept: 0 stays "ignore", anything else becomes 1).
* **Tracks.** Ours (``vtrack.trackers``) run over the sequence's images with our detector, or over
  its public detections ``det/det.txt`` (see :func:`public_detection_confidence` for how raw scores
  become confidences), or any MOTChallenge tracks file.
* **Combined.** Sequences are combined with the library's ``aggregate_*`` functions (sums of counts,
  not means of per-sequence scores), as TrackEval's ``COMBINED`` row.

Metric values are reported in percent (``0..100``), as TrackEval prints them; ``IDSW`` is a count.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import supervision as sv
from trackers.eval import (
    CLEARMetrics,
    HOTAMetrics,
    IdentityMetrics,
    aggregate_clear_metrics,
    aggregate_hota_metrics,
    aggregate_identity_metrics,
    evaluate_mot_sequence,
)
from trackers.eval.results import SequenceResult

from vtrack.errors import ConfigError, VtrackError
from vtrack.trackers import DEFAULT_TRACKER, make_tracker
from vtrack.trackers.bytetrack import DEFAULT_LOST_TRACK_SECONDS

log = logging.getLogger(__name__)

DetectionSource = Literal["own", "public"]
GtLayout = Literal["mot15", "mot17"]

METRIC_FAMILIES = ["CLEAR", "HOTA", "Identity"]
"""Metric families asked of ``trackers.eval``."""
IOU_THRESHOLD = 0.5
"""IoU of a match for CLEAR (MOTA, IDSW) and Identity (IDF1); HOTA averages over 0.05..0.95."""
METRICS_IMPLEMENTATION = "trackers.eval (Roboflow trackers 2.6; TrackEval-parity CLEAR/HOTA/Identity)"
"""Recorded in every JSON report."""
HEADLINE = ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW")
"""The figures shown in the table, in this order."""
DEFAULT_FPS = 30.0
"""Frame rate of a sequence whose ``seqinfo.ini`` states none."""
PUBLIC_MEDIAN_CONFIDENCE = 0.75
"""Raw public detection scores are scaled so that the sequence's median score becomes this."""
MOT17_CLASSES = range(1, 13)
"""Valid MOT16/17/20 class ids (8th column of gt.txt)."""
_PLACEHOLDER_ROW = "1,-1,0,0,1,1,0,-1,-1,-1\n"
"""An unconfirmed row (ID -1, ignored by the evaluator) standing in for an empty tracks file."""


class EvalError(VtrackError):
    """An evaluation input (sequence, ground truth, tracks, detections) is missing or malformed."""


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SequenceScore:
    """Headline metrics of one sequence (or of all combined).

    Attributes:
        name: sequence name, or ``"COMBINED"``.
        HOTA: higher order tracking accuracy, percent.
        DetA: detection accuracy (HOTA's), percent.
        AssA: association accuracy (HOTA's), percent.
        IDF1: identity F1, percent.
        MOTA: multiple object tracking accuracy, percent (can be negative).
        IDSW: identity switches (CLEAR).
        details: every other figure the library reports (counts, recall, precision, ...).
    """

    name: str
    HOTA: float
    DetA: float
    AssA: float
    IDF1: float
    MOTA: float
    IDSW: int
    details: dict[str, float | int] = field(default_factory=dict)

    def headline(self) -> dict[str, float | int]:
        """The :data:`HEADLINE` figures as a dict (percent rounded to 3 decimals)."""
        return {k: getattr(self, k) for k in HEADLINE}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: name, headline figures, ``details``."""
        return {"sequence": self.name, **self.headline(), "details": dict(self.details)}


@dataclass
class EvalReport:
    """Per-sequence and combined scores plus how they were obtained.

    Attributes:
        sequences: one score per sequence, in input order.
        combined: the library's aggregate over all sequences.
        settings: tracker, detections, model, thresholds used (for the JSON record).
        timings: per sequence, ``{"frames", "detector_ms_per_frame", "tracker_ms_per_frame"}``.
    """

    sequences: list[SequenceScore]
    combined: SequenceScore
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the whole evaluation."""
        return {
            "metrics_implementation": METRICS_IMPLEMENTATION,
            "iou_threshold": IOU_THRESHOLD,
            "settings": dict(self.settings),
            "sequences": [s.to_dict() for s in self.sequences],
            "combined": self.combined.to_dict(),
            "timings": dict(self.timings),
        }


def _percent(x: float) -> float:
    return round(100.0 * float(x), 3)


def _score(name: str, result: SequenceResult) -> SequenceScore:
    clear, hota, ident = result.CLEAR, result.HOTA, result.Identity
    if clear is None or hota is None or ident is None:  # pragma: no cover - we always ask for all three
        raise EvalError(f"{name}: the evaluator returned no CLEAR/HOTA/Identity metrics")
    details: dict[str, float | int] = {}
    for src in (clear.to_dict(), hota.to_dict(), ident.to_dict()):
        for k, v in src.items():
            if k in HEADLINE or isinstance(v, list | np.ndarray):
                continue
            details[k] = int(v) if isinstance(v, int | np.integer) else _percent(v)
    return SequenceScore(
        name=name,
        HOTA=_percent(hota.HOTA),
        DetA=_percent(hota.DetA),
        AssA=_percent(hota.AssA),
        IDF1=_percent(ident.IDF1),
        MOTA=_percent(clear.MOTA),
        IDSW=int(clear.IDSW),
        details=details,
    )


def combine(name: str, results: Sequence[SequenceResult]) -> SequenceResult:
    """Aggregate per-sequence library results with the library's own ``aggregate_*`` functions.

    Args:
        name: name of the combined record (``"COMBINED"``).
        results: per-sequence results holding CLEAR, HOTA (with its per-alpha arrays) and Identity.

    Returns:
        One ``SequenceResult`` over all sequences.
    """
    clear = [r.CLEAR.to_dict() for r in results if r.CLEAR is not None]
    hota = [r.HOTA.to_dict(include_arrays=True, arrays_as_list=False) for r in results if r.HOTA is not None]
    ident = [r.Identity.to_dict() for r in results if r.Identity is not None]
    return SequenceResult(
        sequence=name,
        CLEAR=CLEARMetrics.from_dict(aggregate_clear_metrics(clear)) if clear else None,
        HOTA=HOTAMetrics.from_dict(aggregate_hota_metrics(hota)) if hota else None,
        Identity=IdentityMetrics.from_dict(aggregate_identity_metrics(ident)) if ident else None,
    )


# ---------------------------------------------------------------------------------------- MOT files
def load_mot_rows(path: Path, what: str, *, min_columns: int = 6) -> np.ndarray:
    """Read a MOTChallenge text file (``frame,id,x,y,w,h,...``, comma-separated).

    Args:
        path: the file.
        what: what it is, for messages (``"ground truth"``, ``"tracks"``, ``"detections"``).
        min_columns: least number of columns each row must have.

    Returns:
        ``(N, C)`` ``float64`` rows, ``C >= min_columns``; ``N`` may be 0 for an empty file.

    Raises:
        EvalError: the file is missing, has rows of unequal or too few columns, non-numbers, frames
            below 1, or boxes with a non-positive size.
    """
    if not path.is_file():
        raise EvalError(f"{what} file not found: {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return np.empty((0, min_columns), dtype=np.float64)
    rows: list[list[float]] = []
    for no, ln in enumerate(lines, 1):
        parts = [p.strip() for p in ln.replace(";", ",").split(",")]
        while parts and parts[-1] == "":
            parts.pop()
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise EvalError(
                f"{what} {path}: line {no} is not comma-separated numbers "
                f"(expected frame,id,x,y,w,h,...): {ln[:80]!r}"
            ) from None
    width = len(rows[0])
    for no, r in enumerate(rows, 1):
        if len(r) != width or len(r) < min_columns:
            raise EvalError(
                f"{what} {path}: line {no} has {len(r)} columns, expected at least {min_columns} "
                f"and the same number ({width}) on every line"
            )
    data = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(data[:, :6]).all():
        raise EvalError(f"{what} {path}: frame, id and box columns must be finite numbers")
    bad = np.flatnonzero((data[:, 0] < 1) | (data[:, 0] != np.round(data[:, 0])))
    if len(bad):
        raise EvalError(
            f"{what} {path}: line {bad[0] + 1}: frame must be an integer >= 1 (MOT counts from 1)"
        )
    bad = np.flatnonzero((data[:, 4] <= 0) | (data[:, 5] <= 0))
    if len(bad):
        raise EvalError(f"{what} {path}: line {bad[0] + 1}: box width and height must be > 0")
    return data


def gt_layout(rows: np.ndarray) -> GtLayout:
    """Whether ground-truth rows follow MOT16/17/20 (``...,flag,class,visibility``) or MOT15.

    MOT17 is assumed only when there are at least 9 columns, every class (8th column) is an integer in
    1..12 and every visibility (9th column) is in ``[0, 1]``; anything else (7 columns, or ``-1`` /
    world coordinates in columns 8-10) is MOT15.
    """
    if rows.shape[1] < 9 or len(rows) == 0:
        return "mot15"
    cls, vis = rows[:, 7], rows[:, 8]
    is_cls = np.isin(cls, np.asarray(MOT17_CLASSES, dtype=np.float64)).all()
    return "mot17" if is_cls and ((vis >= 0) & (vis <= 1)).all() else "mot15"


def normalize_gt(rows: np.ndarray) -> tuple[np.ndarray, GtLayout]:
    """Ground truth in the MOT17 9-column layout the evaluator scores.

    Args:
        rows: ``(N, C)`` rows from :func:`load_mot_rows`, ``C >= 6``.

    Returns:
        ``(N, 9)`` rows ``frame,id,x,y,w,h,flag,class,visibility`` and the layout found. MOT17 rows
        pass unchanged; MOT15 rows get class 1 and visibility 1, and keep ``flag`` 0 (ignored) where
        it is 0 (any other flag, including the ``-1`` of 7-column files, becomes 1).
    """
    layout = gt_layout(rows)
    if layout == "mot17":
        return rows[:, :9].copy(), layout
    out = np.ones((len(rows), 9), dtype=np.float64)
    out[:, :6] = rows[:, :6]
    if rows.shape[1] > 6:
        out[:, 6] = np.where(rows[:, 6] == 0, 0.0, 1.0)
    return out, layout


def _write_rows(path: Path, rows: np.ndarray, int_columns: int = 2) -> None:
    with path.open("w", encoding="utf-8") as f:
        if len(rows) == 0:
            f.write(_PLACEHOLDER_ROW)
            return
        for r in rows:
            head = [str(int(v)) for v in r[:int_columns]]
            f.write(",".join(head + [f"{v:.6g}" for v in r[int_columns:]]) + "\n")


def score_rows(
    name: str, gt_rows: np.ndarray, track_rows: np.ndarray
) -> tuple[SequenceScore, SequenceResult]:
    """Score tracks against ground truth with ``trackers.eval.evaluate_mot_sequence``.

    Args:
        name: sequence name for the record.
        gt_rows: ``(N, >=6)`` ground-truth rows in MOT15 or MOT17 layout (normalised here).
        track_rows: ``(M, >=6)`` tracks ``frame,id,x,y,w,h,...``; rows with ``id < 0`` are ignored.

    Returns:
        The headline score and the library's full result (for :func:`combine`).

    Raises:
        EvalError: the ground truth holds no scored row, or the evaluator rejects the data.
    """
    gt9, layout = normalize_gt(gt_rows)
    scored = int(((gt9[:, 6] != 0) & (gt9[:, 7] == 1)).sum())
    if scored == 0:
        raise EvalError(
            f"{name}: the ground truth has no scored pedestrian row (class 1, flag != 0); "
            f"detected layout {layout}"
        )
    log.debug("%s: gt layout %s, %d scored rows, %d track rows", name, layout, scored, len(track_rows))
    tracks = np.full((len(track_rows), 10), -1.0)
    if len(track_rows):
        tracks[:, :6] = track_rows[:, :6]
        tracks[:, 6] = track_rows[:, 6] if track_rows.shape[1] > 6 else 1.0
    with tempfile.TemporaryDirectory(prefix="vtrack-eval-") as tmp:
        gt_file, tr_file = Path(tmp) / "gt.txt", Path(tmp) / "tracks.txt"
        _write_rows(gt_file, gt9)
        _write_rows(tr_file, tracks)
        try:
            result = evaluate_mot_sequence(gt_file, tr_file, metrics=METRIC_FAMILIES, threshold=IOU_THRESHOLD)
        except (ValueError, FileNotFoundError) as e:
            raise EvalError(f"{name}: evaluation failed: {e}") from e
    result = dataclasses.replace(result, sequence=name)
    return _score(name, result), result


def score_files(gt_path: Path, tracks_path: Path, *, name: str | None = None) -> EvalReport:
    """Score one tracks file against one ground-truth file.

    Args:
        gt_path: ``gt.txt`` (MOT15 or MOT17 layout).
        tracks_path: MOTChallenge tracks ``frame,id,x,y,w,h,conf,...`` (e.g. ``vtrack run``'s
            ``tracks.txt``).
        name: sequence name; default: the sequence folder of ``gt/gt.txt``, else the file's stem.

    Returns:
        A report with one sequence (and the same figures as ``combined``).
    """
    gt = load_mot_rows(gt_path, "ground truth")
    tracks = load_mot_rows(tracks_path, "tracks")
    if len(tracks) and not (tracks[:, 1] >= 0).any():
        log.warning(
            "%s: no row has a track ID >= 0 (a detections file?); every ground-truth box is a miss",
            tracks_path,
        )
    if name is None:
        name = gt_path.parent.parent.name if gt_path.parent.name == "gt" else gt_path.stem
    score, result = score_rows(name, gt, tracks)
    combined = _score("COMBINED", combine("COMBINED", [result]))
    settings = {"gt": str(gt_path), "tracks": str(tracks_path), "gt_layout": gt_layout(gt)}
    return EvalReport(sequences=[score], combined=combined, settings=settings)


# ---------------------------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class MotSequence:
    """A MOTChallenge sequence folder.

    Attributes:
        root: the folder (holding ``gt/gt.txt``, ``img1/``, ``seqinfo.ini``, ``det/det.txt``).
        name: ``seqinfo.ini`` name, else the folder name.
        fps: ``frameRate`` of ``seqinfo.ini``, else :data:`DEFAULT_FPS`.
        length: ``seqLength``, else the number of images, else the last gt frame.
        image_dir: the images folder (``imDir``, default ``img1``).
    """

    root: Path
    name: str
    fps: float
    length: int
    image_dir: Path

    @property
    def gt_path(self) -> Path:
        """``gt/gt.txt``."""
        return self.root / "gt" / "gt.txt"

    @property
    def det_path(self) -> Path:
        """``det/det.txt`` (public detections)."""
        return self.root / "det" / "det.txt"


def _is_sequence(path: Path) -> bool:
    return (path / "gt" / "gt.txt").is_file()


def _read_ini(path: Path) -> dict[str, str]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise EvalError(f"cannot parse {path}: {str(e).splitlines()[0]}") from e
    for section in parser.sections():
        if section.lower() == "sequence":
            return {k.lower(): v for k, v in parser[section].items()}
    return {}


def load_sequence(root: Path) -> MotSequence:
    """Describe one MOTChallenge sequence folder.

    Raises:
        EvalError: no ``gt/gt.txt``, or a ``seqinfo.ini`` value that is not a positive number.
    """
    if not root.is_dir():
        raise EvalError(f"sequence folder not found: {root}")
    if not _is_sequence(root):
        raise EvalError(f"{root} is not a MOTChallenge sequence: expected {root / 'gt' / 'gt.txt'}")
    info = _read_ini(root / "seqinfo.ini") if (root / "seqinfo.ini").is_file() else {}
    try:
        fps = float(info.get("framerate", DEFAULT_FPS))
        length = int(info["seqlength"]) if "seqlength" in info else 0
    except ValueError as e:
        raise EvalError(f"{root / 'seqinfo.ini'}: frameRate/seqLength must be numbers: {e}") from e
    if not (math.isfinite(fps) and fps > 0) or length < 0:
        raise EvalError(f"{root / 'seqinfo.ini'}: frameRate must be > 0 and seqLength >= 0")
    image_dir = root / info.get("imdir", "img1").strip().strip("/")
    if length == 0:
        from vtrack.stream.images import list_images

        length = len(list_images(image_dir)) if image_dir.is_dir() else 0
    if length == 0:
        gt = load_mot_rows(root / "gt" / "gt.txt", "ground truth")
        length = int(gt[:, 0].max()) if len(gt) else 0
    return MotSequence(
        root=root, name=info.get("name", root.name), fps=fps, length=length, image_dir=image_dir
    )


def find_sequences(paths: Iterable[Path]) -> list[MotSequence]:
    """Sequences named by the user: each path is a sequence folder or a folder of sequences.

    Raises:
        EvalError: a path does not exist, or is neither a sequence nor holds one.
    """
    seqs: list[MotSequence] = []
    for p in paths:
        if not p.exists():
            raise EvalError(f"sequence folder not found: {p}")
        if _is_sequence(p):
            seqs.append(load_sequence(p))
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and _is_sequence(c)) if p.is_dir() else []
        if not children:
            raise EvalError(
                f"{p} is neither a MOTChallenge sequence (gt/gt.txt, img1/, seqinfo.ini) nor a folder of them"
            )
        seqs.extend(load_sequence(c) for c in children)
    if not seqs:
        raise EvalError("no sequence given")
    return seqs


# ---------------------------------------------------------------------------------------- detections
def public_detection_confidence(scores: np.ndarray) -> tuple[np.ndarray, str]:
    """Map a sequence's public detection scores to confidences in ``[0, 1]``.

    Scores already within ``[0, 1]`` (e.g. MOT17 FRCNN/SDP) are kept. Raw detector scores (MOT15's
    DPM: 0.14-133 on TUD-Campus, median 44) are scaled linearly so that the sequence's median score
    becomes :data:`PUBLIC_MEDIAN_CONFIDENCE` (0.75), then clipped to ``[0, 1]`` (negative scores → 0).
    Public detection sets are already thresholded by their publisher, so most boxes are people; on
    TUD-Campus this puts 71% of them at or above ByteTrack's high-score threshold (0.5) and leaves the
    weaker 29% to its second, low-score association.

    Args:
        scores: ``(N,)`` raw scores (7th column of ``det.txt``).

    Returns:
        ``(N,)`` ``float32`` confidences and a one-line description of the mapping used.
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0 or ((s >= 0) & (s <= 1)).all():
        return s.astype(np.float32), "scores already in [0, 1]: kept"
    positive = s[s > 0]
    median = float(np.median(positive)) if len(positive) else 1.0
    scale = median / PUBLIC_MEDIAN_CONFIDENCE
    conf = np.clip(s / scale, 0.0, 1.0).astype(np.float32)
    return (
        conf,
        f"raw scores divided by {scale:.4g} (median {median:.4g} -> {PUBLIC_MEDIAN_CONFIDENCE}), "
        "clipped to [0, 1]",
    )


def public_detections(seq: MotSequence) -> tuple[list[sv.Detections], str]:
    """Per-frame detections from ``det/det.txt`` (frames ``1..seq.length``), class 0.

    Returns:
        A list of ``seq.length`` ``sv.Detections`` (frame ``k`` at index ``k - 1``) and the score
        mapping's description (see :func:`public_detection_confidence`).

    Raises:
        EvalError: no ``det/det.txt``, or a malformed one.
    """
    rows = load_mot_rows(seq.det_path, "public detections", min_columns=7)
    conf, how = public_detection_confidence(rows[:, 6])
    length = max(seq.length, int(rows[:, 0].max()) if len(rows) else 0)
    frames = rows[:, 0].astype(np.int64)
    out: list[sv.Detections] = []
    for f in range(1, length + 1):
        sel = frames == f
        xyxy = rows[sel, 2:6].copy()
        xyxy[:, 2:] += xyxy[:, :2]
        out.append(
            sv.Detections(
                xyxy=xyxy.astype(np.float32).reshape(-1, 4),
                confidence=conf[sel],
                class_id=np.zeros(int(sel.sum()), dtype=np.int64),
            )
        )
    return out, how


DetectorFactory = Callable[[], Callable[[np.ndarray], sv.Detections]]


def detector_detections(
    seq: MotSequence, detector: Callable[[np.ndarray], sv.Detections]
) -> tuple[list[sv.Detections], float]:
    """Run a detector over every image of the sequence.

    Returns:
        Per-frame detections (frame ``k`` at index ``k - 1``; unreadable frames give zero rows) and the
        detector's mean milliseconds per frame.

    Raises:
        EvalError: the image folder is missing or empty.
    """
    from vtrack.errors import SourceError
    from vtrack.stream.sources import open_source

    if not seq.image_dir.is_dir():
        raise EvalError(f"{seq.name}: image folder not found: {seq.image_dir}")
    try:
        source = open_source(str(seq.image_dir), fps=seq.fps)
    except SourceError as e:
        raise EvalError(f"{seq.name}: {e}") from e
    length = max(seq.length, source.frame_count or 0)
    out: list[sv.Detections] = [sv.Detections.empty() for _ in range(length)]
    spent = 0.0
    n = 0
    try:
        for frame in source:
            if frame.index >= length:
                out.extend(sv.Detections.empty() for _ in range(frame.index + 1 - length))
                length = frame.index + 1
            t0 = time.perf_counter()
            out[frame.index] = detector(frame.image)
            spent += time.perf_counter() - t0
            n += 1
    finally:
        source.close()
    return out, 1000.0 * spent / max(n, 1)


def track_detections(
    per_frame: Sequence[sv.Detections],
    *,
    tracker: str = DEFAULT_TRACKER,
    fps: float,
    lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
    tracker_params: dict[str, Any] | None = None,
    images: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, float]:
    """Run a fresh tracker over per-frame detections.

    Args:
        per_frame: detections of frames ``1..N`` (index ``k - 1`` for frame ``k``).
        tracker: tracker name (see :func:`vtrack.trackers.make_tracker`).
        fps: frame rate reaching the tracker.
        lost_track_seconds: lost-track buffer.
        tracker_params: extra tracker keyword arguments.
        images: BGR frames, only for trackers that compensate camera motion.

    Returns:
        ``(M, 7)`` MOT rows ``frame,id,x,y,w,h,conf`` of confirmed tracks, and the tracker's mean
        milliseconds per frame.
    """
    trk = make_tracker(tracker, fps=fps, lost_track_seconds=lost_track_seconds, **(tracker_params or {}))
    rows: list[np.ndarray] = []
    spent = 0.0
    for k, det in enumerate(per_frame):
        img = images[k] if images is not None else None
        t0 = time.perf_counter()
        out = trk.update(det, img)
        spent += time.perf_counter() - t0
        if len(out) == 0 or out.tracker_id is None:
            continue
        keep = np.asarray(out.tracker_id) > 0
        if not keep.any():
            continue
        xyxy = np.asarray(out.xyxy, dtype=np.float64)[keep]
        conf = (
            np.asarray(out.confidence, dtype=np.float64)[keep]
            if out.confidence is not None
            else np.ones(len(xyxy))
        )
        block = np.empty((len(xyxy), 7))
        block[:, 0] = k + 1
        block[:, 1] = np.asarray(out.tracker_id)[keep]
        block[:, 2:4] = xyxy[:, :2]
        block[:, 4:6] = xyxy[:, 2:] - xyxy[:, :2]
        block[:, 6] = conf
        rows.append(block)
    tracks = np.concatenate(rows) if rows else np.empty((0, 7))
    return tracks, 1000.0 * spent / max(len(per_frame), 1)


def _read_images(seq: MotSequence) -> list[np.ndarray]:
    from vtrack.stream.sources import open_source

    source = open_source(str(seq.image_dir), fps=seq.fps)
    try:
        return [f.image for f in source]
    finally:
        source.close()


@dataclass
class Evaluator:
    """Runs detector + tracker over sequences and scores them; caches detections between runs.

    Build one and call :meth:`evaluate` for several trackers: the detector runs once per sequence.

    Attributes:
        detections: ``"own"`` (run ``detector_factory``) or ``"public"`` (``det/det.txt``).
        detector_factory: builds the detector, called at most once (``"own"`` only).
        settings: recorded in every report (model, classes, conf, ...).
    """

    detections: DetectionSource = "own"
    detector_factory: DetectorFactory | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    _cache: dict[Path, tuple[list[sv.Detections], dict[str, float | str]]] = field(default_factory=dict)
    _detector: Callable[[np.ndarray], sv.Detections] | None = None

    def detections_for(self, seq: MotSequence) -> tuple[list[sv.Detections], dict[str, float | str]]:
        """Per-frame detections of ``seq`` (cached) and notes on how they were made."""
        key = seq.root.resolve()
        if key not in self._cache:
            if self.detections == "public":
                dets, how = public_detections(seq)
                self._cache[key] = (dets, {"public_score_mapping": how})
            else:
                if self.detector_factory is None:
                    raise EvalError("--detections own needs a model (--model)")
                if self._detector is None:
                    self._detector = self.detector_factory()
                dets, ms = detector_detections(seq, self._detector)
                self._cache[key] = (dets, {"detector_ms_per_frame": round(ms, 2)})
        return self._cache[key]

    def evaluate(
        self,
        sequences: Sequence[MotSequence],
        *,
        tracker: str = DEFAULT_TRACKER,
        lost_track_seconds: float = DEFAULT_LOST_TRACK_SECONDS,
        tracker_params: dict[str, Any] | None = None,
    ) -> EvalReport:
        """Track and score every sequence with a fresh tracker each.

        Raises:
            EvalError: missing or malformed sequence files.
            ConfigError: an unknown tracker or tracker parameter.
        """
        params = dict(tracker_params or {})
        needs_frames = bool(params.get("enable_cmc"))
        scores: list[SequenceScore] = []
        results: list[SequenceResult] = []
        timings: dict[str, dict[str, float]] = {}
        notes: dict[str, Any] = {}
        for seq in sequences:
            gt = load_mot_rows(seq.gt_path, "ground truth")
            dets, info = self.detections_for(seq)
            images = _read_images(seq) if needs_frames else None
            tracks, trk_ms = track_detections(
                dets,
                tracker=tracker,
                fps=seq.fps,
                lost_track_seconds=lost_track_seconds,
                tracker_params=params,
                images=images,
            )
            score, result = score_rows(seq.name, gt, tracks)
            scores.append(score)
            results.append(result)
            timing: dict[str, float] = {"frames": float(len(dets)), "tracker_ms_per_frame": round(trk_ms, 3)}
            if "detector_ms_per_frame" in info:
                timing["detector_ms_per_frame"] = float(info["detector_ms_per_frame"])
            timings[seq.name] = timing
            if "public_score_mapping" in info:
                notes[seq.name] = info["public_score_mapping"]
            log.info(
                "%s: HOTA %.2f IDF1 %.2f MOTA %.2f IDSW %d",
                seq.name,
                score.HOTA,
                score.IDF1,
                score.MOTA,
                score.IDSW,
            )
        combined = _score("COMBINED", combine("COMBINED", results))
        settings = {
            **self.settings,
            "tracker": tracker,
            "lost_track_seconds": lost_track_seconds,
            "tracker_params": params,
            "detections": self.detections,
        }
        if notes:
            settings["public_score_mapping"] = notes
        return EvalReport(sequences=scores, combined=combined, settings=settings, timings=timings)


def make_detector_factory(
    model: str,
    *,
    conf: float = 0.25,
    imgsz: int | None = None,
    classes: list[str] | None = None,
    threads: int | None = None,
    backend: str = "auto",
    precision: str = "auto",
) -> DetectorFactory:
    """A factory for the ONNX YOLO detector configured as ``vtrack run`` would.

    The model is resolved and loaded only when the factory is called (backend and precision as
    :func:`vtrack.detectors.factory.build_detector` picks them; one inference at a time).

    Raises:
        ConfigError: An unknown backend or precision (when called).
    """

    def factory() -> Callable[[np.ndarray], sv.Detections]:
        from pydantic import ValidationError

        from vtrack.config import ModelConfig, format_validation_error
        from vtrack.detectors.factory import build_detector

        try:
            mc = ModelConfig(path=model, conf=conf, imgsz=imgsz, threads=threads, backend=backend,
                             precision=precision)
        except ValidationError as e:
            raise ConfigError("; ".join(format_validation_error(e))) from e
        det = build_detector(mc, sessions=1)
        if classes:
            det.classes = det.class_ids_for_names(classes)
        det.warmup()
        return det

    return factory
