"""Many live streams in one process: one worker thread per stream, one detector session shared.

Each worker takes the newest frame from its :class:`~vtrack.stream.live.LiveSource` (older ones are
dropped and counted by the source), runs the shared detector, its own tracker, line counter and zone
counter, and updates the metrics, the in-memory hourly counts and zone figures, the optional count
store, the optional output files and (only while someone watches) the latest annotated JPEG. Stateful
stages (tracker, counters, annotator) are used by the worker's thread only: no locks in the hot path;
other threads read snapshots the worker replaces (zone occupancy, hourly zone figures).

A stream whose source fails for good (state ``failed``: a missing file, a store that cannot be
opened) stays failed until :meth:`StreamWorker.restart` opens it again, keeping the counts.

The detector is shared without a lock: each worker letterboxes into its own input buffer
(:meth:`YoloOnnxDetector.preprocess`), ONNX Runtime runs concurrent ``Run`` calls on one session
(:meth:`~YoloOnnxDetector.infer` is thread-safe) and post-processing keeps no per-call state.
With ``model.batch > 1`` and a model whose batch axis is dynamic, the workers hand their tensors to one
:class:`~vtrack.detectors.batching.BatchInferer` instead, which runs the frames of several streams in
one inference (a GPU's way to serve many streams).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter as _Tally
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import supervision as sv

from vtrack.analytics.aggregate import HourlyCounts, UtcDays
from vtrack.analytics.composite import CounterSet
from vtrack.analytics.zones import ZoneHourly, ZoneHourRow
from vtrack.config import DeploymentConfig, StreamConfig
from vtrack.detectors.batching import BatcherClosedError, BatchInferer
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.errors import ConfigError, VtrackError
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.exporters.base import Exporter
from vtrack.exporters.privacy import blur_regions
from vtrack.exporters.store import RunInfo, StoreExporter, open_store
from vtrack.metrics import Metrics
from vtrack.pipeline.compose import (
    build_step,
    canonical_classes,
    load_detector,
    resolve_lines,
    resolve_zones,
)
from vtrack.pipeline.step import FrameStep
from vtrack.service.outputs import StreamOutputs
from vtrack.types import Frame, FrameResult

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.5
"""Longest a worker waits for a frame before it refreshes its gauges and checks for stop."""
JOIN_TIMEOUT_S = 10.0
HOURLY_KEEP_HOURS = 48
"""In-memory hourly counts kept per stream (older hours are dropped; a count store keeps all)."""
VIEW_IDLE_S = 5.0
"""Annotated JPEGs are encoded while someone asked for one within this many seconds."""
JPEG_QUALITY = 80
FPS_WINDOW = 30
"""Processed frames over which a stream's processing FPS is measured."""
DEFAULT_SOURCE_FPS = 25.0
MAX_FPS_SLACK = 0.1
"""A frame counts as due for ``max_fps`` up to this share of the interval early (frame times jitter)."""
ZONE_ROWS_REFRESH_S = 1.0
"""Most seconds the hourly zone figures shown by the API lag behind the worker's."""

_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):[^@\s/]*@")


def scrub(text: str) -> str:
    """``text`` with any ``scheme://user:password@`` password replaced by ``***`` (library errors)."""
    return _URL_PASSWORD.sub(r"\g<pre>:***@", text)


class LiveSourceLike(Protocol):
    """What a worker needs of :class:`vtrack.stream.live.LiveSource`."""

    name: str
    safe_url: str
    fps: float
    width: int
    height: int
    state: Any
    last_error: str | None
    reconnects: int
    frames_read: int
    frames_dropped: int
    last_frame_monotonic: float | None
    stream_start_monotonic: float

    def start(self) -> None: ...
    def read(self, timeout: float = 1.0) -> Frame | None: ...
    def stop(self) -> None: ...


SourceFactory = Callable[[StreamConfig], LiveSourceLike]


def live_source_factory(cfg: StreamConfig) -> LiveSourceLike:
    """Open ``cfg.source`` as a :class:`vtrack.stream.live.LiveSource` (not started)."""
    from vtrack.stream.live import LiveSource

    src: LiveSourceLike = LiveSource(cfg.source, name=cfg.id, loop=cfg.loop, max_fps=cfg.max_fps)
    return src


def safe_source(url: str) -> str:
    """The source as shown to users: the live module's redaction when available, else :func:`scrub`."""
    try:
        from vtrack.stream.live import redact_url
    except ImportError:
        return scrub(url)
    return scrub(redact_url(url))


@dataclass
class StreamStatus:
    """What the API shows of one stream (no secrets)."""

    id: str
    source: str
    enabled: bool
    state: str
    last_error: str | None
    fps: float
    source_fps: float | None
    width: int | None
    height: int | None
    last_frame_age_seconds: float | None
    reconnects: int
    frames_processed: int
    frames_dropped: int
    lines: list[str]
    classes: list[str] | None
    counts: dict[str, dict[str, dict[str, int]]]
    zones: list[str] = field(default_factory=list)
    occupancy: dict[str, dict[str, int]] = field(default_factory=dict)
    restarts: int = 0


class DailyStoreRuns:
    """A stream's count-store exporter that starts a new store run at each UTC midnight; ``Exporter``.

    A live stream runs for months; one store run per UTC day keeps each run a day's worth of rows
    (a day's counts are replaced or listed as one run), and hours never straddle two runs, so the
    stored hourly figures add up exactly. (The :class:`StoreExporter` itself forgets zone hours once
    they are stored, so memory does not depend on this rotation.)

    Args:
        url: the store URL (opened now: a bad or unreachable store fails before the source starts).
        run_info: makes the identity of each new run.
        zones: the stream counts zones (see :class:`StoreExporter`).

    Raises:
        StoreError: the store cannot be opened.
    """

    def __init__(self, url: str, run_info: Callable[[], RunInfo], zones: bool) -> None:
        self.url = url
        self.run_info = run_info
        self.zones = zones
        self.exporter = StoreExporter(open_store(url), run_info(), zones=zones)
        self._days = UtcDays()

    def write(self, result: FrameResult) -> None:
        """Write one frame (closing the day's run and opening the next one first at UTC midnight)."""
        if result.time is not None and self._days.turned(result.time):
            self.exporter.close()
            self.exporter = StoreExporter(open_store(self.url), self.run_info(), zones=self.zones)
        self.exporter.write(result)

    def close(self, status: str | None = None) -> None:
        """Commit and close the current run with ``status`` (see :meth:`StoreExporter.close`)."""
        self.exporter.close(status)


class StreamWorker:
    """One stream's thread: source → shared detector → tracker → counters → metrics/store/files/view.

    The tracker, the counters (a :class:`CounterSet`: line counter and zone counter), the annotator
    and the in-memory hourly figures belong to the worker, not to its thread: :meth:`restart` opens
    the source again and carries on counting where it stopped.

    Args:
        cfg: the stream's configuration.
        detector: the shared detector.
        metrics: where to record metrics.
        source_factory: opens the live source.
        store_url: count store URL, or ``None``.
        tz: IANA zone recorded with the store run.
        output_root: the stream's folder for output files (``None``: no files).
        batcher: returns the cross-stream batcher to run frames through, or ``None`` to call the
            detector directly (asked at every frame: the manager may close and re-make it).
    """

    def __init__(
        self,
        cfg: StreamConfig,
        detector: YoloOnnxDetector,
        metrics: Metrics,
        *,
        source_factory: SourceFactory,
        store_url: str | None = None,
        tz: str = "UTC",
        output_root: Path | None = None,
        batcher: Callable[[], BatchInferer | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.safe_url = safe_source(cfg.source)
        self.detector = detector
        self.metrics = metrics
        self.source_factory = source_factory
        self.store_url = store_url
        self.tz = tz
        self.output_root = output_root
        self._batcher = batcher
        self.hourly = HourlyCounts(HOURLY_KEEP_HOURS, utc=True)
        self.step: FrameStep | None = None
        self.counters: CounterSet | None = None
        self.annotator: FrameAnnotator | None = None
        self.frames_processed = 0
        self.restarts = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._life = threading.Lock()  # start / stop / restart, one at a time
        self._thread: threading.Thread | None = None
        self._source: LiveSourceLike | None = None
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._t_origin: float | None = None  # monotonic time of frame index 0 (kept across restarts)
        self._last_detect: float | None = None  # captured time of the last frame the detector ran on
        self._fps = DEFAULT_SOURCE_FPS
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._jpeg_cond = threading.Condition()
        self._view_wanted_until = 0.0
        self._viewers = 0
        self._seen_dropped = 0
        self._seen_reconnects = 0
        # zone figures for readers on other threads: snapshots the worker replaces, never mutates
        self._occupancy: dict[str, dict[str, int]] = {z.name: {} for z in cfg.counting.zones}
        self._zone_days = UtcDays()
        self._zone_rows_before: tuple[ZoneHourRow, ...] = ()  # the previous UTC day's hours
        self._zone_rows: tuple[ZoneHourRow, ...] = ()
        self._zone_rows_at = 0.0
        # the model's spelling; fails early (HTTP 422 / config error) on a class the model does not have
        self._classes = canonical_classes(detector, cfg.classes)
        self._blur = canonical_classes(detector, cfg.privacy.blur) or []
        self._seen_classes: set[str] = set()  # classes with a vtrack_objects series (reset to 0 when gone)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Open the source and start the worker thread."""
        with self._life:
            self._register_series()
            self._launch()

    def restart(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Stop the worker thread, open the source again and start a new thread.

        Tracker, counters, totals and in-memory hourly figures carry on; the count store gets a new
        run and the output files a new segment.

        Raises:
            VtrackError: the old thread did not stop within ``timeout`` s, or the source cannot be made.
        """
        with self._life:
            self._halt(timeout)
            if self.alive:
                raise VtrackError(f"stream {self.id!r}: the worker did not stop within {timeout:.0f} s")
            self.restarts += 1
            self._launch()
        log.info("stream %s restarted (restart %d)", self.id, self.restarts)

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Ask the worker to stop and wait for it (it closes its source, store and files)."""
        with self._life:
            self._halt(timeout)

    def _launch(self) -> None:
        self._stop.clear()
        self.error = None
        self._times.clear()
        self._seen_dropped = self._seen_reconnects = 0
        src = self._source = self.source_factory(self.cfg)
        self._thread = threading.Thread(target=self._run, args=(src,), name=f"stream-{self.id}", daemon=True)
        self._thread.start()

    def _halt(self, timeout: float) -> None:
        self._stop.set()
        with self._jpeg_cond:
            self._jpeg_cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("stream %s: worker did not stop within %.0f s", self.id, timeout)

    def _register_series(self) -> None:
        """Gauges read from the worker, and every labelled series at 0 (so rate() sees the first events)."""
        m = self.metrics
        m.stream_up.labels(self.id).set_function(lambda: 1.0 if self.state == "running" else 0.0)
        m.last_frame_age.labels(self.id).set_function(lambda: self.last_frame_age() or math.nan)
        m.frames.labels(self.id)
        m.frames_dropped.labels(self.id, "stale")
        m.reconnects.labels(self.id)
        m.tracks_active.labels(self.id).set(0)
        for cls in self.cfg.classes or []:
            m.objects.labels(self.id, cls).set(0)
            self._seen_classes.add(cls)
            for line in self.cfg.counting.lines:
                for direction in ("in", "out"):
                    m.line_crossings.labels(self.id, line.name, cls, direction)
            for z in self.cfg.counting.zones:
                m.zone_occupancy.labels(self.id, z.name, cls).set(0)
                m.zone_entries.labels(self.id, z.name, cls)
                m.zone_exits.labels(self.id, z.name, cls)

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ read-out (any thread)
    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        src = self._source
        if src is None:
            return "stopped"
        state = str(getattr(src.state, "value", src.state))
        if self._thread is not None and not self._thread.is_alive() and state != "failed":
            return "stopped"
        return state

    def last_frame_age(self) -> float | None:
        src = self._source
        t = src.last_frame_monotonic if src is not None else None
        return None if t is None else max(0.0, time.monotonic() - t)

    def processing_fps(self) -> float:
        ts = list(self._times)
        if len(ts) < 2 or ts[-1] <= ts[0]:
            return 0.0
        return (len(ts) - 1) / (ts[-1] - ts[0])

    @property
    def occupancy(self) -> dict[str, dict[str, int]]:
        """Zone occupancy now, ``{zone: {class: n}}`` (every zone; as of the last processed frame)."""
        return self._occupancy

    def zone_rows(self) -> tuple[ZoneHourRow, ...]:
        """Hourly zone figures (UTC hours) of the previous and the current UTC day, at most
        :data:`ZONE_ROWS_REFRESH_S` old."""
        return self._zone_rows_before + self._zone_rows

    def status(self) -> StreamStatus:
        src = self._source
        age = self.last_frame_age()
        last_error = self.error or (src.last_error if src is not None else None)
        counters = self.counters
        return StreamStatus(
            id=self.id,
            source=self.safe_url,
            enabled=self.cfg.enabled,
            state=self.state,
            last_error=scrub(last_error).replace(self.cfg.source, self.safe_url) if last_error else None,
            fps=round(self.processing_fps(), 2),
            source_fps=round(src.fps, 2) if src is not None and src.fps else None,
            width=(src.width or None) if src is not None else None,
            height=(src.height or None) if src is not None else None,
            last_frame_age_seconds=None if age is None else round(age, 3),
            reconnects=src.reconnects if src is not None else 0,
            frames_processed=self.frames_processed,
            frames_dropped=src.frames_dropped if src is not None else 0,
            lines=[ln.name for ln in self.cfg.counting.lines],
            classes=self.cfg.classes,
            counts=counters.counts if counters is not None else {},
            zones=[z.name for z in self.cfg.counting.zones],
            occupancy=self.occupancy,
            restarts=self.restarts,
        )

    # ------------------------------------------------------------------ live view
    def want_view(self) -> None:
        """Keep encoding annotated JPEGs for the next :data:`VIEW_IDLE_S` seconds."""
        self._view_wanted_until = time.monotonic() + VIEW_IDLE_S

    def add_viewer(self, delta: int) -> None:
        """An MJPEG client connected (+1) or left (-1)."""
        with self._jpeg_cond:
            self._viewers = max(0, self._viewers + delta)
        self.want_view()

    def latest_jpeg(self) -> tuple[bytes | None, int]:
        """The newest annotated JPEG and its sequence number (``None, 0`` before the first)."""
        with self._jpeg_cond:
            return self._jpeg, self._jpeg_seq

    def wait_jpeg(self, after_seq: int, timeout: float) -> tuple[bytes | None, int]:
        """Wait up to ``timeout`` s for a JPEG newer than ``after_seq``; return the newest either way."""
        self.want_view()
        deadline = time.monotonic() + timeout
        with self._jpeg_cond:
            while self._jpeg_seq <= after_seq and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._jpeg_cond.wait(left)
            return self._jpeg, self._jpeg_seq

    def _watched(self) -> bool:
        return self._viewers > 0 or time.monotonic() < self._view_wanted_until

    # ------------------------------------------------------------------ the worker
    def _run(self, src: LiveSourceLike) -> None:
        store_exporter: DailyStoreRuns | None = None
        outputs: StreamOutputs | None = None
        zones = bool(self.cfg.counting.zones)
        try:
            if self.store_url:
                store_exporter = DailyStoreRuns(self.store_url, self._run_info, zones)
            if self.output_root is not None:
                outputs = StreamOutputs(self.output_root, zones)
            src.start()
            self._loop(src, [e for e in (store_exporter, outputs) if e is not None])
        except VtrackError as e:
            self.error = scrub(str(e)).replace(self.cfg.source, self.safe_url)
            log.error("stream %s failed: %s", self.id, self.error)
        except Exception as e:
            self.error = f"internal error: {type(e).__name__}"
            log.error("stream %s failed: %s: %s", self.id, type(e).__name__, scrub(str(e)))
        finally:
            try:
                src.stop()
            except Exception:
                log.exception("stream %s: stopping the source failed", self.id)
            # A live stream never finishes: its day's run ends failed or cut short by a stop.
            status = "failed" if self.error else "interrupted"
            closers: list[tuple[Callable[[], None], str]] = []
            if store_exporter is not None:
                closers.append((partial(store_exporter.close, status), "the count store"))
            if outputs is not None:
                closers.append((outputs.close, "the output files"))
            for closing, what in closers:
                try:
                    closing()
                except Exception as e:
                    log.error("stream %s: closing %s failed: %s", self.id, what, scrub(str(e)))
            self._publish_zone_rows()
            with self._jpeg_cond:
                self._jpeg_cond.notify_all()

    def _run_info(self) -> RunInfo:
        started = datetime.now(timezone.utc)
        suffix = f"-r{self.restarts}" if self.restarts else ""
        return RunInfo(
            run_id=f"serve-{self.id}-{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}",
            stream=self.id,
            source=self.safe_url,
            start_time=None,
            start_time_source="live",
            timezone=self.tz,
            settings=self.cfg.model_dump_json(exclude={"source"}),
        )

    def _build(self, src: LiveSourceLike, frame: Frame) -> None:
        """The frame step and annotator, made at the first frame (zones and lines need its size)."""
        cfg = self.cfg
        fps = src.fps if src.fps and src.fps > 0 else DEFAULT_SOURCE_FPS
        self._fps = fps
        self.step = build_step(
            cfg.tracker, cfg.counting, classes=self._classes, width=frame.width, height=frame.height,
            native_fps=fps, fps=min(fps, cfg.max_fps) if cfg.max_fps else fps, blur=self._blur,
        )
        self.counters = self.step.counters
        self.annotator = FrameAnnotator(
            resolve_lines(cfg.counting, frame.width, frame.height),
            class_names=self.detector.class_names,
            zones=resolve_zones(cfg.counting, frame.width, frame.height),
        )

    def _infer(self, buffer: np.ndarray) -> list[np.ndarray]:
        """The frame's raw outputs: through the cross-stream batcher when there is one."""
        batcher = self._batcher() if self._batcher is not None else None
        if batcher is not None:
            try:
                return batcher.infer(buffer)
            except BatcherClosedError:  # the manager is stopping (or re-making it): run it here
                pass
        return self.detector.infer(buffer)

    def _loop(self, src: LiveSourceLike, exporters: list[Exporter]) -> None:
        batcher = self._batcher() if self._batcher is not None else None
        if batcher is not None:
            batcher.attach()  # a batch need not wait for more streams than are running
        try:
            self._loop_frames(src, exporters)
        finally:
            if batcher is not None:
                batcher.detach()

    def _loop_frames(self, src: LiveSourceLike, exporters: list[Exporter]) -> None:
        m = self.metrics
        sid = self.id
        buffer: np.ndarray | None = None
        while not self._stop.is_set():
            frame = src.read(timeout=READ_TIMEOUT_S)
            self._sync_source_counters(src)
            if frame is None:
                if str(getattr(src.state, "value", src.state)) in ("stopped", "failed"):
                    break  # end of a (non-looping) file, or a source that cannot be opened
                continue
            # the live source stamps frames on the monotonic clock: captured = start + pts
            captured = min(src.stream_start_monotonic + frame.pts, time.monotonic())
            if self.step is None:
                self._build(src, frame)
            if self._t_origin is None:
                self._t_origin = captured
            step, annotator = self.step, self.annotator
            assert step is not None and annotator is not None
            # frame index in source frames since the worker first started: never decreases, also
            # across restarts (the counters keep their state)
            index = max(0, round((captured - self._t_origin) * self._fps))
            when = datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - captured)
            if step.counters is not None:
                self._roll_zone_day(step.counters, when)
            if self._detect_now(src, step, captured):
                # detect (shared session or cross-stream batcher, own input buffer)
                t0 = time.perf_counter()
                buffer, geom = self.detector.preprocess(frame.image, out=buffer)
                detections = self.detector.postprocess(self._infer(buffer), geom)
                m.inference.observe(time.perf_counter() - t0)
                self._last_detect = captured
                result = step(frame, detections, time=when, index=index)
            else:  # behind, or over max_fps: carry the tracks to this frame without the detector
                result = step.carry(frame, time=when, index=index)
            self._record(result)
            for exporter in exporters:
                exporter.write(result)
            self.frames_processed += 1
            m.frames.labels(sid).inc()
            done = time.monotonic()
            self._times.append(done)
            m.frame_latency.labels(sid).observe(done - captured)
            if self._watched():
                self._publish_view(annotator, result)

    def _detect_now(self, src: LiveSourceLike, step: FrameStep, captured: float) -> bool:
        """Run the detector on this frame? Always, unless the step carries tracks and the source hands
        on every frame: then only when no newer frame waits and ``max_fps`` allows."""
        if not step.can_carry or getattr(src, "keep", 1) <= 1 or self._last_detect is None:
            return True
        if getattr(src, "pending", 0) > 0:
            return False
        cap = self.cfg.max_fps
        return cap is None or captured - self._last_detect >= (1.0 - MAX_FPS_SLACK) / cap

    def _record(self, result: FrameResult) -> None:
        """Metrics, in-memory hourly counts and zone figures of one frame's result."""
        m = self.metrics
        sid = self.id
        for ev in result.events:
            m.line_crossings.labels(sid, ev.line, ev.class_name, ev.direction).inc()
            self.hourly.add(ev)
        if result.occupancy is not None:
            self._record_zones(result)
        self._record_objects(result.detections)

    def _roll_zone_day(self, counters: CounterSet, when: datetime) -> None:
        """Keep the in-memory hourly zone figures to the previous and the current UTC day."""
        if counters.zone_hourly is not None and self._zone_days.turned(when):
            self._zone_rows_before = tuple(counters.zone_hourly.rows())
            counters.zone_hourly = ZoneHourly()
            self._zone_rows = ()

    def _record_zones(self, result: FrameResult) -> None:
        m = self.metrics
        sid = self.id
        occupancy = result.occupancy or {}
        for ev in result.zone_events:
            (m.zone_entries if ev.kind == "enter" else m.zone_exits).labels(sid, ev.zone, ev.class_name).inc()
            m.zone_occupancy.labels(sid, ev.zone, ev.class_name).set(occupancy[ev.zone].get(ev.class_name, 0))
        if result.zone_events:
            self._occupancy = {z: dict(per) for z, per in occupancy.items()}
        if time.monotonic() - self._zone_rows_at >= ZONE_ROWS_REFRESH_S:
            self._publish_zone_rows()

    def _publish_zone_rows(self) -> None:
        counters = self.counters
        if counters is not None and counters.zone_hourly is not None:
            self._zone_rows = tuple(counters.zone_hourly.rows())
        self._zone_rows_at = time.monotonic()

    def _sync_source_counters(self, src: LiveSourceLike) -> None:
        dropped, reconnects = src.frames_dropped, src.reconnects
        if dropped > self._seen_dropped:
            self.metrics.frames_dropped.labels(self.id, "stale").inc(dropped - self._seen_dropped)
        if reconnects > self._seen_reconnects:
            self.metrics.reconnects.labels(self.id).inc(reconnects - self._seen_reconnects)
        self._seen_dropped, self._seen_reconnects = dropped, reconnects

    def _record_objects(self, tracked: sv.Detections) -> None:
        m = self.metrics
        if tracked.tracker_id is not None and len(tracked):
            confirmed = np.asarray(tracked.tracker_id) >= 0
            m.tracks_active.labels(self.id).set(int(confirmed.sum()))
        else:
            m.tracks_active.labels(self.id).set(0)
        names = tracked.data.get("class_name") if len(tracked) else None
        per_class = _Tally(np.asarray(names).tolist()) if names is not None else _Tally()
        for cls in self._seen_classes | set(per_class):
            m.objects.labels(self.id, cls).set(per_class.get(cls, 0))
        self._seen_classes |= set(per_class)

    def _publish_view(self, annotator: FrameAnnotator, result: FrameResult) -> None:
        if result.blur is not None:
            # pixelate before drawing, on a copy: the live view is the only image that leaves the process
            image = blur_regions(result.frame.image, result.blur, self._blur, copy=True)
            result = replace(result, frame=replace(result.frame, image=image))
        counts = self.counters.counts if self.counters is not None else None
        image = annotator.annotate(result, counts)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return
        with self._jpeg_cond:
            self._jpeg = buf.tobytes()
            self._jpeg_seq += 1
            self._jpeg_cond.notify_all()


class StreamManager:
    """All streams of a deployment: one shared detector, one worker per stream, add/remove at run time.

    Args:
        config: the deployment.
        metrics: metrics to update (default: a new :class:`Metrics`).
        source_factory: opens a stream's live source (default :func:`live_source_factory`).
        detector: a loaded detector to share (default: loaded from ``config.model`` by :meth:`start`).
    """

    def __init__(
        self,
        config: DeploymentConfig,
        *,
        metrics: Metrics | None = None,
        source_factory: SourceFactory | None = None,
        detector: YoloOnnxDetector | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.source_factory = source_factory or live_source_factory
        self.detector = detector
        self.batcher: BatchInferer | None = None
        self._batch_checked = False
        self._workers: dict[str, StreamWorker] = {}
        self._configs: dict[str, StreamConfig] = {}
        self._lock = threading.Lock()
        self.started = False

    # ------------------------------------------------------------------ life cycle
    def load_model(self) -> YoloOnnxDetector:
        """Load the shared detector (once)."""
        if self.detector is None:
            mc = self.config.model
            self.detector = load_detector(mc, max_batch=mc.batch)
        self._start_batcher(self.detector)
        return self.detector

    def _start_batcher(self, detector: YoloOnnxDetector) -> None:
        """Make the cross-stream batcher when ``model.batch > 1`` and the model can take a batch."""
        mc = self.config.model
        if mc.batch <= 1 or self.batcher is not None:
            return
        if not detector.spec.dynamic_batch:
            if not self._batch_checked:
                log.warning(
                    "model.batch is %d but %s has a fixed batch of 1: each stream runs its own frames "
                    "(export with a dynamic batch axis, `vtrack export --dynamic`, to batch)",
                    mc.batch, detector.spec.path.name,
                )
            self._batch_checked = True
            return
        self.batcher = BatchInferer(detector, max_batch=mc.batch, max_wait_ms=mc.batch_wait_ms)
        log.info("batching up to %d frames of different streams (wait %.1f ms)", mc.batch, mc.batch_wait_ms)

    def _current_batcher(self) -> BatchInferer | None:
        return self.batcher

    def start(self) -> None:
        """Load the model and start every enabled stream of the config.

        Raises:
            VtrackError: the model cannot be loaded or a stream's classes are unknown.
        """
        self.load_model()
        for cfg in self.config.streams:
            self.add(cfg)
        self.started = True

    def stop(self) -> None:
        """Stop every worker (each closes its source and store)."""
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.stop()
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
        self.started = False
        log.info("stopped %d stream(s)", len(workers))

    # ------------------------------------------------------------------ streams
    def ids(self) -> list[str]:
        with self._lock:
            return list(self._configs)

    def has(self, stream_id: str) -> bool:
        with self._lock:
            return stream_id in self._configs

    def worker(self, stream_id: str) -> StreamWorker | None:
        with self._lock:
            return self._workers.get(stream_id)

    def config_of(self, stream_id: str) -> StreamConfig | None:
        with self._lock:
            return self._configs.get(stream_id)

    def add(self, cfg: StreamConfig) -> None:
        """Add a stream (and start it when enabled).

        Raises:
            ConfigError: the id is taken, or a class name is unknown to the model.
        """
        if cfg.outputs and self.config.output_dir is None:
            raise ConfigError(f"stream {cfg.id!r}: 'outputs: true' needs the deployment's 'output_dir:'")
        detector = self.load_model()
        with self._lock:
            if cfg.id in self._configs:
                raise ConfigError(f"stream {cfg.id!r} already exists")
            worker = None
            if cfg.enabled:
                worker = StreamWorker(
                    cfg, detector, self.metrics, source_factory=self.source_factory,
                    store_url=self.config.store, tz=self.config.timezone,
                    output_root=self.output_root(cfg), batcher=self._current_batcher,
                )
            self._configs[cfg.id] = cfg
            if worker is not None:
                self._workers[cfg.id] = worker
        if worker is not None:
            worker.start()
        log.info("stream %s added (%s)", cfg.id, safe_source(cfg.source))

    def output_root(self, cfg: StreamConfig) -> Path | None:
        """The stream's output folder, ``<output_dir>/<id>``, or ``None`` when it writes no files."""
        if not cfg.outputs or self.config.output_dir is None:
            return None
        return Path(self.config.output_dir) / cfg.id

    def restart(self, stream_id: str) -> StreamStatus | None:
        """Open a stream's source again (e.g. a ``failed`` one), keeping its counts; ``None`` for an
        unknown id.

        Raises:
            ConfigError: the stream is not enabled.
            VtrackError: the old worker did not stop, or the source cannot be made.
        """
        with self._lock:
            cfg = self._configs.get(stream_id)
            worker = self._workers.get(stream_id)
        if cfg is None:
            return None
        if worker is None:
            raise ConfigError(f"stream {stream_id!r} is not enabled")
        worker.restart()
        return worker.status()

    def remove(self, stream_id: str) -> bool:
        """Stop and forget a stream; ``False`` when there is none with that id."""
        with self._lock:
            if stream_id not in self._configs:
                return False
            del self._configs[stream_id]
            worker = self._workers.pop(stream_id, None)
        if worker is not None:
            worker.stop()
        self.metrics.remove_stream(stream_id)
        log.info("stream %s removed", stream_id)
        return True

    def status(self, stream_id: str) -> StreamStatus | None:
        """The stream's status, or ``None`` for an unknown id."""
        with self._lock:
            cfg = self._configs.get(stream_id)
            worker = self._workers.get(stream_id)
        if cfg is None:
            return None
        if worker is not None:
            return worker.status()
        return StreamStatus(
            id=cfg.id, source=safe_source(cfg.source), enabled=cfg.enabled, state="stopped",
            last_error=None, fps=0.0, source_fps=None, width=None, height=None,
            last_frame_age_seconds=None, reconnects=0, frames_processed=0, frames_dropped=0,
            lines=[ln.name for ln in cfg.counting.lines], classes=cfg.classes, counts={},
            zones=[z.name for z in cfg.counting.zones], occupancy={z.name: {} for z in cfg.counting.zones},
        )

    def ready(self) -> tuple[bool, dict[str, str]]:
        """Model loaded, every enabled stream's worker started and none ``failed``; with each state."""
        with self._lock:
            workers = dict(self._workers)
        states = {sid: w.state for sid, w in workers.items()}
        ok = (
            self.detector is not None
            and self.started
            and all(w.started for w in workers.values())
            and "failed" not in states.values()
        )
        return ok, states
