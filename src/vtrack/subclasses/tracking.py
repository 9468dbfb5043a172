"""Detector + tracker over a source, frame by frame (for ``vtrack crops`` and the sub-class evaluation).

This is the plain detection → tracking loop without counters or exporters; runs that count go through
the pipeline, which calls :class:`vtrack.subclasses.stage.SubclassStage` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import supervision as sv

from vtrack.detectors.export import resolve_model
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.stream.base import Source
from vtrack.stream.sources import open_source
from vtrack.trackers import make_tracker
from vtrack.types import Frame


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
        detector = YoloOnnxDetector(resolve_model(self.model), conf=self.conf, intra_op_threads=self.threads)
        if self.classes:
            detector.classes = detector.class_ids_for_names(self.classes)
        src = open_source(self.source, stride=self.stride)
        tracker = make_tracker(self.tracker, fps=src.fps)

        def frames() -> Iterator[tuple[Frame, sv.Detections]]:
            for frame in src:
                yield frame, tracker.update(detector(frame.image), frame.image)

        return src, frames()
