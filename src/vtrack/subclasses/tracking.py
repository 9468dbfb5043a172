"""Detector + tracker over a source, frame by frame (for ``vtrack crops`` and the sub-class evaluation).

The detector comes from the composition (:func:`vtrack.pipeline.compose.load_detector`: the
configured backend) and tracking from the frame step without counters; runs that count go through the
pipeline, which calls :class:`vtrack.subclasses.stage.SubclassStage` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import supervision as sv

from vtrack.config import ModelConfig, TrackerConfig
from vtrack.pipeline.compose import build_tracker, canonical_classes, load_detector
from vtrack.pipeline.step import FrameStep
from vtrack.stream.base import Source
from vtrack.stream.sources import open_source
from vtrack.types import Frame

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class TrackedSource:
    """A source with its detector and tracker, iterated as ``(frame, tracked detections)``.

    Args:
        source: video file, image folder or glob (see :func:`vtrack.stream.sources.open_source`).
        model: detector (``.onnx``, ``.pt`` or a name).
        classes: class names to detect (``None``: all).
        conf: detector confidence threshold.
        tracker: tracker name (see :func:`vtrack.trackers.make_tracker`).
        stride: process every ``stride``-th frame.
        threads: ONNX Runtime threads of the detector (``None``: its default).

    Raises:
        VtrackError: a bad source, model or class name (one-line message).
    """

    source: str
    model: str
    classes: list[str] | None = None
    conf: float = 0.25
    tracker: str = "bytetrack"
    stride: int = 1
    threads: int | None = None

    def open(self) -> tuple[Source, Iterator[tuple[Frame, sv.Detections]]]:
        """Open everything; returns the source and the iterator (close the source when done)."""
        detector = load_detector(
            ModelConfig(path=self.model, conf=self.conf, threads=self.threads), classes=self.classes
        )
        src = open_source(self.source, stride=self.stride)
        step = FrameStep(
            build_tracker(TrackerConfig(type=self.tracker), fps=src.fps),
            classes=canonical_classes(detector, self.classes),
        )

        def frames() -> Iterator[tuple[Frame, sv.Detections]]:
            for frame in src:
                result = step(frame, detector(frame.image), time=_EPOCH + timedelta(seconds=frame.pts))
                yield frame, result.detections

        return src, frames()
