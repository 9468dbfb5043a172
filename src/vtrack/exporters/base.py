"""The ``Exporter`` protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from vtrack.types import FrameResult


@runtime_checkable
class Exporter(Protocol):
    """Consumes results frame by frame; ``close()`` flushes and leaves a complete, valid file."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...
