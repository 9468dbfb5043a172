"""ByteTrack's association as the paper's official code does it (Zhang et al., ECCV 2022).

:class:`PaperByteTrackEngine` is one per-class engine behind :class:`~vtrack.trackers.adapter.LibraryTracker`
(same duck type as a ``trackers`` library tracker: ``update(detections)`` and ``tracks``). It follows
``ifzhang/ByteTrack : yolox/tracker/byte_tracker.py`` step by step:

1. Split boxes: high ``score > track_thresh``; low ``low_thresh < score <= track_thresh`` (the adapter
   already drops boxes below ``low_thresh``).
2. First association: high boxes against confirmed tracks, tracked *and* lost, after a Kalman predict.
   Cost ``1 - IoU``, fused with the detection score (``1 - IoU * score``, the paper's MOT17 setting);
   optimal assignment with a cost limit ``match_thresh`` (0.8: fused similarity above 0.2).
3. Second association: low boxes against the confirmed tracks left over that were *tracked* on the
   previous frame (not the lost ones), plain ``1 - IoU`` with limit 0.5 (IoU above 0.5). Tracked
   tracks still unmatched become lost.
4. Unconfirmed tracks (started on the previous frame) against the high boxes left over, fused cost,
   limit 0.7; unmatched unconfirmed tracks are removed at once.
5. New tracks from high boxes left over with ``score >= det_thresh`` (``track_thresh + 0.1``).
6. Lost tracks older than ``max_time_lost`` frames are removed; a tracked/lost pair closer than IoU
   0.85 loses its younger member (``remove_duplicate_stracks``).

Time (vtrack's additions, for reduced and irregular frame rates): ``update(..., timestamp=t)`` makes
every Kalman prediction span the real gap since the previous call (in frames at ``fps``; without
timestamps one frame, as the paper) and lost-track ages count that time; ``gate_sigmas > 0`` adds a
buffered-IoU pass after the first and the unconfirmed associations (boxes grown by the track's
predicted position uncertainty, so the tolerance grows with the gap); ``init_velocity`` starts a
track's velocity from its first two boxes (measured and left off, docs/tracking.md).

The Kalman filter is the paper's (DeepSORT's): state ``(x, y, a, h, vx, vy, va, vh)`` (centre, aspect
w/h, height), noise standard deviations proportional to the height (position 1/20, velocity 1/160),
and ``vh`` zeroed before predicting a lost track.

Each step can be switched to the ``trackers`` 2.6 library's behaviour (arguments below) so the effect
of every deviation can be measured (``bench/tracker_sweep.py paper``). Differences kept on purpose:
boxes are ``x1, y1, x2, y2`` with IoU without the ``+1`` pixel of ``cython_bbox``; removed tracks are
not kept in a ``removed_stracks`` list (it grows forever in the original); IDs are given when a
track is confirmed (the adapter re-numbers them anyway).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment

from vtrack.trackers.base import ORIGIN_KEY

KalmanName = Literal["xyah", "xyxy"]
AssignmentName = Literal["limit", "threshold"]

_STD_POS = 1.0 / 20.0
_STD_VEL = 1.0 / 160.0
_DUPLICATE_IOU_DISTANCE = 0.15
_MIN_HEIGHT = 1.0
"""Height (px) below which the height-scaled noise stops shrinking (a degenerate box would make the
innovation covariance singular)."""
_F8 = np.eye(8)
_F8[:4, 4:] = np.eye(4)
_H8 = np.eye(4, 8)
_MAX_DT = 1000.0
"""Largest gap (in frames at the engine's rate) one prediction spans; longer gaps are clipped (a
track lost that long is removed anyway)."""
CARRIED_TRACK_KEY = "carried_track"
"""``data`` column of a carried frame: the engine's ID of the track each row was carried from (``-1``
for rows of unconfirmed tracks); such rows update their own track, not the association."""
RECALL_MIN_IOU = 0.3
"""Least IoU between a new track's first box moved back along its first motion and a box left over on
the previous frame with detections for that box to become the track's origin (``recall_origins``)."""


def _centre(box: np.ndarray) -> np.ndarray:
    """Centre ``(2,)`` of an xyxy box ``(4,)``."""
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def _inside(box: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether the centre of an xyxy box ``(4,)`` lies in a ``(width, height)`` frame."""
    cx, cy = _centre(box)
    return bool(0 <= cx < size[0] and 0 <= cy < size[1])


def _transition(dt: float) -> np.ndarray:
    """Constant-velocity transition over ``dt`` frames, ``(8, 8)``."""
    if dt == 1.0:
        return _F8
    f = np.eye(8)
    f[:4, 4:] = dt * np.eye(4)
    return f


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU.

    Args:
        a: ``(N, 4)`` float ``x1, y1, x2, y2``.
        b: ``(M, 4)`` float ``x1, y1, x2, y2``.

    Returns:
        ``(N, M)`` float64 IoU in ``[0, 1]``.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def assign(
    cost: np.ndarray, limit: float, how: AssignmentName = "limit"
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal assignment of rows to columns, leaving pairs above ``limit`` unmatched.

    Args:
        cost: ``(N, M)`` float costs.
        limit: largest cost of a match.
        how: ``"limit"``: ``lap.lapjv(cost, extend_cost=True, cost_limit=limit)`` as the paper (the
            assignment itself may leave a row unmatched at cost ``limit / 2`` per side, so one weak pair
            never forces others apart); ``"threshold"``: the library's way, the optimal assignment of
            all pairs, then pairs above the limit dropped.

    Returns:
        Matches ``(row, col)``, unmatched rows, unmatched columns (sorted).
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    # lapjv's cost limit extends the matrix to (n + m) square with limit / 2 for "unmatched" on each
    # side; leaving a row and a column unmatched then costs ``limit``, exactly as pairing them at a
    # cost capped to ``limit``, so the capped rectangular problem has the same optimum (and is
    # cheaper to solve).
    rows, cols = linear_sum_assignment(np.minimum(cost, limit) if how == "limit" else cost)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]
    matches = [(r, c) for r, c in pairs if cost[r, c] < limit]
    mr = {r for r, _ in matches}
    mc = {c for _, c in matches}
    return matches, [r for r in range(n) if r not in mr], [c for c in range(m) if c not in mc]


class _Kalman:
    """Constant-velocity Kalman filter on a box; ``xyah`` (paper) or ``xyxy`` (the library's)."""

    def __init__(self, kind: KalmanName, box: np.ndarray, motion_scale: float = 1.0) -> None:
        self.kind = kind
        self.motion_scale = motion_scale
        z = self._measure(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        if kind == "xyah":
            h = max(float(z[3]), _MIN_HEIGHT)
            v = _STD_VEL * motion_scale
            std = [2 * _STD_POS * h, 2 * _STD_POS * h, 1e-2, 2 * _STD_POS * h,
                   10 * v * h, 10 * v * h, 1e-5, 10 * v * h]  # fmt: skip
            self.cov = np.diag(np.square(std))
        else:
            self.cov = np.eye(8)

    def _measure(self, box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box)
        if self.kind == "xyxy":
            return np.array([x1, y1, x2, y2])
        w, h = x2 - x1, y2 - y1
        return np.array([x1 + w / 2, y1 + h / 2, w / max(h, 1e-6), h])

    def predict(self, *, freeze_height: bool = False, dt: float = 1.0) -> None:
        mean = self.mean.copy()
        if self.kind == "xyah":
            if freeze_height:
                mean[7] = 0.0
            h = max(float(mean[3]), _MIN_HEIGHT)
            v = _STD_VEL * self.motion_scale
            std = [_STD_POS * h, _STD_POS * h, 1e-2, _STD_POS * h, v * h, v * h, 1e-5, v * h]
            q = np.diag(np.square(std))
        else:
            q = 0.01 * np.eye(8)
        f = _transition(dt)
        self.mean = f @ mean
        self.cov = f @ self.cov @ f.T + (q if dt == 1.0 else dt * q)

    def update(self, box: np.ndarray) -> None:
        z = self._measure(box)
        if self.kind == "xyah":
            h = max(float(self.mean[3]), _MIN_HEIGHT)
            r = np.diag(np.square([_STD_POS * h, _STD_POS * h, 1e-1, _STD_POS * h]))
        else:
            r = 0.1 * np.eye(4)
        s = _H8 @ self.cov @ _H8.T + r
        k = np.linalg.solve(s, _H8 @ self.cov).T
        self.mean = self.mean + k @ (z - _H8 @ self.mean)
        self.cov = self.cov - k @ s @ k.T

    def box(self) -> np.ndarray:
        m = self.mean
        if self.kind == "xyxy":
            return m[:4].copy()
        h = m[3]
        w = m[2] * h
        return np.array([m[0] - w / 2, m[1] - h / 2, m[0] + w / 2, m[1] + h / 2])


def predict_all(kfs: list[_Kalman], freeze: list[bool], dt: float = 1.0) -> None:
    """Kalman predict of many filters of one kind at once (the official ``multi_predict``).

    Args:
        kfs: filters, all of the same kind.
        freeze: per filter, zero the height velocity first (lost tracks, as the official code).
        dt: time step in frames at the engine's rate (1 as the paper; the process noise, a random walk
            per frame, grows linearly with it).
    """
    if not kfs:
        return
    mean = np.stack([k.mean for k in kfs])  # (k, 8)
    cov = np.stack([k.cov for k in kfs])  # (k, 8, 8)
    if kfs[0].kind == "xyah":
        mean[np.asarray(freeze, dtype=bool), 7] = 0.0
        h = np.maximum(mean[:, 3:4], _MIN_HEIGHT)
        pos, vel = _STD_POS * h, _STD_VEL * kfs[0].motion_scale * h
        std = np.concatenate(
            [pos, pos, np.full_like(h, 1e-2), pos, vel, vel, np.full_like(h, 1e-5), vel], axis=1
        )
        q = np.zeros_like(cov)
        q[:, np.arange(8), np.arange(8)] = np.square(std)
    else:
        q = np.broadcast_to(0.01 * np.eye(8), cov.shape)
    f = _transition(dt)
    mean = mean @ f.T
    cov = f @ cov @ f.T + (q if dt == 1.0 else dt * q)
    for i, k in enumerate(kfs):
        k.mean, k.cov = mean[i], cov[i]


def update_all(kfs: list[_Kalman], boxes: np.ndarray) -> None:
    """Kalman update of many filters of one kind at once.

    Args:
        kfs: filters, all of the same kind.
        boxes: ``(k, 4)`` float ``x1, y1, x2, y2``, one per filter.
    """
    if not kfs:
        return
    mean = np.stack([k.mean for k in kfs])
    cov = np.stack([k.cov for k in kfs])
    z = np.stack([k._measure(b) for k, b in zip(kfs, boxes, strict=True)])  # (k, 4)
    if kfs[0].kind == "xyah":
        h = np.maximum(mean[:, 3], _MIN_HEIGHT)
        std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-1), _STD_POS * h], axis=1)
        r = np.zeros((len(kfs), 4, 4))
        r[:, np.arange(4), np.arange(4)] = np.square(std)
    else:
        r = np.broadcast_to(0.1 * np.eye(4), (len(kfs), 4, 4))
    s = cov[:, :4, :4] + r
    gain = cov[:, :, :4] @ np.linalg.inv(s)  # (k, 8, 4)
    mean = mean + (gain @ (z - mean[:, :4])[:, :, None])[:, :, 0]
    cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    for i, k in enumerate(kfs):
        k.mean, k.cov = mean[i], cov[i]


@dataclass
class PaperTrack:
    """One track of :class:`PaperByteTrackEngine` (bounded: a filter and a few counters)."""

    kf: _Kalman
    start_frame: float
    end_frame: float
    hits: int = 1
    tracked: bool = True
    confirmed: bool = False
    tracker_id: int = -1
    box: np.ndarray = field(default_factory=lambda: np.zeros(4))
    first_measure: np.ndarray | None = None
    """The first box's Kalman measurement (kept until the second, for the initial velocity)."""
    origin: np.ndarray = field(default_factory=lambda: np.full(4, np.nan))
    """The box that started the track (its first, still unconfirmed, detection), ``(4,)`` xyxy; ``NaN``
    for a track confirmed by its first box."""
    lead: float = 0.0
    """Frames the detector did not look at just before the track's first box (``lead_origins``)."""
    recall: np.ndarray | None = None
    """``(L, 4)`` xyxy: the boxes no track took on the previous frame with detections, until the
    track is confirmed (``recall_origins``)."""
    recall_back: float = 0.0
    """Frames from that frame to the track's first box."""


class PaperByteTrackEngine:
    """One class's ByteTrack, as the official code (see the module docstring).

    Args:
        track_thresh: high/low split (high: ``score > track_thresh``).
        det_thresh: least score of a box that starts a track.
        match_thresh: cost limit of the first association (``1 - fused IoU``).
        second_match_thresh: cost limit of the low-score association (``1 - IoU``).
        unconfirmed_match_thresh: cost limit for unconfirmed tracks.
        max_time_lost: frames a lost track is kept.
        min_hits: matches (the first box included) before a track is confirmed; 2 in the paper.
        fuse_score: multiply IoU by the detection score in the first and unconfirmed associations.
        kalman: ``"xyah"`` (paper) or ``"xyxy"`` (library: corners, constant noise).
        second_stage_lost: also offer lost tracks to low boxes (library; the paper offers tracked only).
        separate_unconfirmed: match unconfirmed tracks after the two stages (paper); otherwise they
            join the first association with the confirmed ones (library).
        assignment: ``"limit"`` (paper, ``lapjv`` cost limit) or ``"threshold"`` (library).
        remove_duplicates: drop the younger of a tracked/lost pair with IoU above 0.85 (paper).
        activate_first_frame: confirm tracks on the engine's first frame at once (paper).
        motion_scale: multiplies the Kalman filter's velocity noise (initial and per step). The
            paper's weights assume 30 fps; at ``fps`` frames per second reaching the tracker an object
            moves ``30 / fps`` times as far per frame, so :class:`~vtrack.trackers.bytetrack.ByteTrack`
            passes ``max(1, 30 / fps)``.
        fps: the engine's frame rate: a ``timestamp`` gap of ``1 / fps`` seconds is one frame (one
            Kalman step); lost-track ages count in such frames too.
        gate_sigmas: after each IoU association (confirmed tracks with high boxes; unconfirmed tracks),
            a second pass offers the leftovers to each other with both boxes grown by ``gate_sigmas``
            times the track's predicted position standard deviation (x and y) on every side: buffered
            IoU (C-BIoU) whose buffer grows with the time since the track was last seen and with the
            uncertainty of its velocity. ``0`` turns the pass off (the paper).
        gate_lost: offer lost tracks to the buffered pass too (off: only tracks matched on the
            previous frame and unconfirmed ones).
        carried_confirms: rows marked ``data["propagated"]`` (carried over a frame without detection
            by :class:`~vtrack.trackers.propagate.FlowPropagator`) count toward confirming a new track.
            ``False`` (default): they keep an unconfirmed track alive and move it, but only real
            detections confirm it or start a track (a one-frame partial-body box is not confirmed by
            its own carried copy; the counter still learns where a late-confirmed track started from
            ``data[ORIGIN_KEY]``).
        init_velocity: when a track gets its second box, set its velocity to the displacement between
            its first two boxes over the time between them (the paper starts from velocity 0 and
            lets the filter learn it).
        lead_origins: when the detector skipped frames just before a track's first box (a stride, or
            a live stream detecting less often than the camera sends frames), move the reported
            origin back along the track's first motion by the skipped time less one frame: the box
            where a detector looking at every frame would most likely have seen the object first
            (see docs/tracking.md). Needs timestamps; with detections on every frame it changes
            nothing. The moved origin is dropped (the first box kept) when its centre leaves the frame.
        previous_detection: timestamp (s) of the stream's last frame with detections before this
            engine was made (an engine made when its class appears mid-stream).
        recall_origins: when a track is confirmed, a box no track took on the frame with detections
            before its first box (a low-score detection) becomes its origin if the track's first
            motion, run backwards, lands on it (IoU at least ``RECALL_MIN_IOU``): evidence of where the
            object was, preferred to ``lead_origins``' guess.
        drop_exited: remove a lost track at once when its predicted centre is outside the frame (it
            left the picture; kept lost it waits at the edge and takes the next object's detection),
            and leave a track predicted out of the frame out of the buffered pass (its buffer, wide
            after a gap, would hand it a newcomer at the edge). Needs ``frame``.
        confirm_exits: an unconfirmed track carried by a propagator (rows ``data["propagated"]``;
            only detections confirm otherwise) is confirmed as soon as its first motion takes it out
            of the picture before the detector looks again (expected after the last gap between
            frames with detections): the second detection that would confirm it cannot come (a rider
            crossing the line and leaving between two looks of a detector that skips frames); its
            carried boxes until it leaves are counted like any confirmed track's. Needs ``frame``;
            with detections on every frame it changes nothing.

    Carried frames: rows may name the track they were carried from (``data[CARRIED_TRACK_KEY]``,
    the engine's IDs, ``-1`` for unconfirmed tracks; the adapter fills it from ``tracker_id``). A
    row of a confirmed track updates that track and nothing else; a row of an unconfirmed track is
    offered to the unconfirmed tracks only (never to a lost confirmed track nearby).
    """

    def __init__(
        self,
        *,
        track_thresh: float = 0.5,
        det_thresh: float = 0.6,
        match_thresh: float = 0.8,
        second_match_thresh: float = 0.5,
        unconfirmed_match_thresh: float = 0.7,
        max_time_lost: int = 30,
        min_hits: int = 2,
        fuse_score: bool = True,
        kalman: KalmanName = "xyah",
        second_stage_lost: bool = False,
        separate_unconfirmed: bool = True,
        assignment: AssignmentName = "limit",
        remove_duplicates: bool = True,
        activate_first_frame: bool = False,
        motion_scale: float = 1.0,
        fps: float = 30.0,
        gate_sigmas: float = 0.0,
        init_velocity: bool = False,
        gate_lost: bool = False,
        carried_confirms: bool = False,
        lead_origins: bool = False,
        previous_detection: float | None = None,
        recall_origins: bool = False,
        drop_exited: bool = False,
        confirm_exits: bool = False,
    ) -> None:
        if kalman not in ("xyah", "xyxy"):
            raise ValueError(f"kalman must be 'xyah' or 'xyxy', got {kalman!r}")
        if assignment not in ("limit", "threshold"):
            raise ValueError(f"assignment must be 'limit' or 'threshold', got {assignment!r}")
        self.track_thresh = track_thresh
        self.det_thresh = det_thresh
        self.match_thresh = match_thresh
        self.second_match_thresh = second_match_thresh
        self.unconfirmed_match_thresh = unconfirmed_match_thresh
        self.max_time_lost = int(max_time_lost)
        self.min_hits = int(min_hits)
        self.fuse_score = fuse_score
        self.kalman: KalmanName = kalman
        self.second_stage_lost = second_stage_lost
        self.separate_unconfirmed = separate_unconfirmed
        self.assignment: AssignmentName = assignment
        self.remove_duplicates = remove_duplicates
        self.activate_first_frame = activate_first_frame
        self.motion_scale = float(motion_scale)
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        self.gate_sigmas = float(gate_sigmas)
        self.init_velocity = bool(init_velocity)
        self.gate_lost = bool(gate_lost)
        self.carried_confirms = bool(carried_confirms)
        self.lead_origins = bool(lead_origins)
        self._previous_detection = previous_detection
        """Timestamp of the last frame with detections (rows not carried by a propagator)."""
        self.recall_origins = bool(recall_origins)
        self.drop_exited = bool(drop_exited)
        self.confirm_exits = bool(confirm_exits)
        self._detect_gap = 1.0
        """Frames between the last two frames with detections (timestamps; at most a second)."""
        self._leftover: tuple[np.ndarray, float] | None = None
        """The boxes no track took on the last frame with detections, and that frame's clock."""
        self.tracks: list[PaperTrack] = []
        self.frame_id = 0
        self.clock = 0.0
        """Time of the current frame in frames at ``fps`` since the first (``frame_id - 1`` without
        timestamps)."""
        self._last_timestamp: float | None = None
        self._frame_size: tuple[int, int] | None = None
        self._next_id = 0

    def _cost(
        self,
        tracks: list[PaperTrack],
        boxes: np.ndarray,
        scores: np.ndarray,
        fuse: bool,
        buffered: bool = False,
    ) -> np.ndarray:
        track_boxes = np.array([t.box for t in tracks]).reshape(-1, 4)
        if buffered and len(tracks) and len(boxes):
            # Both boxes of a pair grow by the track's position uncertainty: (T, M, 4) pairs.
            sd = np.sqrt(np.maximum(np.array([np.diag(t.kf.cov)[:2] for t in tracks]), 0.0))
            m = self.gate_sigmas * sd  # (T, 2): x and y margins
            grow = np.concatenate([-m, m], axis=1)[:, None, :]
            a = track_boxes[:, None, :] + grow
            b = np.asarray(boxes, dtype=np.float64)[None, :, :] + grow
            iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
            ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
            inter = iw * ih
            union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
                     + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)  # fmt: skip
            iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        else:
            iou = iou_matrix(track_boxes, boxes)
        if fuse and self.fuse_score:
            iou = iou * scores[None, :]
        return 1.0 - iou

    def _associate(
        self,
        tracks: list[PaperTrack],
        boxes: np.ndarray,
        scores: np.ndarray,
        limit: float,
        fuse: bool,
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """IoU assignment, then (``gate_sigmas > 0``) buffered IoU for the pairs left over."""
        matches, u_track, u_box = assign(self._cost(tracks, boxes, scores, fuse), limit, self.assignment)
        # Lost tracks stay out unless gate_lost: their uncertainty grows with every frame they are
        # missing, and a wide buffer then takes over a neighbour (measured: ID switches).
        gated = [i for i in u_track if self.gate_lost or tracks[i].tracked]
        if self.drop_exited and self._frame_size is not None:
            # a track predicted out of the picture has left it: a wide buffer would hand it a newcomer
            gated = [i for i in gated if _inside(tracks[i].box, self._frame_size)]
        if self.gate_sigmas > 0 and gated and u_box:
            rest_t, rest_b = [tracks[i] for i in gated], np.asarray(u_box)
            cost = self._cost(rest_t, boxes[rest_b], scores[rest_b], fuse, buffered=True)
            more, _, ub = assign(cost, limit, self.assignment)
            matches = matches + [(gated[r], int(rest_b[c])) for r, c in more]
            done = {gated[r] for r, _ in more}
            u_track, u_box = [i for i in u_track if i not in done], [int(rest_b[i]) for i in ub]
        return matches, u_track, u_box

    def _lead(self, detected: bool, timestamp: float | None) -> float:
        """Frames the detector skipped before this one, less one (``0`` without ``lead_origins``, on
        a carried frame or without timestamps); remembers the time of a frame with detections and
        the gap since the one before (``confirm_exits``' guess of when the detector looks next)."""
        if not detected or timestamp is None:
            return 0.0
        previous, self._previous_detection = self._previous_detection, float(timestamp)
        if previous is None:
            return 0.0
        gap = (float(timestamp) - previous) * self.fps  # frames since the detector last looked
        if np.isfinite(gap):
            self._detect_gap = max(1.0, min(gap, self.fps))
        if not self.lead_origins:
            return 0.0
        skipped = gap - 1.0
        # at most a second: a longer gap is a stalled stream, not a detector that skips frames
        return float(min(skipped, self.fps)) if np.isfinite(skipped) and skipped > 1e-6 else 0.0

    def _step(self, timestamp: float | None) -> float:
        """Frames at ``fps`` since the previous update (1 without timestamps or for a backward jump)."""
        last, self._last_timestamp = self._last_timestamp, timestamp
        if timestamp is None or last is None:
            return 1.0
        dt = (float(timestamp) - last) * self.fps
        if not np.isfinite(dt) or dt <= 0.0 or abs(dt - 1.0) < 1e-6:
            return 1.0  # (regular frames give exactly the paper's step, not 0.9999999)
        return float(min(dt, _MAX_DT))

    def _hit(
        self, pairs: list[tuple[PaperTrack, np.ndarray]], carried: list[bool] | None = None
    ) -> None:
        update_all([t.kf for t, _ in pairs], np.array([b for _, b in pairs]).reshape(-1, 4))
        for k, (t, b) in enumerate(pairs):
            if carried is not None and carried[k] and not self.carried_confirms and not t.confirmed:
                t.box = t.kf.box()
                t.end_frame = self.clock
                t.tracked = True
                if self.confirm_exits and self._leaving(b, step := self._first_step(t, b)):
                    self._confirm(t, step)
                continue
            if self.init_velocity and t.first_measure is not None:
                gap = self.clock - t.start_frame
                if gap > 0:
                    z = t.kf._measure(b)
                    k = 2 if self.kalman == "xyah" else 4  # centre only; xyxy: every corner
                    t.kf.mean[4 : 4 + k] = (z[:k] - t.first_measure[:k]) / gap
                t.first_measure = None
            t.box = t.kf.box()
            t.end_frame = self.clock
            t.tracked = True
            t.hits += 1
            if not t.confirmed and t.hits >= self.min_hits:
                self._confirm(t, self._first_step(t, b))

    def _confirm(self, t: PaperTrack, step: np.ndarray | None) -> None:
        """Confirm ``t`` (``step``: its first motion, :meth:`_first_step`): its origin recalled or
        moved back, a new ID."""
        if step is not None and not self._recall_origin(t, step) and t.lead > 0:
            self._lead_origin(t, step)
        t.recall = None
        t.confirmed = True
        t.tracker_id = self._next_id
        self._next_id += 1

    def _leaving(self, box: np.ndarray, step: np.ndarray | None) -> bool:
        """A track carried to ``box`` (``(4,)`` xyxy) with first motion ``step`` will have left the
        frame when the detector looks next (``confirm_exits``): its centre moved on by ``step`` for
        the frames until then (the last gap between frames with detections after the last such frame,
        at least one; one without timestamps) is outside the picture."""
        if step is None or self._frame_size is None:
            return False
        ahead = 1.0
        if self._previous_detection is not None and self._last_timestamp is not None:
            since = (self._last_timestamp - self._previous_detection) * self.fps
            ahead = max(1.0, self._detect_gap - since)
        return not _inside(box + np.tile(step * ahead, 2), self._frame_size)

    @property
    def pending(self) -> bool:
        """Holds boxes left over on the last frame with detections (a later track's origin may be
        one of them): the engine is not idle even without tracks."""
        return self._leftover is not None and len(self._leftover[0]) > 0

    def _first_step(self, t: PaperTrack, box: np.ndarray) -> np.ndarray | None:
        """``t``'s first motion, ``(2,)`` px per frame of its centre from its origin to ``box`` (its
        confirming box, ``(4,)`` xyxy); ``None`` without an origin or time between them."""
        gap = self.clock - t.start_frame
        if not gap > 0 or not np.isfinite(t.origin).all():
            return None
        return (_centre(box) - _centre(t.origin)) / gap

    def _recall_origin(self, t: PaperTrack, step: np.ndarray) -> bool:
        """Take as ``t``'s origin the box no track took on the frame with detections before its first
        box, where its first motion (``step``) says it was (least IoU ``RECALL_MIN_IOU``)."""
        if t.recall is None or not len(t.recall):
            return False
        expected = t.origin - np.tile(step * t.recall_back, 2)
        iou = iou_matrix(expected[None, :], t.recall)[0]
        best = int(np.argmax(iou))
        if iou[best] < RECALL_MIN_IOU:
            return False
        t.origin = np.asarray(t.recall[best], dtype=np.float64).copy()
        return True

    def _lead_origin(self, t: PaperTrack, step: np.ndarray) -> None:
        """Move ``t``'s origin back by ``t.lead`` frames of its first motion (``step``), unless the
        moved centre leaves the frame."""
        moved = t.origin - np.tile(step * t.lead, 2)
        if self._frame_size is None or _inside(moved, self._frame_size):
            t.origin = moved

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None, *, timestamp: float | None = None
    ) -> sv.Detections:
        """Track one frame.

        Args:
            detections: ``N`` rows, ``xyxy`` ``(N, 4)`` float, ``confidence`` ``(N,)`` (``None``: all 1);
                ``data["propagated"]`` (any length, even 0) marks a frame the detector did not run
                on (rows carried by a propagator).
            frame: ``(H, W, 3)`` image or ``None``; only its size is read (``lead_origins``).
            timestamp: the frame's time in seconds; the Kalman filters predict over the gap since the
                previous call (in frames at ``fps``). ``None``: one frame.

        Returns:
            The same rows (same order) with ``tracker_id`` ``(N,)`` int: the engine's ID for rows of
            confirmed tracks matched on this frame, ``-1`` otherwise; and ``data[ORIGIN_KEY]``
            ``(N, 4)`` float32: the box that started each such row's track (``NaN`` for ``-1`` rows and
            for tracks confirmed by their first box).
        """
        dt = self._step(timestamp)
        self.frame_id += 1
        self.clock = 0.0 if self.frame_id == 1 else self.clock + dt
        if frame is not None:
            self._frame_size = (int(frame.shape[1]), int(frame.shape[0]))
        lead = self._lead("propagated" not in detections.data, timestamp)
        n = len(detections)
        boxes = np.asarray(detections.xyxy, dtype=np.float64).reshape(-1, 4)
        scores = (np.ones(n) if detections.confidence is None
                  else np.asarray(detections.confidence, dtype=np.float64).reshape(-1))  # fmt: skip
        out_ids = np.full(n, -1, dtype=np.int64)
        carried = np.zeros(n, dtype=bool)
        if "propagated" in detections.data:  # rows a propagator carried over a frame without detection
            carried = np.asarray(detections.data["propagated"], dtype=bool).reshape(-1)
        owner: dict[int, PaperTrack] = {}

        confirmed = [t for t in self.tracks if t.confirmed]
        unconfirmed = [t for t in self.tracks if not t.confirmed]
        predicted = confirmed if self.separate_unconfirmed else confirmed + unconfirmed
        if self.gate_sigmas > 0 and self.separate_unconfirmed:
            predicted = confirmed + unconfirmed  # their uncertainty grows over the gap too
        predict_all([t.kf for t in predicted], [not t.tracked for t in predicted], dt)
        for t in predicted:
            t.box = t.kf.box()

        # A carried row of a confirmed track is that track's box moved: it goes back to that track;
        # a carried row of an unconfirmed track is offered to the unconfirmed tracks only.
        free = np.ones(n, dtype=bool)
        reserved = np.zeros(n, dtype=bool)
        taken: set[int] = set()
        if CARRIED_TRACK_KEY in detections.data:
            by_id = {t.tracker_id: t for t in confirmed}
            cid = np.asarray(detections.data[CARRIED_TRACK_KEY], dtype=np.int64).reshape(-1)
            pinned = [(by_id[c], i) for i, c in enumerate(cid.tolist()) if c >= 0 and c in by_id]
            self._hit([(t, boxes[i]) for t, i in pinned], [True] * len(pinned))
            owner.update({i: t for t, i in pinned})
            free[[i for _, i in pinned]] = False
            if self.separate_unconfirmed:  # (without the separate stage they join the one pool)
                reserved = free & (cid < 0)
            free &= cid < 0
            taken = {id(t) for t, _ in pinned}
            confirmed = [t for t in confirmed if id(t) not in taken]
        pool = confirmed if self.separate_unconfirmed else [t for t in self.tracks if id(t) not in taken]

        high = np.flatnonzero((scores > self.track_thresh) & free & ~reserved)
        low = np.flatnonzero((scores <= self.track_thresh) & free & ~reserved)

        # First association: high boxes, all confirmed tracks (tracked and lost).
        matches, u_track, u_high = self._associate(pool, boxes[high], scores[high], self.match_thresh, True)
        u_high_arr = np.asarray(u_high, dtype=np.int64)
        self._hit([(pool[r], boxes[high[c]]) for r, c in matches],
                  [bool(carried[high[c]]) for _, c in matches])  # fmt: skip
        owner.update({int(high[c]): pool[r] for r, c in matches})

        # Second association: low boxes, leftover tracks that were tracked (paper) or all leftovers.
        was_tracked = {id(t) for t in pool if t.tracked}
        rest = [pool[i] for i in u_track
                if (pool[i].confirmed or not self.separate_unconfirmed)
                and (self.second_stage_lost or id(pool[i]) in was_tracked)]  # fmt: skip
        cost = self._cost(rest, boxes[low], scores[low], fuse=False)
        matches, _, _ = assign(cost, self.second_match_thresh, self.assignment)
        self._hit([(rest[r], boxes[low[c]]) for r, c in matches])
        owner.update({int(low[c]): rest[r] for r, c in matches})
        matched_now = {id(t) for t in owner.values()}
        for t in pool:
            if id(t) not in matched_now and t.confirmed:
                t.tracked = False

        # Unconfirmed tracks: leftover high boxes.
        removed: set[int] = set()
        left_high = high[u_high_arr]
        if reserved.any():
            carried_high = np.flatnonzero(reserved & (scores > self.track_thresh))
            left_high = np.sort(np.concatenate([left_high, carried_high]))
        if self.separate_unconfirmed:
            matches, u_unc, u_left = self._associate(
                unconfirmed, boxes[left_high], scores[left_high], self.unconfirmed_match_thresh, True
            )
            self._hit([(unconfirmed[r], boxes[left_high[c]]) for r, c in matches],
                      [bool(carried[left_high[c]]) for _, c in matches])  # fmt: skip
            owner.update({int(left_high[c]): unconfirmed[r] for r, c in matches})
            removed |= {id(unconfirmed[i]) for i in u_unc}
            left_high = left_high[np.asarray(u_left, dtype=np.int64)]
        else:
            removed |= {id(t) for t in unconfirmed if id(t) not in matched_now}

        # New tracks.
        first = self.activate_first_frame and self.frame_id == 1
        born: set[int] = set()
        detected = "propagated" not in detections.data
        previous = self._leftover if detected and self.recall_origins else None
        for i in left_high.tolist():
            if scores[i] < self.det_thresh or (carried[i] and not self.carried_confirms):
                continue
            kf = _Kalman(self.kalman, boxes[i], self.motion_scale)
            at_once = first or self.min_hits <= 1  # confirmed where it starts: no earlier box to report
            t = PaperTrack(kf, start_frame=self.clock, end_frame=self.clock, lead=0.0 if at_once else lead,
                           origin=np.full(4, np.nan) if at_once else boxes[i].copy())  # fmt: skip
            t.box = t.kf.box()
            if previous is not None and not at_once:
                t.recall, t.recall_back = previous[0], self.clock - previous[1]
            if self.init_velocity:
                t.first_measure = kf.mean[:4].copy()
            if at_once:
                t.confirmed = True
                t.tracker_id = self._next_id
                self._next_id += 1
                owner[i] = t
            self.tracks.append(t)
            born.add(i)
        if detected and self.recall_origins:
            left = [i for i in range(n) if i not in owner and i not in born]
            self._leftover = (boxes[left].copy(), self.clock)

        # Lost-track removal and duplicates.
        size = self._frame_size if self.drop_exited else None
        for t in self.tracks:
            if not t.tracked and self.clock - t.end_frame > self.max_time_lost + 1e-6:
                removed.add(id(t))
            elif not t.tracked and size is not None and not _inside(t.box, size):
                removed.add(id(t))  # lost where it left the picture: it will not be seen again
        self.tracks = [t for t in self.tracks if id(t) not in removed]
        if self.remove_duplicates:
            self._remove_duplicates()

        alive = {id(t) for t in self.tracks}
        origins = np.full((n, 4), np.nan, dtype=np.float32)
        for row, t in owner.items():
            if t.confirmed and id(t) in alive:
                out_ids[row] = t.tracker_id
                origins[row] = t.origin
        data = dict(detections.data)
        data[ORIGIN_KEY] = origins
        return dataclasses.replace(detections, tracker_id=out_ids, data=data)

    def _remove_duplicates(self) -> None:
        tracked = [t for t in self.tracks if t.tracked]
        lost = [t for t in self.tracks if not t.tracked]
        if not tracked or not lost:
            return
        dist = 1.0 - iou_matrix(np.array([t.box for t in tracked]), np.array([t.box for t in lost]))
        drop: set[int] = set()
        for p, q in zip(*np.nonzero(dist < _DUPLICATE_IOU_DISTANCE), strict=True):
            a, b = tracked[int(p)], lost[int(q)]
            if a.end_frame - a.start_frame > b.end_frame - b.start_frame:
                drop.add(id(b))
            else:
                drop.add(id(a))
        self.tracks = [t for t in self.tracks if id(t) not in drop]
