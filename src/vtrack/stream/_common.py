"""Shared plumbing of the file-based sources: argument checks, error bookkeeping, naming.

Private to ``vtrack.stream``; the public names live in :mod:`vtrack.stream.sources`.
"""

from __future__ import annotations

import glob
import logging
import math
import numbers
import os
import re
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final
from weakref import WeakSet

from vtrack.errors import ConfigError
from vtrack.types import Frame

DEFAULT_FPS: Final = 30.0
"""Frame rate assumed when neither the caller nor the media says one."""

MAX_ERRORS_KEPT: Final = 50
"""At most this many messages are kept in ``errors`` per pass (the counter keeps counting)."""

MOT_IMAGE_DIR: Final = "img1"
"""Image folder name of a MOTChallenge sequence; such a source is named after its parent."""


GLOB_CHARS: Final = frozenset("*?[")
"""A path holding one of these (and not existing as such) is taken as a glob pattern."""

_DIGITS: Final = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders digit runs by value: ``frame2`` before ``frame10``.

    Letters compare case-insensitively; names equal under that rule (``1.jpg``/``01.jpg``) fall back
    to plain string order, so the order is total and stable.
    """
    parts = _DIGITS.split(name)  # text, digits, text, digits, ..., text
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def is_glob(spec: str) -> bool:
    """Whether ``spec`` has glob characters (``*``, ``?``, ``[``)."""
    return bool(GLOB_CHARS & set(spec))


def glob_files(pattern: str) -> list[Path]:
    """Regular files matching a glob pattern (``~`` expanded, ``**`` recursive), in natural path order."""
    matches = (Path(m) for m in glob.glob(os.path.expanduser(pattern), recursive=True))
    return sorted((m for m in matches if m.is_file()), key=lambda p: natural_sort_key(str(p)))


def check_stride(stride: object) -> int:
    """Validate a frame stride.

    Args:
        stride: keep every ``stride``-th frame; must be an ``int`` >= 1.

    Returns:
        The stride as an ``int``.

    Raises:
        ConfigError: when ``stride`` is not an integer >= 1.
    """
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral) or stride < 1:
        raise ConfigError(f"stride must be an integer >= 1, got {stride!r}")
    return int(stride)


def check_fps(fps: object) -> float | None:
    """Validate an optional frame-rate override.

    Args:
        fps: frames per second, a finite number > 0, or ``None``.

    Returns:
        ``fps`` as a ``float``, or ``None``.

    Raises:
        ConfigError: when ``fps`` is not a finite positive number.
    """
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a number > 0, got {fps!r}")
    return float(fps)


def strided_count(count: int | None, stride: int) -> int | None:
    """Number of frames left of ``count`` after keeping indices ``0, stride, 2*stride, ...``."""
    return None if count is None else -(-count // stride)


def folder_source_name(folder: Path) -> str:
    """Name of an image folder source: the folder name, or the sequence name for a MOT ``img1`` folder.

    Args:
        folder: the folder holding the images.

    Returns:
        ``"TUD-Campus"`` for ``.../TUD-Campus/img1``, else the folder's own name.
    """
    folder = folder.resolve()
    if folder.name == MOT_IMAGE_DIR and folder.parent.name:
        return folder.parent.name
    return folder.name or str(folder)


class FramePass(Iterator[Frame]):
    """One pass over a source: an iterator of frames that another thread may close.

    A bare generator raises ``ValueError: generator already executing`` when one thread closes it
    while another is inside ``next()``; here a lock lets ``close`` wait for that step to finish.
    """

    def __init__(self, frames: Generator[Frame, None, None]) -> None:
        self._frames = frames
        self._lock = threading.Lock()

    def __iter__(self) -> FramePass:
        return self

    def __next__(self) -> Frame:
        with self._lock:
            return next(self._frames)

    def close(self) -> None:
        """End the pass and release what it holds (runs the generator's ``finally``)."""
        with self._lock:
            self._frames.close()


class FileSourceBase:
    """Common state of :class:`VideoFileSource` and :class:`ImageFolderSource`.

    Satisfies the attribute part of :class:`vtrack.stream.base.Source`; subclasses set the
    attributes in ``__init__`` and implement ``_frames``.

    Attributes:
        name: short source name, used as ``Frame.source_id``.
        path: the file or folder the frames come from.
        stride: every ``stride``-th frame is yielded.
        native_fps: frame rate of the media.
        fps: ``native_fps / stride``.
        width, height: frame size in pixels (of the first frame).
        frame_count: frames that one pass will yield, after stride; ``None`` when unknown.
        errors: messages about frames that could not be read during the last (or current) pass,
            at most :data:`MAX_ERRORS_KEPT`.
        decode_failures: number of frames/packets that failed during the last (or current) pass.
    """

    name: str
    path: Path
    stride: int
    native_fps: float
    fps: float
    width: int
    height: int
    frame_count: int | None

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.decode_failures = 0
        self._closed = False
        self._passes: WeakSet[FramePass] = WeakSet()

    def __iter__(self) -> FramePass:
        """Start a new pass over the frames (each call restarts from the first frame)."""
        frame_pass = FramePass(self._frames())
        self._passes.add(frame_pass)
        return frame_pass

    def _frames(self) -> Generator[Frame, None, None]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop every pass in progress and release its file. Idempotent; safe from any thread.

        A pass that is reading a frame on another thread right now finishes that frame first.
        Later ``next()`` calls on any pass end the iteration.
        """
        self._closed = True
        for frame_pass in list(self._passes):
            frame_pass.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> FileSourceBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, path={str(self.path)!r}, {self.width}x{self.height}, "
            f"fps={self.fps:g}, stride={self.stride}, frame_count={self.frame_count})"
        )

    def _reset_errors(self) -> None:
        self.errors = []
        self.decode_failures = 0

    def _record_error(self, message: str, *, failure: bool = True) -> None:
        """Count a failure (when ``failure``), keep its message (bounded) and log it as a warning."""
        if failure:
            self.decode_failures += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)
            logging.getLogger(type(self).__module__).warning("%s: %s", self.name, message)
        elif len(self.errors) == MAX_ERRORS_KEPT:
            self.errors.append(f"more errors not kept (limit {MAX_ERRORS_KEPT}); see decode_failures")
            logging.getLogger(type(self).__module__).warning(
                "%s: further read errors are counted but not logged", self.name
            )
