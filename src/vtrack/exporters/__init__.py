"""Exporters: annotated video, event/count/track files and the run summary.

All drawing in vtrack lives here (:mod:`vtrack.exporters.annotate`).
"""

from vtrack.exporters._io import ExportError
from vtrack.exporters.annotate import CountsTable, FrameAnnotator, track_color
from vtrack.exporters.base import Exporter
from vtrack.exporters.files import CountsCsvExporter, EventsJsonlExporter, MotTracksExporter, write_summary
from vtrack.exporters.video import AnnotatedVideoExporter, VideoWriter, frame_rate_fraction

__all__ = [
    "AnnotatedVideoExporter",
    "CountsCsvExporter",
    "CountsTable",
    "EventsJsonlExporter",
    "ExportError",
    "Exporter",
    "FrameAnnotator",
    "MotTracksExporter",
    "VideoWriter",
    "frame_rate_fraction",
    "track_color",
    "write_summary",
]
