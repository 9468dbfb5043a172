"""Synthetic media for the source tests: videos and images whose frame number is written as a colour."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

STEP = 12  # colour step per frame number; far above codec error on flat colour
BASE = 8
PER_CHANNEL = 20  # frame numbers 0..399: blue = n % 20, green = n // 20


def colour_of(n: int) -> tuple[int, int, int]:
    """BGR colour that encodes frame number ``n``; red is left free for noise."""
    return BASE + STEP * (n % PER_CHANNEL), BASE + STEP * (n // PER_CHANNEL), 128


def number_of(image: np.ndarray) -> int:
    """Frame number encoded in a BGR ``uint8`` image of shape ``(H, W, 3)`` by :func:`colour_of`."""
    b = float(image[..., 0].mean())
    g = float(image[..., 1].mean())
    return round((b - BASE) / STEP) + PER_CHANNEL * round((g - BASE) / STEP)


def frame_image(n: int, width: int, height: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A ``(height, width, 3)`` ``uint8`` BGR frame of colour :func:`colour_of(n)`, red noisy when ``rng``."""
    image = np.empty((height, width, 3), np.uint8)
    image[...] = colour_of(n)
    if rng is not None:  # noise makes every frame cost bytes, so a cut file loses frames evenly
        image[..., 2] = rng.integers(0, 256, (height, width), dtype=np.uint8)
    return image


def write_video(
    path: Path,
    *,
    n: int = 30,
    fps: int = 25,
    codec: str = "libx264",
    size: tuple[int, int] = (96, 64),
    faststart: bool = True,
    container_format: str | None = None,
    pts_ms: Sequence[int] | None = None,
    metadata: dict[str, str] | None = None,
    noise: bool = True,
) -> Path:
    """Encode ``n`` frames (``colour_of(i)``) with PyAV.

    Args:
        path: output file; its suffix picks the container unless ``container_format``.
        n: frame count (ignored when ``pts_ms`` is given: one frame per entry).
        fps: nominal frame rate.
        codec: encoder (``libx264``, ``mpeg4``).
        size: ``(width, height)``.
        faststart: MP4 only: put the index (moov) at the front, so a cut file still opens.
        container_format: FFmpeg muxer name, e.g. ``"mpegts"``, ``"h264"``.
        pts_ms: explicit presentation times in milliseconds (variable frame rate).
        metadata: container tags, e.g. ``{"creation_time": ...}``.
        noise: random red channel.
    """
    width, height = size
    options = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    rng = np.random.default_rng(0) if noise else None
    times = list(pts_ms) if pts_ms is not None else None
    count = len(times) if times is not None else n
    with av.open(str(path), "w", format=container_format, options=options) as out:
        if metadata:
            out.metadata.update(metadata)
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        time_base = Fraction(1, 1000) if times is not None else Fraction(1, fps)
        stream.time_base = time_base
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height, rng), format="bgr24")
            frame.pts = times[i] if times is not None else i
            frame.time_base = time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_image(path: Path, n: int, size: tuple[int, int] = (32, 24)) -> Path:
    """Write a lossless image (by its suffix) of ``colour_of(n)``, ``size=(width, height)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), frame_image(n, *size)), path
    return path
