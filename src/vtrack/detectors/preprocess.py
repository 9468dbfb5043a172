"""Letterbox preprocessing: a BGR frame into the model's NCHW input tensor, and boxes back to the frame.

The geometry follows Ultralytics' ``LetterBox`` (scale to fit, keep the aspect ratio, pad with grey 114,
centre the image, round each side the same way) so that boxes agree with ``YOLO.predict`` on the same
ONNX file. For static-shape models the tensor is the model's fixed size (``auto=False``); for
dynamic-shape models the padding is the minimum that makes each side a multiple of the stride
(``auto=True``), as Ultralytics does for dynamic exports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

PAD_VALUE = 114
"""Grey level of the letterbox border, as in Ultralytics."""

_ROUND_BIAS = 0.1
"""Ultralytics puts an odd padding pixel bottom/right: ``round(d - 0.1)`` top, ``round(d + 0.1)`` bottom."""


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where a frame lands inside the letterboxed input tensor.

    Attributes:
        frame_h: Frame height in pixels.
        frame_w: Frame width in pixels.
        input_h: Tensor height (model input) in pixels.
        input_w: Tensor width (model input) in pixels.
        new_h: Height of the resized frame inside the tensor.
        new_w: Width of the resized frame inside the tensor.
        top: Rows of padding above the resized frame.
        left: Columns of padding left of the resized frame.
    """

    frame_h: int
    frame_w: int
    input_h: int
    input_w: int
    new_h: int
    new_w: int
    top: int
    left: int

    @property
    def gain_x(self) -> float:
        """Horizontal scale frame → tensor (``new_w / frame_w``, exact after rounding)."""
        return self.new_w / self.frame_w

    @property
    def gain_y(self) -> float:
        """Vertical scale frame → tensor (``new_h / frame_h``)."""
        return self.new_h / self.frame_h


def letterbox_geometry(
    frame_hw: tuple[int, int], target_hw: tuple[int, int], *, stride: int = 32, auto: bool = False
) -> LetterboxGeometry:
    """Compute the letterbox placement of a frame, with Ultralytics' rounding.

    Args:
        frame_hw: Frame ``(height, width)``.
        target_hw: Model input ``(height, width)``; with ``auto`` the largest size allowed.
        stride: Model stride; with ``auto`` both tensor sides become multiples of it.
        auto: Pad only to the next multiple of ``stride`` (dynamic-shape models) instead of to ``target_hw``.

    Returns:
        The geometry; ``input_h``/``input_w`` is the tensor size to feed.
    """
    h, w = frame_hw
    th, tw = target_hw
    r = min(th / h, tw / w)
    new_w = max(round(w * r), 1)
    new_h = max(round(h * r), 1)
    dw = tw - new_w
    dh = th - new_h
    if auto:
        dw %= stride
        dh %= stride
    top = round(dh / 2 - _ROUND_BIAS)
    bottom = round(dh / 2 + _ROUND_BIAS)
    left = round(dw / 2 - _ROUND_BIAS)
    right = round(dw / 2 + _ROUND_BIAS)
    return LetterboxGeometry(
        frame_h=h,
        frame_w=w,
        input_h=new_h + top + bottom,
        input_w=new_w + left + right,
        new_h=new_h,
        new_w=new_w,
        top=top,
        left=left,
    )


def boxes_to_frame(boxes: np.ndarray, geom: LetterboxGeometry) -> np.ndarray:
    """Map xyxy boxes from tensor pixels to frame pixels, in place, and clip them to the frame.

    Args:
        boxes: ``(N, 4)`` float32 xyxy in tensor pixels; modified in place.
        geom: The letterbox geometry the tensor was made with.

    Returns:
        ``boxes``, now ``(N, 4)`` float32 xyxy in frame pixels within ``[0, W] x [0, H]``.
    """
    boxes[:, 0::2] -= geom.left
    boxes[:, 1::2] -= geom.top
    boxes[:, 0::2] /= geom.gain_x
    boxes[:, 1::2] /= geom.gain_y
    np.clip(boxes[:, 0::2], 0, geom.frame_w, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, geom.frame_h, out=boxes[:, 1::2])
    return boxes


def boxes_to_input(boxes: np.ndarray, geom: LetterboxGeometry) -> np.ndarray:
    """Map xyxy boxes from frame pixels to tensor pixels (the inverse of :func:`boxes_to_frame`).

    Args:
        boxes: ``(N, 4)`` float xyxy in frame pixels.
        geom: The letterbox geometry.

    Returns:
        A new ``(N, 4)`` float32 array, xyxy in tensor pixels.
    """
    out = np.asarray(boxes, dtype=np.float32).copy()
    out[:, 0::2] = out[:, 0::2] * geom.gain_x + geom.left
    out[:, 1::2] = out[:, 1::2] * geom.gain_y + geom.top
    return out


class Letterboxer:
    """Turns BGR frames into a preallocated ``(1, 3, H, W)`` RGB tensor scaled to ``[0, 1]``.

    The tensor (and its grey border) is allocated once per frame size; each call does one resize and
    one strided write per channel into the tensor, with the BGR→RGB swap and the ``/255`` folded in.
    The returned tensor is reused by the next call: consume it before calling again.

    Args:
        target_hw: Model input ``(height, width)`` (the maximum with ``auto``).
        stride: Model stride.
        auto: Minimum stride-multiple padding (dynamic-shape models) instead of the full target size.
        dtype: Tensor dtype, ``np.float32`` or ``np.float16``.
    """

    def __init__(
        self,
        target_hw: tuple[int, int],
        *,
        stride: int = 32,
        auto: bool = False,
        dtype: type[np.floating] = np.float32,
    ) -> None:
        self.target_hw = target_hw
        self.stride = stride
        self.auto = auto
        self.dtype = np.dtype(dtype)
        self._scale = self.dtype.type(1.0 / 255.0)
        self._frame_hw: tuple[int, int] | None = None
        self._geom: LetterboxGeometry | None = None
        self._tensor: np.ndarray | None = None

    def geometry(self, frame_hw: tuple[int, int]) -> LetterboxGeometry:
        """The geometry for a frame size (cached for the last size seen)."""
        if frame_hw != self._frame_hw or self._geom is None:
            self._geom = letterbox_geometry(frame_hw, self.target_hw, stride=self.stride, auto=self.auto)
            self._frame_hw = frame_hw
            self._tensor = None
        return self._geom

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, LetterboxGeometry]:
        """Letterbox one frame into this letterboxer's own tensor (reused by the next call).

        Args:
            image: BGR ``(H, W, 3)`` uint8.

        Returns:
            ``(tensor, geometry)``: tensor ``(1, 3, input_h, input_w)`` of ``dtype``, RGB in ``[0, 1]``,
            border ``114/255``.

        Raises:
            ValueError: ``image`` is not an ``(H, W, 3)`` uint8 array.
        """
        geom = self._checked_geometry(image)
        if self._tensor is None:
            self._tensor = np.full((1, 3, geom.input_h, geom.input_w), PAD_VALUE / 255.0, dtype=self.dtype)
            logger.debug(
                "letterbox tensor %s for frames %sx%s", self._tensor.shape, geom.frame_w, geom.frame_h
            )
        self._paint(image, geom, self._tensor)
        return self._tensor, geom

    def into(self, image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, LetterboxGeometry]:
        """Letterbox one frame into ``out`` (several frames in flight, each in its own buffer).

        Args:
            image: BGR ``(H, W, 3)`` uint8.
            out: A tensor from an earlier call, reused (its border repainted) when it has the right
                shape and dtype; ``None`` or any other array: a new tensor is allocated.

        Returns:
            ``(tensor, geometry)`` as :meth:`__call__`; ``out`` itself when reusable.

        Raises:
            ValueError: ``image`` is not an ``(H, W, 3)`` uint8 array.
        """
        geom = self._checked_geometry(image)
        shape = (1, 3, geom.input_h, geom.input_w)
        pad = PAD_VALUE / 255.0
        rows = slice(geom.top, geom.top + geom.new_h)
        cols = slice(geom.left, geom.left + geom.new_w)
        if out is None or out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            out = np.full(shape, pad, dtype=self.dtype)
        else:  # the buffer may come from another geometry: repaint the border bands (cheap)
            out[:, :, : geom.top] = pad
            out[:, :, rows.stop :] = pad
            out[:, :, rows, : geom.left] = pad
            out[:, :, rows, cols.stop :] = pad
        self._paint(image, geom, out)
        return out, geom

    def _checked_geometry(self, image: np.ndarray) -> LetterboxGeometry:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", type(image).__name__)
            raise ValueError(f"expected a BGR image of shape (H, W, 3), got {shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
        return self.geometry((image.shape[0], image.shape[1]))

    def _paint(self, image: np.ndarray, geom: LetterboxGeometry, tensor: np.ndarray) -> None:
        """The resized frame into the tensor's picture area: BGR→RGB and ``/255`` in one write."""
        if (geom.new_h, geom.new_w) != (geom.frame_h, geom.frame_w):
            resized = cv2.resize(image, (geom.new_w, geom.new_h), interpolation=cv2.INTER_LINEAR)
        else:
            resized = image
        rows = slice(geom.top, geom.top + geom.new_h)
        cols = slice(geom.left, geom.left + geom.new_w)
        for c in range(3):  # tensor channel c (RGB) is image channel 2 - c (BGR)
            np.multiply(resized[:, :, 2 - c], self._scale, out=tensor[0, c, rows, cols], casting="unsafe")
