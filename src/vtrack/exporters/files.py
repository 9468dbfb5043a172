"""File exporters: crossing and zone events (JSONL), hourly count and zone CSVs, MOT tracks, run summary.

Durability: streamed files (JSONL, MOT) are appended line by line and flushed to the OS at least
every ``flush_interval_s`` while frames keep coming, and at ``close()`` (with ``fsync``), so an
interrupted run loses at most the last second. By default they are written as ``<name>.part`` and
renamed to ``<name>`` by a successful ``close()`` (an earlier file of that name is removed when they
open): a full disk or a killed run never leaves a file cut mid-line under its final name
(``atomic=False`` appends to ``<name>`` itself, for files read while they grow). Whole-file outputs
(CSV, summary) are written atomically (temporary file + ``os.replace``): readers never see a
half-written file. Every file gets the mode ``0666`` less the umask.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.analytics.zones import ZoneHourly
from vtrack.exporters._io import ExportError, atomic_write_text, prepare_path
from vtrack.types import CrossingEvent, FrameResult, ZoneEvent

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL_S = 1.0
PART_SUFFIX = ".part"
"""Suffix of a streamed file while it is written (renamed without it at close)."""
DEFAULT_CSV_CHECKPOINT_S = 60.0
COUNTS_CSV_HEADER = ("hour_start", "line", "class", "direction", "count")
MOT_UNUSED = "-1,-1,-1"
"""The 3D world coordinates columns of MOTChallenge tracker output, unused in 2D."""


class _LineFile:
    """A text file written line by line, flushed every ``flush_interval_s`` and at close.

    With ``atomic``, the lines go to ``<path>.part``, renamed to ``path`` at a successful close (a
    failed one keeps the ``.part``); an older ``path`` is removed at open.
    """

    def __init__(
        self, path: str | os.PathLike[str], flush_interval_s: float, what: str, *, atomic: bool = True
    ) -> None:
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        self.path = prepare_path(path)
        self.what = what
        self.flush_interval_s = flush_interval_s
        self.atomic = atomic
        self.part = self.path.with_name(self.path.name + PART_SUFFIX) if atomic else self.path
        try:
            if atomic:
                self.path.unlink(missing_ok=True)  # never an earlier run's file beside this run's
            self._file: IO[str] | None = open(self.part, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise ExportError(f"cannot open {what} file {self.path}: {_os_error(e)}") from e
        self._dirty = False
        self._last_flush = time.monotonic()

    @property
    def closed(self) -> bool:
        return self._file is None

    def write_lines(self, lines: list[str]) -> None:
        if self._file is None:
            raise ExportError(f"{self.what} exporter for {self.path} is closed; cannot write more")
        try:
            if lines:
                self._file.write("".join(lines))
                self._dirty = True
            if self._dirty and time.monotonic() - self._last_flush >= self.flush_interval_s:
                self._file.flush()
                self._dirty = False
                self._last_flush = time.monotonic()
        except OSError as e:
            raise ExportError(f"cannot write {self.what} file {self.path}: {_os_error(e)}") from e

    def close(self) -> None:
        """Flush, fsync and close; rename ``.part`` to the final name (idempotent).

        Raises:
            ExportError: the file cannot be written (the ``.part`` is kept, the final name not made).
        """
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            try:
                f.flush()
                os.fsync(f.fileno())
            finally:
                f.close()
            if self.atomic:
                os.replace(self.part, self.path)
        except OSError as e:
            raise ExportError(f"cannot write {self.what} file {self.path}: {_os_error(e)}") from e


def _os_error(e: OSError) -> str:
    """An OS error in a few words (``No space left on device``), without the path we already name."""
    return e.strerror or str(e)


class _JsonLinesExporter:
    """One JSON object per event per line; subclasses say which events of a frame (:meth:`_events`)."""

    _what = "events"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        atomic: bool = True,
    ) -> None:
        self._out = _LineFile(path, flush_interval_s, self._what, atomic=atomic)
        self.events_written = 0

    @property
    def path(self) -> Path:
        return self._out.path

    def _events(self, result: FrameResult) -> Sequence[CrossingEvent | ZoneEvent]:
        raise NotImplementedError

    def write(self, result: FrameResult) -> None:
        """Append the events of one frame.

        Raises:
            ExportError: if the exporter is closed or the file cannot be written.
        """
        lines = [json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in self._events(result)]
        self._out.write_lines(lines)
        self.events_written += len(lines)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        self._out.close()


class EventsJsonlExporter(_JsonLinesExporter):
    """Writes one JSON object per :class:`~vtrack.types.CrossingEvent` per line (``event.to_json()``).

    Args:
        path: output ``.jsonl`` (truncated when opened; parent folders created).
        flush_interval_s: buffered lines reach the OS at most this long after they were written,
            checked on every ``write`` (also frames without events); 0 flushes every frame.
        atomic: write ``<path>.part`` and rename it to ``path`` at close (``False``: append to
            ``path`` as it grows, for a file read while it is written).
    """

    def _events(self, result: FrameResult) -> Sequence[CrossingEvent]:
        return result.events


class _CheckpointedCsv:
    """A CSV rewritten atomically at ``close()`` and every ``checkpoint_interval_s`` of wall time.

    Subclasses provide ``render()`` (the whole file's text) and call :meth:`_check_open` and
    :meth:`_maybe_checkpoint` from ``write``.
    """

    def __init__(self, path: str | os.PathLike[str], what: str, checkpoint_interval_s: float | None) -> None:
        self.path = prepare_path(path)
        self.what = what
        self.checkpoint_interval_s = checkpoint_interval_s
        self._last_checkpoint = time.monotonic()
        self._closed = False

    def render(self) -> str:
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise ExportError(f"{self.what} exporter for {self.path} is closed; cannot write more")

    def _maybe_checkpoint(self) -> None:
        interval = self.checkpoint_interval_s
        if interval is not None and time.monotonic() - self._last_checkpoint >= interval:
            self._write_file()

    def _write_file(self) -> None:
        atomic_write_text(self.path, self.render())
        self._last_checkpoint = time.monotonic()

    def _log_suffix(self) -> str:
        return ""

    def close(self) -> None:
        """Write the final CSV atomically (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._write_file()
        logger.info("wrote %s%s", self.path, self._log_suffix())


class CountsCsvExporter(_CheckpointedCsv):
    """Writes hourly counts as CSV: ``hour_start,line,class,direction,count``.

    One row per non-zero (hour × line × class × direction) of :class:`HourlyCounts`, sorted;
    ``hour_start`` is ISO 8601 with the events' UTC offset (e.g. ``2024-05-01T13:00:00+02:00``).
    The file is rewritten atomically at ``close()`` and every ``checkpoint_interval_s`` of wall
    time while frames come, so an interrupted run leaves a complete CSV of recent counts.

    Args:
        path: output ``.csv``.
        counts: an existing aggregation to export (it is fed by this exporter's ``write`` too,
            unless ``feed=False``); a new one by default.
        feed: add each result's events to ``counts``; set ``False`` when another stage already
            adds them to the shared ``counts``.
        checkpoint_interval_s: seconds between atomic rewrites; ``None`` writes only at close.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        counts: HourlyCounts | None = None,
        feed: bool = True,
        checkpoint_interval_s: float | None = DEFAULT_CSV_CHECKPOINT_S,
    ) -> None:
        super().__init__(path, "counts CSV", checkpoint_interval_s)
        self.counts = counts if counts is not None else HourlyCounts()
        self.feed = feed

    def write(self, result: FrameResult) -> None:
        """Count the events of one frame.

        Raises:
            ExportError: if the exporter is closed or a checkpoint cannot be written.
        """
        self._check_open()
        if self.feed:
            for event in result.events:
                self.counts.add(event)
        self._maybe_checkpoint()

    def render(self) -> str:
        """The CSV text for the current counts (header + one row per ``HourlyCounts.rows()``)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COUNTS_CSV_HEADER)
        for hour, line, cls, direction, n in self.counts.rows():
            w.writerow((hour.isoformat(), line, cls, direction, n))
        return buf.getvalue()

    def _log_suffix(self) -> str:
        return f" ({len(self.counts.rows())} rows)"


class MotTracksExporter:
    """Writes confirmed tracks in MOTChallenge format: ``frame,id,x,y,w,h,conf,-1,-1,-1``.

    ``frame`` is ``frame.index + 1`` (MOT frames count from 1); ``x,y`` is the top-left corner and
    ``w,h`` the size, in pixels with 2 decimals; ``conf`` has 4 decimals (1 when the detections
    carry no confidence). Rows with ``tracker_id == -1`` (unconfirmed) are skipped.

    Args:
        path: output ``.txt`` (truncated when opened).
        flush_interval_s, atomic: see :class:`EventsJsonlExporter`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        atomic: bool = True,
    ) -> None:
        self._out = _LineFile(path, flush_interval_s, "MOT tracks", atomic=atomic)
        self.rows_written = 0

    @property
    def path(self) -> Path:
        return self._out.path

    @staticmethod
    def format_rows(result: FrameResult) -> list[str]:
        """MOT lines (with ``\\n``) for the confirmed rows of one result, in detection order."""
        det = result.detections
        if len(det) == 0 or det.tracker_id is None:
            return []
        ids = np.asarray(det.tracker_id, dtype=np.int64)
        keep = ids >= 0
        if not keep.any():
            return []
        xyxy = np.asarray(det.xyxy, dtype=np.float64)[keep]
        conf = (
            np.asarray(det.confidence, dtype=np.float64)[keep]
            if det.confidence is not None
            else np.ones(int(keep.sum()))
        )
        frame_no = result.frame.index + 1
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        return [
            f"{frame_no},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.4f},{MOT_UNUSED}\n"
            for tid, (x, y), (w, h), c in zip(
                ids[keep].tolist(), xyxy[:, :2].tolist(), wh.tolist(), conf.tolist(), strict=True
            )
        ]

    def write(self, result: FrameResult) -> None:
        """Append the confirmed tracks of one frame.

        Raises:
            ExportError: if the exporter is closed or the file cannot be written.
        """
        lines = self.format_rows(result)
        self._out.write_lines(lines)
        self.rows_written += len(lines)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        self._out.close()


def _json_default(o: object) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"summary value of type {type(o).__name__} is not JSON serialisable: {o!r}")


def write_summary(path: str | os.PathLike[str], summary: dict[str, Any]) -> Path:
    """Write ``summary`` as indented JSON, atomically (temporary file + ``os.replace``).

    ``datetime``/``date`` become ISO 8601 strings; ``Path`` strings; numpy scalars and arrays
    plain numbers and lists; enums their value.

    Args:
        path: output ``.json``; parent folders are created.
        summary: JSON-like mapping.

    Returns:
        The path written.

    Raises:
        ExportError: if a value cannot be serialised or the file cannot be written.
    """
    try:
        text = json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    except (TypeError, ValueError) as e:
        raise ExportError(f"cannot write summary {path}: {e}") from e
    return atomic_write_text(path, text)


# ------------------------------------------------------------------------------------------ zones
ZONES_CSV_HEADER = (
    "hour_start", "zone", "class", "entries", "exits", "max_occupancy", "mean_occupancy", "mean_dwell_seconds"
)


class ZoneEventsJsonlExporter(_JsonLinesExporter):
    """Writes one JSON object per :class:`~vtrack.types.ZoneEvent` per line (``event.to_json()``).

    Args:
        path: output ``.jsonl`` (truncated when opened; parent folders created).
        flush_interval_s, atomic: see :class:`EventsJsonlExporter`.
    """

    _what = "zone events"

    def _events(self, result: FrameResult) -> Sequence[ZoneEvent]:
        return result.zone_events


class ZonesCsvExporter(_CheckpointedCsv):
    """Writes hourly zone figures as CSV (:data:`ZONES_CSV_HEADER`), aggregated from the frames it is given.

    Each frame's zone events and occupancy (``result.zone_events``, ``result.occupancy`` at
    ``result.time``) feed a :class:`~vtrack.analytics.zones.ZoneHourly` of its own; one row per
    ``ZoneHourly.rows()``. ``mean_occupancy`` has 3 decimals, ``mean_dwell_seconds`` 2 (empty without
    exits). Rewritten atomically at ``close()`` and every ``checkpoint_interval_s`` of wall time, like
    :class:`CountsCsvExporter`.

    Args:
        path: output ``.csv``.
        checkpoint_interval_s: seconds between atomic rewrites; ``None`` writes only at close.

    Attributes:
        hourly: the aggregates written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_interval_s: float | None = DEFAULT_CSV_CHECKPOINT_S,
    ) -> None:
        super().__init__(path, "zones CSV", checkpoint_interval_s)
        self.hourly = ZoneHourly()

    def write(self, result: FrameResult) -> None:
        """Add the frame's zone events and occupancy; checkpoint the CSV when the interval has passed.

        Raises:
            ExportError: if the exporter is closed or a checkpoint cannot be written.
        """
        self._check_open()
        for e in result.zone_events:
            self.hourly.add(e)
        if result.occupancy is not None and result.time is not None:
            self.hourly.observe(result.time, result.occupancy)
        self._maybe_checkpoint()

    def render(self) -> str:
        """The CSV text for the current aggregates."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ZONES_CSV_HEADER)
        for r in self.hourly.rows():
            dwell = "" if r.mean_dwell_seconds is None else f"{r.mean_dwell_seconds:.2f}"
            w.writerow(
                (r.hour_start.isoformat(), r.zone, r.class_name, r.entries, r.exits, r.max_occupancy,
                 f"{r.mean_occupancy:.3f}", dwell)
            )
        return buf.getvalue()
