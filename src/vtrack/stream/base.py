"""The ``Source`` protocol: anything that yields frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from vtrack.types import Frame


@runtime_checkable
class Source(Protocol):
    """A finite or endless sequence of frames.

    Attributes:
        name: short name of the source (file stem, folder name, stream id).
        fps: effective frame rate of the yielded frames (the native rate divided by any stride).
        native_fps: frame rate of the underlying video or sequence.
        width, height: frame size in pixels.
        frame_count: number of frames that will be yielded, or ``None`` when unknown/endless.
    """

    name: str
    fps: float
    native_fps: float
    width: int
    height: int
    frame_count: int | None

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...
