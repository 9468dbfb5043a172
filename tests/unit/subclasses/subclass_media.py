"""Synthetic crops of two kinds and example folders for the sub-class tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def stripes(seed: int, h: int = 120, w: int = 60) -> np.ndarray:
    """A textured crop: horizontal black/white stripes with a little noise (BGR uint8)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[(np.arange(h) // 6) % 2 == 0] = 255
    return np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)


def blob(seed: int, h: int = 120, w: int = 60) -> np.ndarray:
    """A smooth crop: a red disc on green with a little noise (BGR uint8)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 160, 40)
    cv2.circle(img, (w // 2, h // 2), min(h, w) // 3, (30, 30, 220), -1)
    return np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)


def write_examples(root: Path, counts: dict[str, int], parent: str | None = "person") -> Path:
    """``root/<label>/*.jpg`` with ``counts[label]`` crops each (``stripes`` for the first label, ``blob``
    for the others), and ``parent.txt`` when ``parent`` is given."""
    root.mkdir(parents=True, exist_ok=True)
    for i, (label, n) in enumerate(counts.items()):
        (root / label).mkdir(exist_ok=True)
        for j in range(n):
            img = stripes(j) if i == 0 else blob(100 * i + j)
            cv2.imwrite(str(root / label / f"clip_t{i * 100 + j:04d}_f00001_q50.jpg"), img)
    if parent:
        (root / "parent.txt").write_text(parent + "\n")
    return root
