"""How good a crop of a tracked object is for teaching and labelling: sharp, large, not cut by the frame.

The score is in ``[0, 1]``: the product of a size term (box height relative to ``FULL_SIZE_PX``,
capped at 1), a sharpness term (variance of the Laplacian of the grey crop resized to a fixed height,
relative to ``FULL_SHARPNESS``, capped at 1) and the detector's confidence. A box that touches the
frame edge (within ``EDGE_MARGIN_PX``) is cut and scores 0, as does a box smaller than ``MIN_SIDE_PX``.
"""

from __future__ import annotations

import cv2
import numpy as np

EDGE_MARGIN_PX = 2.0
"""A box this close to a frame edge is taken as cut by it."""
MIN_SIDE_PX = 24.0
"""Boxes with a side shorter than this are too small to embed."""
FULL_SIZE_PX = 160.0
"""Box height (longer side) from which size no longer raises the score."""
FULL_SHARPNESS = 300.0
"""Variance of the Laplacian (at ``SHARPNESS_HEIGHT``) from which sharpness no longer raises the score."""
SHARPNESS_HEIGHT = 128
"""Crops are resized to this height before measuring sharpness, so the measure does not depend on size."""


def is_cut(xyxy: np.ndarray, width: int, height: int, margin: float = EDGE_MARGIN_PX) -> np.ndarray:
    """Which boxes touch the frame edge.

    Args:
        xyxy: ``(N, 4)`` float boxes in pixels.
        width: frame width.
        height: frame height.
        margin: pixels from the edge that still count as touching it.

    Returns:
        ``(N,)`` bool.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return (
        (b[:, 0] <= margin) | (b[:, 1] <= margin) | (b[:, 2] >= width - margin) | (b[:, 3] >= height - margin)
    )


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of a crop resized to ``SHARPNESS_HEIGHT`` rows (0 for an empty crop).

    Args:
        crop_bgr: ``(h, w, 3)`` uint8.
    """
    h, w = crop_bgr.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    nw = max(2, round(w * SHARPNESS_HEIGHT / h))
    grey = cv2.resize(grey, (nw, SHARPNESS_HEIGHT), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def size_scores(xyxy: np.ndarray) -> np.ndarray:
    """Size term of boxes: longer side / ``FULL_SIZE_PX`` capped at 1, 0 below ``MIN_SIDE_PX``.

    Args:
        xyxy: ``(N, 4)`` float boxes.

    Returns:
        ``(N,)`` float64 in ``[0, 1]``.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    s = np.minimum(np.maximum(w, h) / FULL_SIZE_PX, 1.0)
    return np.where(np.minimum(w, h) < MIN_SIDE_PX, 0.0, s)


def crop_quality(crop_bgr: np.ndarray, xyxy: np.ndarray, confidence: float, width: int, height: int) -> float:
    """Quality of one crop in ``[0, 1]`` (see the module docstring).

    Args:
        crop_bgr: ``(h, w, 3)`` uint8 crop of the box.
        xyxy: ``(4,)`` box in frame pixels.
        confidence: detector confidence in ``[0, 1]``.
        width: frame width.
        height: frame height.
    """
    box = np.asarray(xyxy, dtype=np.float64).reshape(1, 4)
    if bool(is_cut(box, width, height)[0]):
        return 0.0
    size = float(size_scores(box)[0])
    if size == 0.0:
        return 0.0
    sharp = min(sharpness(crop_bgr) / FULL_SHARPNESS, 1.0)
    return size * sharp * float(np.clip(confidence, 0.0, 1.0))
