"""Open a sub-class stage from a ``.vtc`` file (what ``--subclasses FILE`` does)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vtrack.errors import ConfigError
from vtrack.subclasses.embedder import CropEmbedder, resolve_embedder
from vtrack.subclasses.model import UNKNOWN, SubclassModel
from vtrack.subclasses.stage import SubclassStage


def open_stage(
    vtc: str | Path,
    *,
    embedder: str | Path | None = None,
    detector_classes: set[str] | None = None,
    kept_classes: list[str] | None = None,
    **stage_kwargs: object,
) -> SubclassStage:
    """Load a ``.vtc`` file and its embedder into a :class:`SubclassStage`.

    Args:
        vtc: the ``.vtc`` file.
        embedder: the embedder ``.onnx`` (default: :func:`vtrack.subclasses.embedder.default_embedder_path`).
        detector_classes: every class the detector can give (checks the parent class).
        kept_classes: the run's class filter (``--classes``), parents or ``parent:label`` names; the
            parent must be among them when given.
        **stage_kwargs: passed to :class:`SubclassStage`.

    Raises:
        ConfigError: bad file, another embedder, a parent class the run does not detect.
        ModelError: the embedder is missing or not an embedder.
    """
    model = SubclassModel.load(vtc)
    emb = CropEmbedder(resolve_embedder(embedder))
    model.check_compatible(embedder_sha256=emb.sha256, classes=detector_classes, source=str(vtc))
    if kept_classes is not None:
        parents = {c.split(":", 1)[0] for c in kept_classes}
        if model.parent not in parents:
            raise ConfigError(
                f"{vtc} refines class {model.parent!r}, which --classes {','.join(kept_classes)} leaves out"
            )
    return SubclassStage(model, emb, source=str(vtc), **stage_kwargs)  # type: ignore[arg-type]


def detector_classes(classes: list[str] | None, *, subclasses: bool) -> list[str] | None:
    """The detector's class names for a ``--classes`` list that may name sub-classes.

    ``["person:cyclist", "bicycle"]`` → ``["person", "bicycle"]`` (order kept, duplicates dropped).

    Raises:
        ConfigError: a ``CLASS:LABEL`` name without ``--subclasses``.
    """
    if classes is None:
        return None
    subs = [c for c in classes if ":" in c]
    if subs and not subclasses:
        raise ConfigError(
            f"class {subs[0]!r} is a sub-class: pass --subclasses FILE.vtc (made with `vtrack learn`)"
        )
    return list(dict.fromkeys(c.split(":", 1)[0] for c in classes))


def counted_classes(
    classes: list[str] | None, stage: SubclassStage | None, canonical: list[str] | None = None
) -> list[str] | None:
    """The class names the counters accept.

    With a stage, a parent named in ``classes`` stands for all its labels (``person`` →
    ``person:cyclist``, ``person:pedestrian``, ``person:unknown``) and a ``CLASS:LABEL`` name for
    itself.

    Args:
        classes: the ``--classes`` names (parents or ``CLASS:LABEL``), ``None`` for all.
        stage: the sub-class stage, or ``None``.
        canonical: the model's spelling of ``detector_classes(classes)``, in that order (default: as given).
    """
    if classes is None:
        return None
    parents = detector_classes(classes, subclasses=True) or []
    spell = dict(zip(parents, canonical or parents, strict=True))
    out: list[str] = []
    for c in classes:
        parent, sep, label = c.partition(":")
        name = spell.get(parent, parent)
        if sep:
            out.append(f"{name}:{label}")
        elif stage is not None and name == stage.parent:
            out.extend(f"{name}:{n}" for n in [*stage.model.label_names, UNKNOWN])
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def subclass_summary(
    vtc: str | Path, stage: SubclassStage, lines: dict[str, dict[str, dict[str, int]]]
) -> dict[str, object]:
    """The ``subclasses`` record of ``summary.json``: the model, its cost, and the parent totals.

    Args:
        vtc: the ``.vtc`` file.
        stage: the stage after the run.
        lines: ``summary["lines"]``: ``{line: {class: {"in": n, "out": n}}}``.

    Returns:
        ``file``, ``parent``, ``labels``, ``tracks_labelled``, ``crops``, ``ms_per_track``,
        ``cpu_ms_per_track`` and
        ``parent_totals`` ``{line: {"in": n, "out": n}}`` (the parent class counted whatever its label).
        The parent's all-zero rows are dropped from ``lines`` (its tracks are counted under its labels).
    """
    prefix = f"{stage.parent}:"
    for per in lines.values():  # the parent's zero row (listed from --classes) would read "no person"
        if per.get(stage.parent) == {"in": 0, "out": 0}:
            del per[stage.parent]
    totals = {
        line: {
            d: sum(c[d] for cls, c in per.items() if cls == stage.parent or cls.startswith(prefix))
            for d in ("in", "out")
        }
        for line, per in lines.items()
    }
    return {
        "file": str(vtc),
        "parent": stage.parent,
        "labels": [f"{prefix}{n}" for n in [*stage.model.label_names, UNKNOWN]],
        "tracks_labelled": stage.tracks_labelled,
        "crops": stage.crops,
        "ms_per_track": round(stage.ms_per_track, 2),
        "cpu_ms_per_track": round(stage.cpu_ms_per_track, 2),
        "parent_totals": totals,
    }


def label_tracks(
    per_frame: list[sv.Detections],
    images: list[np.ndarray],
    stage: SubclassStage,
    *,
    tracker: str,
    fps: float,
    lost_track_seconds: float,
    tracker_params: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Tracks per final label of one sequence (``vtrack eval --subclasses``).

    Runs a fresh tracker (the same settings as the scored run, so the same tracks) and the stage over
    the sequence, and counts each track under the class it had when last seen.

    Args:
        per_frame: detections of frames ``1..N``.
        images: the BGR frames ``(H, W, 3)`` uint8, one per detections entry.
        stage: the sub-class stage (reset first).
        tracker: tracker name.
        fps: frame rate reaching the tracker.
        lost_track_seconds: lost-track buffer.
        tracker_params: extra tracker keyword arguments.

    Returns:
        ``{class: number of tracks}``, e.g. ``{"person:pedestrian": 7}``.
    """
    from vtrack.trackers import make_tracker

    stage.reset()
    trk = make_tracker(tracker, fps=fps, lost_track_seconds=lost_track_seconds, **(tracker_params or {}))
    last: dict[int, str] = {}
    for k, (det, img) in enumerate(zip(per_frame, images, strict=True)):
        out = stage.apply(img, trk.update(det, img), k)
        if len(out) and out.tracker_id is not None and "class_name" in out.data:
            names = np.asarray(out.data["class_name"]).tolist()
            for tid, name in zip(out.tracker_id.tolist(), names, strict=True):
                if tid > 0:
                    last[int(tid)] = str(name)
    return dict(sorted(Counter(last.values()).items()))
