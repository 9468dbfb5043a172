"""Per-stream output files of ``vtrack serve``, written by the existing file exporters.

A stream with ``outputs: true`` writes into ``<output_dir>/<stream id>/<segment>/``:

* ``events.jsonl``: one line per line crossing (appended to the file itself as it grows, flushed at
  least every second: a reader may follow it);
* ``counts.csv``: crossings per UTC hour × line × class × direction (rewritten atomically every
  :data:`CSV_CHECKPOINT_S` seconds and when the segment closes);
* with zones, ``zone_events.jsonl`` (entries and exits) and ``zones.csv`` (hourly zone figures, like
  ``counts.csv``).

A *segment* is one period of counting: it opens at the first frame the stream's worker processes
(folder named after that UTC time, e.g. ``20260501T080000Z``), is closed and a new one opened at
each UTC midnight, and closes when the worker stops (shutdown, removal, a failed source, the end of
a file). A restarted stream opens a new segment, so no file is ever truncated, and each segment
holds at most one day of hourly figures in memory. No annotated video is recorded.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timezone
from pathlib import Path

from vtrack.analytics.aggregate import UtcDays
from vtrack.errors import ExportError
from vtrack.exporters.base import Exporter
from vtrack.exporters.files import (
    CountsCsvExporter,
    EventsJsonlExporter,
    ZoneEventsJsonlExporter,
    ZonesCsvExporter,
)
from vtrack.types import FrameResult

log = logging.getLogger(__name__)

CSV_CHECKPOINT_S = 60.0
"""Seconds between atomic rewrites of a segment's hourly CSVs."""
MAX_SAME_SECOND = 100
"""Folder names tried for segments opened within one second (``NAME``, ``NAME-1``, …)."""


class StreamOutputs:
    """Writes one stream's output files in segment folders under ``root``; implements ``Exporter``.

    Call :meth:`write` after the counters for every processed frame (``result.time`` aware, UTC or
    not) and :meth:`close` when the worker stops.

    Args:
        root: the stream's folder (``<output_dir>/<stream id>``); created when the first segment opens.
        zones: the stream counts zones (``zone_events.jsonl`` and ``zones.csv`` are written).
        checkpoint_interval_s: seconds between atomic rewrites of the CSVs.

    Attributes:
        segment: the folder of the open segment (``None`` before the first frame and after close).
    """

    def __init__(
        self, root: Path, zones: bool = False, *, checkpoint_interval_s: float = CSV_CHECKPOINT_S
    ) -> None:
        self.root = Path(root)
        self.zones = zones
        self.checkpoint_interval_s = checkpoint_interval_s
        self.segment: Path | None = None
        self._days = UtcDays()
        self._exporters: list[Exporter] = []

    def write(self, result: FrameResult) -> None:
        """Write one frame's events (opening or rotating the segment first when needed).

        Raises:
            ExportError: a file cannot be created or written.
        """
        t = result.time if result.time is not None else datetime.now(timezone.utc)
        when = t.astimezone(timezone.utc)
        if self._days.turned(when) or self.segment is None:
            self._close_segment()
            try:
                self._open_segment(when)
            except BaseException:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    self._close_segment()
                raise
        for exporter in self._exporters:
            exporter.write(result)

    def _open_segment(self, when: datetime) -> None:
        stem = when.strftime("%Y%m%dT%H%M%SZ")
        folder = self.root / stem
        for n in range(1, MAX_SAME_SECOND):
            if not folder.exists():
                break
            folder = self.root / f"{stem}-{n}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the output folder {folder}: {e}") from e
        every = self.checkpoint_interval_s
        self._exporters = []  # each file joins as it opens: a failure closes those already open
        self._exporters.append(EventsJsonlExporter(folder / "events.jsonl", atomic=False))
        self._exporters.append(CountsCsvExporter(folder / "counts.csv", checkpoint_interval_s=every))
        if self.zones:
            self._exporters.append(ZoneEventsJsonlExporter(folder / "zone_events.jsonl", atomic=False))
            self._exporters.append(ZonesCsvExporter(folder / "zones.csv", checkpoint_interval_s=every))
        self.segment = folder
        log.info("writing outputs to %s", folder)

    def _close_segment(self) -> None:
        exporters, self._exporters = self._exporters, []
        self.segment = None
        errors = []
        for exporter in exporters:
            try:
                exporter.close()
            except Exception as e:  # close every file even when one fails
                errors.append(e)
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Close the open segment: JSONL flushed and fsynced, CSVs written (idempotent).

        Raises:
            ExportError: a file cannot be written (the others are closed all the same).
        """
        self._close_segment()
