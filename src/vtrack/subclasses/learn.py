"""``vtrack learn``: embed a folder of labelled crops into a :class:`SubclassModel`.

The folder holds one sub-folder per label (``DIR/cyclist/*.jpg``, ``DIR/pedestrian/*.jpg``); a folder
named ``unsorted`` (where ``vtrack crops`` writes) and hidden folders are not labels. The parent class
comes from ``--parent`` or from ``DIR/parent.txt`` (written by ``vtrack crops``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vtrack.errors import ConfigError
from vtrack.subclasses.embedder import CropEmbedder, describe
from vtrack.subclasses.model import DEFAULT_K, MIN_EXAMPLES, UNKNOWN, SubclassModel

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
UNSORTED = "unsorted"
"""Folder of crops not yet filed under a label."""
PARENT_FILE = "parent.txt"
THRESHOLD_QUANTILE = 0.95
"""The threshold is this quantile of the examples' leave-one-track-out nearest distances…"""
THRESHOLD_MARGIN = 1.5
"""…times this margin (a new track may look a little less like the examples than they look alike)."""
MAX_THRESHOLD = 0.6
"""Cosine distance cap on the learned threshold."""
MAX_COLOUR_WEIGHT = 10.0
"""Largest weight of the colour part (beyond it the shape would not count at all)."""
_TRACK_RE = re.compile(r"^(?P<group>.+_t\d+)_f\d+")  # vtrack crops names: <source>_t<track>_f<frame>_...


@dataclass(frozen=True)
class LearnReport:
    """What ``learn`` found: per-label counts, leave-one-track-out accuracy, the threshold."""

    counts: dict[str, int]
    accuracy: float
    per_label: dict[str, tuple[int, int]]
    threshold: float
    tracks: int


def read_parent(folder: Path, parent: str | None) -> str:
    """The parent class: ``parent`` if given, else the first line of ``folder/parent.txt``.

    Raises:
        ConfigError: neither is available.
    """
    if parent:
        return parent.strip()
    f = folder / PARENT_FILE
    if f.is_file():
        text = f.read_text(encoding="utf-8").strip().splitlines()
        if text and text[0].strip():
            return text[0].strip()
    raise ConfigError(f"{folder}: no parent class: pass --parent CLASS or write the class name in {f}")


def label_folders(folder: Path) -> dict[str, list[Path]]:
    """Every label folder of an examples folder (not hidden, not ``unsorted``), sorted, with its image
    files (sorted; possibly none). No checks: see :func:`labelled_files`."""
    return {
        sub.name: sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir())
        if not sub.name.startswith(".") and sub.name != UNSORTED
    }


def labelled_files(folder: Path) -> dict[str, list[Path]]:
    """Image files per label folder (sorted), checked for the rules of a teachable set.

    Raises:
        ConfigError: not a folder; no label folder with images; a label with fewer than 3 images;
            only one label; a label named ``unknown``.
    """
    if not folder.is_dir():
        raise ConfigError(f"examples folder not found: {folder}")
    files = {label: images for label, images in label_folders(folder).items() if images}
    if not files:
        loose = sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        raise ConfigError(
            f"{folder} has no label folders with images: expected {folder}/<label>/*.jpg"
            + (
                f" ({loose} image(s) found outside label folders: sort them into one folder per label)"
                if loose
                else ""
            )
        )
    if UNKNOWN in files:
        raise ConfigError(f"{folder}/{UNKNOWN}: 'unknown' is reserved for tracks far from every example")
    small = {k: len(v) for k, v in files.items() if len(v) < MIN_EXAMPLES}
    if small:
        detail = ", ".join(f"{k!r} has {n}" for k, n in small.items())
        raise ConfigError(f"{folder}: every label needs at least {MIN_EXAMPLES} example images: {detail}")
    if len(files) < 2:
        only = next(iter(files))
        raise ConfigError(
            f"{folder}: only one label ({only!r}); add a folder of examples of at least one other kind "
            f"(e.g. the same class without the feature) so there is something to tell apart"
        )
    return files


def _group_key(path: Path) -> str:
    m = _TRACK_RE.match(path.stem)
    return m.group("group") if m else f"{path.parent.name}/{path.name}"


def learn(
    folder: str | Path,
    embedder: CropEmbedder,
    *,
    parent: str | None = None,
    k: int = DEFAULT_K,
    threshold: float | None = None,
    colour_weight: float = 0.0,
) -> tuple[SubclassModel, LearnReport]:
    """Embed every labelled crop of ``folder``.

    Args:
        folder: the examples folder (see the module docstring).
        embedder: the crop embedder.
        parent: the class the labels refine (default: ``folder/parent.txt``).
        k: neighbours in the vote (``>= 1``).
        threshold: cosine distance beyond which a track is ``unknown`` (default: learned, see
            ``THRESHOLD_QUANTILE``).
        colour_weight: append the crops' colour with this weight (``0``: off; ``1`` for labels that
            differ by colour, see :func:`vtrack.subclasses.embedder.describe`).

    Returns:
        The model and a report.

    Raises:
        ConfigError: a bad folder (see :func:`labelled_files`), an unreadable image, a bad ``k`` or
            ``threshold``.
    """
    root = Path(folder)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if threshold is not None and not 0.0 < threshold <= 2.0:
        raise ConfigError(f"threshold must be a cosine distance in (0, 2], got {threshold}")
    if not 0.0 <= colour_weight <= MAX_COLOUR_WEIGHT:
        raise ConfigError(f"colour weight must be in [0, {MAX_COLOUR_WEIGHT:g}], got {colour_weight}")
    files = labelled_files(root)
    parent_name = read_parent(root, parent)
    names = sorted(files)
    paths = [p for n in names for p in files[n]]
    labels = np.array([i for i, n in enumerate(names) for _ in files[n]], dtype=np.int64)
    images = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            raise ConfigError(f"cannot read image {p}")
        images.append(img)
    keys = [f"{p.parent.name}/{_group_key(p)}" for p in paths]
    index: dict[str, int] = {}
    groups = np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)
    emb = describe(embedder, images, colour_weight)
    model = SubclassModel(
        parent=parent_name,
        label_names=names,
        embeddings=emb,
        labels=labels,
        groups=groups,
        embedder_sha256=embedder.sha256,
        k=k,
        files=[f"{p.parent.name}/{p.name}" for p in paths],
        colour_weight=colour_weight,
    )
    accuracy, per_label, nn = model.leave_one_out()
    if threshold is None:
        threshold = float(min(np.quantile(nn, THRESHOLD_QUANTILE) * THRESHOLD_MARGIN, MAX_THRESHOLD))
    model.threshold = threshold
    report = LearnReport(
        counts=model.label_counts(),
        accuracy=accuracy,
        per_label=per_label,
        threshold=threshold,
        tracks=len(index),
    )
    logger.info("learned %s from %d crops of %d tracks", names, len(paths), len(index))
    return model, report
