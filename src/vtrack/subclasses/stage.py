"""The sub-class stage: labels tracks of one parent class by a k-NN vote over a few of their crops.

It runs after tracking and before counting. For every confirmed track of the parent class it embeds a
crop at birth (the first frame the box is neither cut by the frame edge nor too small), then again
after ``spacing``, ``2·spacing``, ``4·spacing``… frames, up to ``views`` crops; the track's label is
the vote of the mean of its crop embeddings (see :meth:`SubclassModel.vote`). At most
``max_crops_per_frame`` crops are embedded per frame (new tracks first), so the cost per frame and
per track is bounded. The label may change with each new view until :meth:`SubclassStage.observe_crossing`
(the track crossed a line) fixes it; a track not seen for ``max_track_age_frames`` frames is dropped.

Rows of the parent class get ``data["class_name"] = "parent:label"`` (``"person:cyclist"``, or
``"person:unknown"`` before the first view or beyond the distance threshold); ``data["parent_class"]``
keeps the detector's class for every row, so parent totals stay computable.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from vtrack.errors import ConfigError
from vtrack.subclasses.embedder import DEFAULT_CONTEXT, CropEmbedder, crop, describe
from vtrack.subclasses.model import UNKNOWN, SubclassModel
from vtrack.subclasses.quality import MIN_SIDE_PX, is_cut

logger = logging.getLogger(__name__)

PARENT_KEY = "parent_class"
"""``Detections.data`` key holding the detector's class of each row."""
DEFAULT_VIEWS = 4
"""Crops embedded per track at most."""
DEFAULT_SPACING = 10
"""Frames between the first and the second view; each later gap doubles."""
DEFAULT_MAX_CROPS_PER_FRAME = 8
"""Crops embedded in one frame at most (one batch)."""
DEFAULT_MAX_TRACK_AGE_FRAMES = 300
"""A track unseen for this many frames is forgotten (as :class:`vtrack.analytics.lines.LineCounter`)."""
CUT_WAIT_FRAMES = 15
"""After this many frames without a clean view, a crop cut by the frame edge is taken anyway."""
RECENT_CROPS = 32
"""Recent crops kept for teaching from ``vtrack serve``'s page (bounded ring)."""
TEACH_SIDE_PX = 224
"""Kept crops are shrunk to this longest side."""


@dataclass(frozen=True, slots=True)
class TeachCrop:
    """A recent crop of a track, offered for teaching.

    Attributes:
        id: unique per stage.
        track_id: the track it was cut from.
        frame: the frame index.
        label: the track's label right after this crop was embedded.
        image: BGR ``(h, w, 3)`` uint8, longest side at most ``TEACH_SIDE_PX``.
    """

    id: int
    track_id: int
    frame: int
    label: str
    image: np.ndarray


def sublabel(parent: str, label: str) -> str:
    """``"person", "cyclist"`` → ``"person:cyclist"``."""
    return f"{parent}:{label}"


@dataclass(slots=True)
class _Track:
    first_seen: int
    last_seen: int
    next_due: int
    views: int = 0
    total: np.ndarray | None = None  # (D,) float32 sum of unit embeddings
    label: str = UNKNOWN
    distance: float = 2.0
    fixed: bool = False


class SubclassStage:
    """Rewrites the class of parent-class tracks to ``parent:label``.

    Args:
        model: the learned sub-classes.
        embedder: the crop embedder (its SHA-256 must match ``model``'s).
        views: crops per track at most (``>= 1``).
        spacing: frames between the first and second view (``>= 1``); later gaps double.
        max_crops_per_frame: crops embedded per frame at most (``>= 1``).
        max_track_age_frames: forget a track unseen this long (``>= 1``), in ``frame_index`` units.
        context: crop context, see :func:`vtrack.subclasses.embedder.context_box`.

    Attributes:
        seconds: wall time spent cropping and embedding, in seconds.
        cpu_seconds: CPU time of the calling thread spent on it (the embedder runs on that thread
            with its default of one ONNX Runtime thread), in seconds.
        crops: crops embedded.
        tracks_labelled: tracks that got at least one view.

    Not thread-safe: one stage per stream, on the pipeline thread.

    Raises:
        ConfigError: the model was learned with another embedder, or a bad parameter.
    """

    def __init__(
        self,
        model: SubclassModel,
        embedder: CropEmbedder,
        *,
        views: int = DEFAULT_VIEWS,
        spacing: int = DEFAULT_SPACING,
        max_crops_per_frame: int = DEFAULT_MAX_CROPS_PER_FRAME,
        max_track_age_frames: int = DEFAULT_MAX_TRACK_AGE_FRAMES,
        context: float = DEFAULT_CONTEXT,
        source: str = "",
    ) -> None:
        for name, value in (
            ("views", views),
            ("spacing", spacing),
            ("max_crops_per_frame", max_crops_per_frame),
            ("max_track_age_frames", max_track_age_frames),
        ):
            if value < 1:
                raise ConfigError(f"subclasses {name} must be >= 1, got {value}")
        model.check_compatible(embedder_sha256=embedder.sha256, source=source)
        self.model = model
        self.embedder = embedder
        self.parent = model.parent
        self.views = int(views)
        self.spacing = int(spacing)
        self.max_crops_per_frame = int(max_crops_per_frame)
        self.max_track_age_frames = int(max_track_age_frames)
        self.context = float(context)
        self._tracks: OrderedDict[int, _Track] = OrderedDict()
        self._recent: deque[TeachCrop] = deque(maxlen=RECENT_CROPS)
        self._recent_lock = threading.Lock()  # read by the HTTP thread, appended once per embedded batch
        self._crop_ids = itertools.count(1)
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.crops = 0
        self.tracks_labelled = 0

    # ------------------------------------------------------------------ the stage
    def apply(self, image: np.ndarray, tracked: sv.Detections, frame_index: int) -> sv.Detections:
        """Label the parent-class tracks of one frame.

        Args:
            image: the BGR frame ``(H, W, 3)`` uint8 the detections were made on.
            tracked: tracker output; ``xyxy`` ``(N, 4)``, ``tracker_id`` ``(N,)`` (``-1`` unconfirmed),
                ``data["class_name"]`` ``(N,)`` str.
            frame_index: index of the frame; must not decrease between calls.

        Returns:
            ``tracked`` with ``data["class_name"]`` rewritten for the confirmed parent-class rows and
            ``data[PARENT_KEY]`` holding the original class names (a shallow copy: the input's ``data``
            dict is left as it was).
        """
        if len(tracked) == 0 or tracked.tracker_id is None or "class_name" not in tracked.data:
            self._expire(frame_index)
            return tracked
        tracked = copy.copy(tracked)  # a new data dict: the tracker's (or a propagator's) rows stay as given
        tracked.data = dict(tracked.data)
        names = np.asarray(tracked.data["class_name"])
        tids = np.asarray(tracked.tracker_id, dtype=np.int64)
        rows = np.flatnonzero((names == self.parent) & (tids >= 0))
        if len(rows):
            self._update(image, tracked, rows, tids, frame_index)
            out = names.astype(object)
            for r in rows.tolist():
                out[r] = sublabel(self.parent, self._tracks[int(tids[r])].label)
            tracked.data[PARENT_KEY] = names
            tracked.data["class_name"] = np.array(out.tolist(), dtype=str)
        else:
            tracked.data[PARENT_KEY] = names
        self._expire(frame_index)
        return tracked

    def observe_crossing(self, track_id: int) -> None:
        """Fix the label of a track (it crossed a line: its count must not change class later)."""
        t = self._tracks.get(int(track_id))
        if t is not None:
            t.fixed = True

    def forget(self, track_id: int) -> None:
        """Drop a track's state (it left)."""
        self._tracks.pop(int(track_id), None)

    def recent_crops(self) -> list[TeachCrop]:
        """The last ``RECENT_CROPS`` crops embedded, oldest first (safe from another thread)."""
        with self._recent_lock:
            return list(self._recent)

    def set_model(self, model: SubclassModel) -> None:
        """Use a newly learned model from the next frame on (labels already fixed stay).

        Raises:
            ConfigError: another embedder or another parent class.
        """
        model.check_compatible(embedder_sha256=self.embedder.sha256)
        if model.parent != self.parent:
            raise ConfigError(
                f"the new model refines {model.parent!r}, this stream's refines {self.parent!r}"
            )
        self.model = model

    def label_of(self, track_id: int) -> str | None:
        """Current label of a track (``None`` when unknown to the stage)."""
        t = self._tracks.get(int(track_id))
        return None if t is None else t.label

    @property
    def active_tracks(self) -> int:
        """Tracks whose state is kept (bounded by ``max_track_age_frames``)."""
        return len(self._tracks)

    @property
    def ms_per_track(self) -> float:
        """Wall milliseconds of cropping and embedding per labelled track."""
        return 1000.0 * self.seconds / self.tracks_labelled if self.tracks_labelled else 0.0

    @property
    def cpu_ms_per_track(self) -> float:
        """CPU milliseconds of cropping and embedding per labelled track (less noisy on a busy machine)."""
        return 1000.0 * self.cpu_seconds / self.tracks_labelled if self.tracks_labelled else 0.0

    def reset(self) -> None:
        """Forget every track (e.g. on a new video)."""
        self._tracks.clear()

    # ------------------------------------------------------------------ internals
    def _update(
        self, image: np.ndarray, tracked: sv.Detections, rows: np.ndarray, tids: np.ndarray, frame_index: int
    ) -> None:
        h, w = image.shape[:2]
        xyxy = np.asarray(tracked.xyxy, dtype=np.float64)
        cut = is_cut(xyxy[rows], w, h)
        side = np.minimum(xyxy[rows, 2] - xyxy[rows, 0], xyxy[rows, 3] - xyxy[rows, 1])
        due: list[tuple[int, int, int]] = []  # (views so far, next_due, row)
        for k, r in enumerate(rows.tolist()):
            tid = int(tids[r])
            t = self._tracks.get(tid)
            if t is None:
                t = _Track(first_seen=frame_index, last_seen=frame_index, next_due=frame_index)
                self._tracks[tid] = t
            else:
                t.last_seen = frame_index
                self._tracks.move_to_end(tid)
            if t.fixed or t.views >= self.views or frame_index < t.next_due or side[k] < MIN_SIDE_PX:
                continue
            if cut[k] and frame_index - t.first_seen < CUT_WAIT_FRAMES:
                continue
            due.append((t.views, t.next_due, r))
        if not due:
            return
        due.sort()
        chosen = [r for _, _, r in due[: self.max_crops_per_frame]]
        start, cpu_start = time.perf_counter(), time.thread_time()
        crops = [crop(image, xyxy[r], self.context) for r in chosen]
        keep = [i for i, c in enumerate(crops) if c.shape[0] > 0 and c.shape[1] > 0]
        emb = describe(self.embedder, [crops[i] for i in keep], self.model.colour_weight)
        for j, i in enumerate(keep):
            t = self._tracks[int(tids[chosen[i]])]
            t.total = emb[j].copy() if t.total is None else t.total + emb[j]
            if t.views == 0:
                self.tracks_labelled += 1
            t.views += 1
            t.next_due = frame_index + self.spacing * (1 << (t.views - 1))
            mean = t.total / max(float(np.linalg.norm(t.total)), 1e-12)
            vote = self.model.vote(mean)
            t.label, t.distance = vote.label, vote.distance
            self._keep(int(tids[chosen[i]]), frame_index, t.label, crops[i])
        self.crops += len(keep)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.thread_time() - cpu_start

    def _keep(self, track_id: int, frame_index: int, label: str, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        scale = TEACH_SIDE_PX / max(h, w)
        small = (
            cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
            if scale < 1
            else image.copy()
        )
        with self._recent_lock:
            self._recent.append(TeachCrop(next(self._crop_ids), track_id, frame_index, label, small))

    def _expire(self, frame_index: int) -> None:
        while self._tracks:
            tid, t = next(iter(self._tracks.items()))
            if frame_index - t.last_seen < self.max_track_age_frames:
                break
            del self._tracks[tid]
