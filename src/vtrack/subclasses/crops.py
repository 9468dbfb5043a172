"""``vtrack crops``: the few best crops of each track, to be sorted by hand into label folders.

Per track, :class:`CropCollector` keeps the ``per_track`` best crops by :func:`crop_quality` that are at
least ``min_gap`` frames apart (different views), and writes them when the track is done as
``<source>_t<track>_f<frame>_q<quality>.jpg`` into ``OUT/unsorted/`` (``OUT/<class>/unsorted/`` when
several classes are collected), with the class in ``parent.txt`` beside it for ``vtrack learn``.
A person then moves each file into ``OUT/<label>/``. Crops of one track share ``<source>_t<track>``,
which ``learn`` uses to leave a whole track out when it measures accuracy.

Each crop also gets a row in ``crops.csv`` beside ``parent.txt`` (appended, so several sources may
share one folder): the manifest columns of :mod:`vtrack.subclasses.examples` with the label
``unsorted`` — file, source (as given), frame index and the cut rectangle in source pixels. Once the
crops are sorted, ``python -m vtrack.subclasses.examples manifest OUT`` turns it into the
``manifest.csv`` of an example set that can be rebuilt from the footage without shipping pixels.
"""

from __future__ import annotations

import csv
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from vtrack.errors import ExportError
from vtrack.subclasses.embedder import DEFAULT_CONTEXT, context_box
from vtrack.subclasses.learn import PARENT_FILE, UNSORTED
from vtrack.subclasses.quality import crop_quality

logger = logging.getLogger(__name__)

DEFAULT_PER_TRACK = 3
"""Crops kept per track."""
DEFAULT_MIN_GAP = 10
"""Frames between two kept crops of one track."""
MIN_QUALITY = 0.05
"""Crops scoring below this are never kept."""
JPEG_QUALITY = 90
MAX_SIDE_PX = 224
"""Saved crops are shrunk to this longest side (the embedder's input size: it sees no more)."""
MAX_TRACK_AGE_FRAMES = 150
"""A track unseen this long is done: its crops are written and its state dropped."""
CROPS_FILE = "crops.csv"
"""Where each written crop was cut from (manifest columns, label ``unsorted``)."""
CROPS_COLUMNS = ("file", "label", "source", "frame", "x1", "y1", "x2", "y2")
"""Its columns: those of an example set's ``manifest.csv`` (:mod:`vtrack.subclasses.examples`)."""


@dataclass(slots=True)
class _Kept:
    frame: int
    quality: float
    image: np.ndarray  # (h, w, 3) uint8 BGR, a copy
    rect: tuple[int, int, int, int]  # the cut rectangle x1, y1, x2, y2 in source pixels


@dataclass(slots=True)
class _TrackCrops:
    class_name: str
    last_seen: int
    kept: list[_Kept] = field(default_factory=list)


class CropCollector:
    """Keeps the best crops of each track and writes them out when the track is done.

    Args:
        out_dir: the output folder.
        source_name: file-name prefix of the crops (the source's name).
        per_track: crops kept per track (``>= 1``).
        min_gap: frames between kept crops of one track.
        context: crop context (as the sub-class stage, so crops look like what it embeds).
        classes: the classes collected; more than one puts each in its own sub-folder.
        accept: called with a track id when the track is done; it is written only if this returns
            ``True`` (e.g. only tracks that crossed a line); ``None`` writes every track.
        source: the source as given (the ``source`` column of ``crops.csv``); default ``source_name``.

    Attributes:
        written: paths written so far.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        source_name: str,
        per_track: int = DEFAULT_PER_TRACK,
        min_gap: int = DEFAULT_MIN_GAP,
        context: float = DEFAULT_CONTEXT,
        classes: list[str],
        accept: Callable[[int], bool] | None = None,
        source: str | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.source_name = source_name
        self.source = source_name if source is None else str(source)
        self.per_track = max(1, int(per_track))
        self.min_gap = max(0, int(min_gap))
        self.context = context
        self.classes = list(classes)
        self.accept = accept
        self._tracks: OrderedDict[int, _TrackCrops] = OrderedDict()
        self.written: list[Path] = []
        try:
            for c in self.classes:
                folder = self._folder(c)
                (folder / UNSORTED).mkdir(parents=True, exist_ok=True)
                (folder / PARENT_FILE).write_text(c + "\n", encoding="utf-8")
        except OSError as e:
            raise ExportError(f"cannot write crops to {self.out_dir}: {e}") from e

    def _folder(self, class_name: str) -> Path:
        return self.out_dir if len(self.classes) == 1 else self.out_dir / class_name

    def update(self, image: np.ndarray, tracked: sv.Detections, frame_index: int) -> None:
        """Consider the confirmed rows of one frame.

        Args:
            image: BGR frame ``(H, W, 3)`` uint8.
            tracked: tracker output with ``tracker_id`` and ``data["class_name"]``.
            frame_index: index of the frame (not decreasing).
        """
        if len(tracked) and tracked.tracker_id is not None:
            h, w = image.shape[:2]
            names = tracked.data.get("class_name")
            conf = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
            for r, tid in enumerate(np.asarray(tracked.tracker_id).tolist()):
                cls = str(names[r]) if names is not None else ""
                if tid < 0 or cls not in self.classes:
                    continue
                self._offer(int(tid), cls, image, tracked.xyxy[r], float(conf[r]), w, h, frame_index)
        self._flush(lambda t: frame_index - t.last_seen >= MAX_TRACK_AGE_FRAMES)

    def close(self) -> list[Path]:
        """Write every remaining track; returns all paths written."""
        self._flush(lambda _t: True)
        return self.written

    def _offer(
        self, tid: int, cls: str, image: np.ndarray, xyxy: np.ndarray, conf: float, w: int, h: int, frame: int
    ) -> None:
        t = self._tracks.get(tid)
        if t is None:
            t = self._tracks[tid] = _TrackCrops(class_name=cls, last_seen=frame)
        else:
            t.last_seen = frame
            self._tracks.move_to_end(tid)
        rect = context_box(xyxy, w, h, self.context)
        c = image[rect[1] : rect[3], rect[0] : rect[2]]
        if c.size == 0:
            return
        q = crop_quality(c, xyxy, conf, w, h)
        if q < MIN_QUALITY:
            return
        near = [k for k in t.kept if abs(k.frame - frame) < self.min_gap]
        if near:
            if all(q > k.quality for k in near):
                t.kept = [k for k in t.kept if k not in near]
            else:
                return
        elif len(t.kept) >= self.per_track:
            worst = min(t.kept, key=lambda k: k.quality)
            if q <= worst.quality:
                return
            t.kept.remove(worst)
        t.kept.append(_Kept(frame, q, _shrink(c), rect))

    def _flush(self, done: Callable[[_TrackCrops], bool]) -> None:
        for tid in [tid for tid, t in self._tracks.items() if done(t)]:
            t = self._tracks.pop(tid)
            if not t.kept or (self.accept is not None and not self.accept(tid)):
                continue
            folder = self._folder(t.class_name)
            rows = []
            for k in sorted(t.kept, key=lambda k: k.frame):
                stem = f"{self.source_name}_t{tid:04d}_f{k.frame:05d}_q{round(100 * k.quality):02d}"
                path = folder / UNSORTED / f"{stem}.jpg"
                ok = cv2.imwrite(str(path), k.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    raise ExportError(f"cannot write crop {path}")
                self.written.append(path)
                rows.append((stem, UNSORTED, self.source, k.frame, *k.rect))
            _append_rows(folder / CROPS_FILE, rows)


def _append_rows(path: Path, rows: Sequence[tuple[object, ...]]) -> None:
    """Append ``rows`` to ``crops.csv`` (with the header when the file is new)."""
    try:
        new = not path.is_file() or path.stat().st_size == 0
        with path.open("a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(CROPS_COLUMNS)
            writer.writerows(rows)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e}") from e


def _shrink(image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` ``(h, w, 3)`` with its longest side at most ``MAX_SIDE_PX``."""
    h, w = image.shape[:2]
    scale = MAX_SIDE_PX / max(h, w)
    if scale >= 1:
        return image.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
