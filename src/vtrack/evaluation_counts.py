"""Count accuracy: line crossings scored against truth, per line × class × direction and per time segment.

``vtrack eval-counts`` (:mod:`vtrack.cli.eval_counts`) is the command; this module holds the logic.

**Truth** is a list of crossings, from either

* a MOTChallenge ground truth and the counting lines: every ground-truth identity is fed, frame by
  frame, as a track to the same :class:`~vtrack.analytics.lines.LineCounter` that counts vtrack's own
  tracks (same anchor, same settled-side rule, same ``min_frames``), so truth and prediction use one
  definition of a crossing (:func:`truth_from_gt`); only scored rows count (flag not 0, and class 1
  in the MOT16/17/20 layout); or
* a hand-made events file in the ``events.jsonl`` shape (``{"frame", "line", "class", "direction"}``
  per line; other keys ignored) (:func:`load_events`).

**Predictions** come from running vtrack (:func:`predict_run`, one :func:`vtrack.job.run_job` per
stride) or from an existing ``events.jsonl``.

**Scores** (:func:`score_counts`), per line × class × direction: truth and predicted totals, absolute
error ``predicted - truth`` and relative error ``(predicted - truth) / truth`` (``None`` when the truth
is 0), and the AI City Challenge (2020/2021 track 1) segment score: the video is cut into ``k``
equal segments (by frame index), ``x_j`` / ``x̂_j`` are the true / predicted counts in the first ``j``
segments (cumulative), and

``wRMSE = sqrt(sum_j w_j (x̂_j - x_j)^2)`` with ``w_j = j / sum_i i`` (later segments weigh more),
``nwRMSE = min(1, wRMSE / max(truth total, 1))``, ``effectiveness = 1 - nwRMSE``.

(The challenge normalises by the true count; a true count of 0 is normalised by 1 here, so a spurious
crossing in a direction that nobody took still costs.) The report's ``effectiveness`` is the mean
over the rows.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vtrack.analytics.lines import DEFAULT_MIN_FRAMES, LineCounter
from vtrack.evaluation import EvalError, normalize_gt
from vtrack.geometry import Anchor, Line
from vtrack.types import CrossingEvent, Direction

log = logging.getLogger(__name__)

DIRECTIONS: tuple[Direction, Direction] = ("in", "out")
DEFAULT_SEGMENTS = 10
"""Time segments of the AI City Challenge's weighted error (the challenge used 10)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

CountKey = tuple[str, str, str]
"""``(line, class, direction)``."""


@dataclass(frozen=True, slots=True)
class CountEvent:
    """One crossing, reduced to what is scored.

    Attributes:
        frame: 0-based frame index (source frames, before any stride) at which it was counted.
        line: line name.
        class_name: class of the object.
        direction: ``"in"`` or ``"out"``.
    """

    frame: int
    line: str
    class_name: str
    direction: Direction

    @property
    def key(self) -> CountKey:
        return (self.line, self.class_name, self.direction)

    @classmethod
    def of(cls, e: CrossingEvent) -> CountEvent:
        """The scored part of a :class:`~vtrack.types.CrossingEvent`."""
        return cls(frame=int(e.frame), line=e.line, class_name=e.class_name, direction=e.direction)


# ---------------------------------------------------------------------------------------- truth
def load_events(path: Path, what: str = "events") -> list[CountEvent]:
    """Read crossings from an ``events.jsonl`` (vtrack's, or written by hand in the same shape).

    Args:
        path: one JSON object per line with ``frame`` (0-based int), ``line``, ``class`` and
            ``direction`` (``"in"``/``"out"``); blank lines and lines starting with ``#`` are skipped.
        what: what the file is, for messages.

    Returns:
        The crossings in file order.

    Raises:
        EvalError: the file is missing, a line is not JSON, or a field is missing or invalid.
    """
    if not path.is_file():
        raise EvalError(f"{what} file not found: {path}")
    out: list[CountEvent] = []
    for no, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise EvalError(f"{what} {path}: line {no} is not JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise EvalError(f"{what} {path}: line {no}: expected a JSON object")
        try:
            frame = int(obj["frame"])
            line, cls, direction = str(obj["line"]), str(obj["class"]), str(obj["direction"])
        except (KeyError, TypeError, ValueError) as e:
            raise EvalError(
                f"{what} {path}: line {no}: needs frame (int), line, class and direction: {e!r}"
            ) from None
        if direction not in DIRECTIONS or frame < 0:
            raise EvalError(
                f"{what} {path}: line {no}: direction must be 'in' or 'out' and frame >= 0, "
                f"got {direction!r}, {frame}"
            )
        out.append(CountEvent(frame, line, cls, "in" if direction == "in" else "out"))
    return out


def truth_from_gt(
    gt_rows: np.ndarray,
    lines: Sequence[Line],
    *,
    class_name: str = "person",
    anchor: Anchor = Anchor.BOTTOM_CENTER,
    min_frames: int = DEFAULT_MIN_FRAMES,
    length: int | None = None,
) -> list[CountEvent]:
    """Crossings of the ground-truth identities, by the rule :class:`LineCounter` applies to tracks.

    Args:
        gt_rows: ``(N, >=6)`` float MOTChallenge rows ``frame,id,x,y,w,h,...`` (MOT15 or MOT17 layout,
            frames from 1).
        lines: counting lines in the sequence's pixels.
        class_name: the class every identity is counted as (MOT ground truth is pedestrians).
        anchor: the box point tested against the lines (as ``counting.anchor``).
        min_frames: observations on the new side before a crossing counts (as ``counting.min_frames``).
        length: frames of the sequence (default: the last ground-truth frame).

    Returns:
        The crossings, in frame order, ``frame`` 0-based (ground-truth frame - 1).
    """
    rows, _ = normalize_gt(np.asarray(gt_rows, dtype=np.float64))
    rows = rows[(rows[:, 6] != 0) & (rows[:, 7] == 1)]
    last = int(rows[:, 0].max()) if len(rows) else 0
    length = max(int(length or 0), last)
    counter = LineCounter(
        list(lines), anchor=anchor, min_frames=min_frames, max_track_age_frames=max(length, 1) + 1
    )
    frames = rows[:, 0].astype(np.int64)
    order = np.argsort(frames, kind="stable")
    rows, frames = rows[order], frames[order]
    starts = np.searchsorted(frames, np.arange(1, length + 2))
    events: list[CountEvent] = []
    for f in range(1, length + 1):
        block = rows[starts[f - 1] : starts[f]]
        xyxy = block[:, 2:6].copy()
        xyxy[:, 2:] += xyxy[:, :2]
        det = sv.Detections(
            xyxy=xyxy.reshape(-1, 4),
            tracker_id=block[:, 1].astype(np.int64),
            data={"class_name": np.full(len(block), class_name)},
        )
        events.extend(CountEvent.of(e) for e in counter.update(det, f - 1, _EPOCH))
    return events


# ---------------------------------------------------------------------------------------- scores
@dataclass(frozen=True)
class CountRow:
    """Scores of one line × class × direction.

    Attributes:
        line, class_name, direction: what is counted.
        truth: true crossings.
        predicted: predicted crossings.
        segments_truth: ``(k,)`` true crossings per time segment (not cumulative).
        segments_predicted: ``(k,)`` predicted crossings per time segment.
        wrmse: the AI City weighted RMSE over the cumulative segment counts.
    """

    line: str
    class_name: str
    direction: str
    truth: int
    predicted: int
    segments_truth: tuple[int, ...] = ()
    segments_predicted: tuple[int, ...] = ()
    wrmse: float = 0.0

    @property
    def abs_error(self) -> int:
        """``predicted - truth`` (negative: undercount)."""
        return self.predicted - self.truth

    @property
    def rel_error(self) -> float | None:
        """``(predicted - truth) / truth``; ``None`` when the truth is 0."""
        return None if self.truth == 0 else self.abs_error / self.truth

    @property
    def nwrmse(self) -> float:
        """``min(1, wRMSE / max(truth, 1))``."""
        return min(1.0, self.wrmse / max(self.truth, 1))

    @property
    def effectiveness(self) -> float:
        """``1 - nwRMSE`` (1 = every segment right)."""
        return 1.0 - self.nwrmse

    def to_dict(self) -> dict[str, Any]:
        rel = self.rel_error
        return {
            "line": self.line,
            "class": self.class_name,
            "direction": self.direction,
            "truth": self.truth,
            "predicted": self.predicted,
            "abs_error": self.abs_error,
            "rel_error": None if rel is None else round(rel, 4),
            "wrmse": round(self.wrmse, 4),
            "nwrmse": round(self.nwrmse, 4),
            "effectiveness": round(self.effectiveness, 4),
            "segments_truth": list(self.segments_truth),
            "segments_predicted": list(self.segments_predicted),
        }


def weighted_rmse(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """AI City Challenge track-1 wRMSE of per-segment counts.

    Args:
        truth: ``k`` true counts per segment (not cumulative).
        predicted: ``k`` predicted counts per segment.

    Returns:
        ``sqrt(sum_j w_j (X̂_j - X_j)^2)`` over the cumulative counts ``X_j`` of the first ``j``
        segments, ``w_j = j / (k (k + 1) / 2)``; 0 for ``k = 0``.
    """
    k = len(truth)
    if k == 0:
        return 0.0
    diff = np.cumsum(np.asarray(predicted, dtype=np.float64)) - np.cumsum(np.asarray(truth, dtype=np.float64))
    w = np.arange(1, k + 1, dtype=np.float64) / (k * (k + 1) / 2)
    return float(math.sqrt(float(np.sum(w * diff**2))))


def _segment_counts(events: Iterable[CountEvent], length: int, k: int) -> dict[CountKey, list[int]]:
    out: dict[CountKey, list[int]] = {}
    for e in events:
        seg = min(k - 1, max(0, e.frame * k // max(length, 1)))
        out.setdefault(e.key, [0] * k)[seg] += 1
    return out


def score_counts(
    truth: Sequence[CountEvent],
    predicted: Sequence[CountEvent],
    *,
    length: int,
    segments: int = DEFAULT_SEGMENTS,
    expected: Iterable[tuple[str, str]] = (),
) -> list[CountRow]:
    """Score predicted crossings against the truth.

    Args:
        truth: true crossings.
        predicted: predicted crossings.
        length: frames of the video (the segments split ``[0, length)``; events beyond fall in the last).
        segments: number of time segments ``k`` (``>= 1``).
        expected: ``(line, class)`` pairs reported even when neither side has a crossing (both
            directions each).

    Returns:
        One row per line × class × direction found in either list or in ``expected``, sorted.

    Raises:
        EvalError: ``segments < 1``.
    """
    if segments < 1:
        raise EvalError(f"segments must be >= 1, got {segments}")
    length = max(length, *(e.frame + 1 for e in truth), *(e.frame + 1 for e in predicted), 1)
    seg_t = _segment_counts(truth, length, segments)
    seg_p = _segment_counts(predicted, length, segments)
    keys = set(seg_t) | set(seg_p) | {(ln, c, d) for ln, c in expected for d in DIRECTIONS}
    zero = [0] * segments
    rows: list[CountRow] = []
    for key in sorted(keys):
        t, p = seg_t.get(key, zero), seg_p.get(key, zero)
        rows.append(
            CountRow(
                line=key[0],
                class_name=key[1],
                direction=key[2],
                truth=sum(t),
                predicted=sum(p),
                segments_truth=tuple(t),
                segments_predicted=tuple(p),
                wrmse=weighted_rmse(t, p),
            )
        )
    return rows


@dataclass
class CountReport:
    """The scores of one prediction (one stride).

    Attributes:
        stride: detector stride of the prediction (``None`` for an events file).
        rows: one :class:`CountRow` per line × class × direction.
        length: frames of the video the segments split.
        segments: number of time segments.
        info: how the prediction was made (frames processed, FPS, run folder, ...).
    """

    stride: int | None
    rows: list[CountRow]
    length: int
    segments: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def effectiveness(self) -> float:
        """Mean ``1 - nwRMSE`` over the rows (1.0 with no row)."""
        return float(np.mean([r.effectiveness for r in self.rows])) if self.rows else 1.0

    @property
    def total_abs_error(self) -> int:
        """Sum of ``|predicted - truth|`` over the rows."""
        return sum(abs(r.abs_error) for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "length": self.length,
            "segments": self.segments,
            "effectiveness": round(self.effectiveness, 4),
            "total_abs_error": self.total_abs_error,
            "rows": [r.to_dict() for r in self.rows],
            "info": dict(self.info),
        }


Predictor = Callable[[int], tuple[list[CountEvent], dict[str, Any]]]
"""``stride -> (crossings, info)``: one prediction of the crossings at a detector stride."""


def sweep(
    strides: Sequence[int],
    predict: Predictor,
    *,
    truth: Sequence[CountEvent] | None,
    length: int,
    segments: int = DEFAULT_SEGMENTS,
    expected: Iterable[tuple[str, str]] = (),
    on_done: Callable[[int], None] | None = None,
) -> tuple[list[CountReport], str]:
    """Predict at every stride and score each against the truth.

    Args:
        strides: detector strides (``>= 1`` each), in the order to run them.
        predict: makes the crossings at one stride.
        truth: true crossings; ``None``: the first stride's crossings are the reference (say
            ``1`` first to compare every stride with the full-rate count).
        length: frames of the video.
        segments: time segments.
        expected: ``(line, class)`` pairs always reported.
        on_done: called with each stride once scored (progress).

    Returns:
        One report per stride (in order) and what the truth was (for titles).
    """
    expected = list(expected)
    reports: list[CountReport] = []
    reference = list(truth) if truth is not None else None
    label = "truth"
    for s in strides:
        events, info = predict(s)
        if reference is None:
            reference = list(events)
            label = f"stride {s} (no truth given)"
        rows = score_counts(reference, events, length=length, segments=segments, expected=expected)
        reports.append(CountReport(stride=s, rows=rows, length=length, segments=segments, info=info))
        if on_done is not None:
            on_done(s)
    return reports, label


def tally(events: Iterable[CountEvent]) -> dict[CountKey, int]:
    """Crossings per line × class × direction."""
    return dict(Tally(e.key for e in events))


# ---------------------------------------------------------------------------------------- vtrack runs
def predict_run(
    cfg: Any,
    stride: int,
    *,
    on_start: Callable[[Any], None] | None = None,
    on_frame: Callable[[Any], None] | None = None,
) -> tuple[list[CountEvent], dict[str, Any]]:
    """Run vtrack (:func:`vtrack.job.run_job`) at ``stride`` and return its crossings.

    Args:
        cfg: the :class:`~vtrack.config.RunConfig` (source, model, classes, lines, tracker); its
            stride, output folder, video and store are replaced (outputs go to a temporary folder).
        stride: detector stride.
        on_start: called with the opened source (progress).
        on_frame: called after every processed frame (progress).

    Returns:
        The crossings and ``{"frames", "fps", "seconds"}`` of the run.

    Raises:
        VtrackError: whatever :func:`run_job` raises for bad input.
    """
    from vtrack.job import run_job

    with tempfile.TemporaryDirectory(prefix="vtrack-eval-counts-") as tmp:
        run_cfg = cfg.model_copy(
            update={
                "stride": stride,
                "output": cfg.output.model_copy(update={"dir": tmp, "video": False}),
                "store": None,
            }
        )
        native: list[float] = []

        def started(src: Any) -> None:
            native.append(float(src.native_fps))
            if on_start is not None:
                on_start(src)

        outcome = run_job(run_cfg, on_start=started, on_frame=on_frame)
        events = load_events(Path(tmp) / "events.jsonl")
    proc = outcome.summary.get("processing", {})
    # the detector runs on every stride-th source frame (the frames between may still be tracked)
    fps = native[0] / stride if native else outcome.summary.get("fps")
    return events, {
        "frames": outcome.summary.get("frames"),
        "processing_fps": proc.get("fps"),
        "detector_fps": None if fps is None else round(float(fps), 3),
    }
