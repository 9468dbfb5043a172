"""A learned set of sub-classes: the ``.vtc`` file and the k-NN vote over its examples.

A ``.vtc`` file is a NumPy ``.npz`` archive (no pickles) holding:

* ``embeddings``: ``(M, 1280)`` float16, L2-normalised embeddings of the labelled crops (``(M, 1286)``
  with colour, see ``colour_weight``);
* ``labels``: ``(M,)`` int32 index into the label names;
* ``groups``: ``(M,)`` int32, the crops' track (crops of one track share a group; used for the
  leave-one-track-out accuracy);
* ``meta``: a JSON string: ``format`` (``"vtrack-subclasses"``), ``version``, ``parent`` (the detector
  class it refines, e.g. ``"person"``), ``label_names``, ``embedder_sha256``, ``k``, ``threshold``
  (cosine distance beyond which a track is ``unknown``), ``files`` (crop file names), and from version 2
  ``colour_weight`` (the weight of the colour part, :func:`vtrack.subclasses.embedder.describe`; files
  without colour are still written as version 1, which older vtrack reads).
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vtrack.errors import ConfigError

logger = logging.getLogger(__name__)

FORMAT = "vtrack-subclasses"
VERSION = 1
COLOUR_VERSION = 2
"""Version of a file whose embeddings carry colour (older vtrack refuses it with one line)."""
UNKNOWN = "unknown"
"""Label of a track farther than the threshold from every example."""
DEFAULT_K = 5
"""Neighbours in the vote."""
MIN_EXAMPLES = 3
"""Fewest examples a label may have."""


@dataclass(frozen=True)
class Vote:
    """The outcome of one k-NN vote.

    Attributes:
        label: the winning label, or ``"unknown"`` beyond the threshold.
        distance: cosine distance from the query to the nearest example of the winning label.
        scores: label → summed similarity of its examples among the ``k`` nearest.
    """

    label: str
    distance: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class SubclassModel:
    """Labelled example embeddings of one parent class.

    Attributes:
        parent: the detector class these labels refine (e.g. ``"person"``).
        label_names: the labels, sorted.
        embeddings: ``(M, D)`` float32, unit rows.
        labels: ``(M,)`` int index into ``label_names``.
        groups: ``(M,)`` int, examples of one track share a group.
        embedder_sha256: hex SHA-256 of the embedder file that made the embeddings.
        k: neighbours in the vote.
        threshold: cosine distance beyond which the vote says ``"unknown"``.
        files: crop file names, one per example.
        colour_weight: weight of the colour part of the embeddings (``0``: none; see
            :func:`vtrack.subclasses.embedder.describe`).
    """

    parent: str
    label_names: list[str]
    embeddings: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    embedder_sha256: str
    k: int = DEFAULT_K
    threshold: float = 1.0
    files: list[str] = field(default_factory=list)
    colour_weight: float = 0.0

    # ------------------------------------------------------------------ vote
    def vote(self, query: np.ndarray, *, exclude: np.ndarray | None = None) -> Vote:
        """k-NN vote for one embedding.

        Each of the ``k`` nearest examples (cosine similarity) adds its similarity to its label; the
        label with the largest sum wins, and is ``"unknown"`` when its nearest example is farther than
        ``threshold``.

        Args:
            query: ``(D,)`` float32 unit embedding.
            exclude: ``(M,)`` bool, examples left out of the vote (leave-one-out).
        """
        sims = self.embeddings @ np.asarray(query, dtype=np.float32)
        if exclude is not None:
            sims = np.where(exclude, -np.inf, sims)
        n = int(np.isfinite(sims).sum())
        k = min(self.k, n)
        if k == 0:
            return Vote(UNKNOWN, 2.0)
        top = np.argpartition(-sims, k - 1)[:k]
        scores: dict[str, float] = {}
        best: dict[str, float] = {}
        for i in top.tolist():
            name = self.label_names[int(self.labels[i])]
            scores[name] = scores.get(name, 0.0) + float(sims[i])
            best[name] = max(best.get(name, -1.0), float(sims[i]))
        label = max(scores, key=lambda c: (scores[c], best[c]))
        distance = 1.0 - best[label]
        return Vote(UNKNOWN if distance > self.threshold else label, distance, scores)

    def leave_one_out(self) -> tuple[float, dict[str, tuple[int, int]], np.ndarray]:
        """Leave-one-track-out accuracy: each example voted on by the examples of other tracks.

        Returns:
            ``(accuracy, per_label, nn_distance)``: overall accuracy ignoring the threshold, per label
            ``(correct, total)``, and ``(M,)`` float the distance of each example to its nearest
            example of another track (any label).
        """
        per: dict[str, list[int]] = {n: [0, 0] for n in self.label_names}
        nn = np.zeros(len(self.labels), dtype=np.float64)
        saved = self.threshold
        self.threshold = 2.0
        try:
            for i in range(len(self.labels)):
                exclude = self.groups == self.groups[i]
                v = self.vote(self.embeddings[i], exclude=exclude)
                truth = self.label_names[int(self.labels[i])]
                per[truth][1] += 1
                per[truth][0] += int(v.label == truth)
                sims = np.where(exclude, -np.inf, self.embeddings @ self.embeddings[i])
                nn[i] = 1.0 - float(sims.max()) if np.isfinite(sims).any() else 2.0
        finally:
            self.threshold = saved
        correct = sum(c for c, _ in per.values())
        total = sum(t for _, t in per.values())
        return (correct / total if total else 0.0), {k: (c, t) for k, (c, t) in per.items()}, nn

    # ------------------------------------------------------------------ file
    def save(self, path: str | Path) -> Path:
        """Write the ``.vtc`` file (see the module docstring); returns its path."""
        p = Path(path)
        meta = {
            "format": FORMAT,
            "version": COLOUR_VERSION if self.colour_weight > 0 else VERSION,
            "parent": self.parent,
            "label_names": self.label_names,
            "embedder_sha256": self.embedder_sha256,
            "k": self.k,
            "threshold": self.threshold,
            "files": self.files,
        }
        if self.colour_weight > 0:
            meta["colour_weight"] = self.colour_weight
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as f:
            np.savez_compressed(
                f,
                embeddings=self.embeddings.astype(np.float16),
                labels=self.labels.astype(np.int32),
                groups=self.groups.astype(np.int32),
                meta=np.array(json.dumps(meta)),
            )
        return p

    @classmethod
    def load(cls, path: str | Path) -> SubclassModel:
        """Read a ``.vtc`` file.

        Raises:
            ConfigError: missing, not a ``.vtc`` file, or inconsistent.
        """
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"subclasses file not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                emb = np.asarray(z["embeddings"], dtype=np.float32)
                labels = np.asarray(z["labels"], dtype=np.int64)
                groups = np.asarray(z["groups"], dtype=np.int64)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise ConfigError(f"{p} is not a vtrack subclasses (.vtc) file: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ConfigError(f"{p} is not a vtrack subclasses (.vtc) file (format {meta.get('format')!r})")
        if meta.get("version") not in (VERSION, COLOUR_VERSION):
            raise ConfigError(
                f"{p}: .vtc version {meta.get('version')} is not supported (expected {VERSION} or "
                f"{COLOUR_VERSION})"
            )
        names = [str(n) for n in meta["label_names"]]
        if emb.ndim != 2 or len(emb) != len(labels) or len(groups) != len(labels) or not names:
            raise ConfigError(f"{p}: inconsistent .vtc file (embeddings {emb.shape}, labels {labels.shape})")
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise ConfigError(f"{p}: label index out of range for labels {names}")
        # float16 storage: re-normalise after widening.
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return cls(
            parent=str(meta["parent"]),
            label_names=names,
            embeddings=emb,
            labels=labels,
            groups=groups,
            embedder_sha256=str(meta["embedder_sha256"]),
            k=int(meta["k"]),
            threshold=float(meta["threshold"]),
            files=[str(f) for f in meta.get("files", [])],
            colour_weight=float(meta.get("colour_weight", 0.0)),
        )

    def label_counts(self) -> dict[str, int]:
        """Examples per label."""
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {n: int(c) for n, c in zip(self.label_names, counts.tolist(), strict=True)}

    def check_compatible(
        self, *, embedder_sha256: str, classes: set[str] | None = None, source: str = ""
    ) -> None:
        """Refuse a model made with another embedder, or for a parent class the detector does not give.

        Args:
            embedder_sha256: SHA-256 of the embedder in use.
            classes: the detector's class names (``None``: not checked).
            source: the ``.vtc`` path, for the message.

        Raises:
            ConfigError: the embedder differs or ``parent`` is not one of ``classes``.
        """
        if embedder_sha256 != self.embedder_sha256:
            raise ConfigError(
                f"{source or 'subclasses'} was learned with embedder sha256 {self.embedder_sha256[:12]}…, "
                f"the embedder given has {embedder_sha256[:12]}…: run `vtrack learn` again with this embedder"
            )
        if classes is not None and self.parent not in classes:
            raise ConfigError(
                f"{source or 'subclasses'} refines class {self.parent!r}, which this run does not detect "
                f"(classes: {', '.join(sorted(classes)[:8])}{'…' if len(classes) > 8 else ''})"
            )
