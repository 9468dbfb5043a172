"""The ``Detector`` protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv


@runtime_checkable
class Detector(Protocol):
    """Turns one BGR image into detections in that image's pixels.

    Attributes:
        class_names: class id → name, from the model's metadata.
        task: ``"detect"`` or ``"segment"``.
    """

    class_names: dict[int, str]
    task: str

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """Detect objects.

        Args:
            image: BGR, shape ``(H, W, 3)``, ``uint8``.

        Returns:
            Detections with ``xyxy`` (N, 4) float32 in image pixels, ``confidence`` (N,) float32,
            ``class_id`` (N,) int, ``data["class_name"]`` (N,) str, and ``mask`` (N, H, W) bool
            for segmenters.
        """
        ...

    def warmup(self) -> None: ...
