"""One live stream's worker: newest frame → shared detector → frame step → sinks.

Each worker takes frames from its :class:`~vtrack.stream.live.LiveSource`, runs the shared detector
(or the cross-stream batcher), the stream's :class:`~vtrack.pipeline.step.FrameStep` (tracker, line
and zone counters, the same step ``vtrack run`` uses) and hands the result to its sinks: the
:class:`~vtrack.service.recorder.StreamRecorder` (metrics, in-memory figures), the optional count
store and output files, and (only while someone watches) the :class:`~vtrack.service.view.LiveView`.
Stateful stages are used by the worker's thread only: no locks in the hot path.

Frames: by default the source hands on the newest frame (older ones are dropped and counted). With a
step that carries tracks (``tracker.carry``), it hands on every frame and the worker runs the detector
only when it has caught up (and ``max_fps`` allows), carrying the tracks over the frames between.

A stream whose source fails for good (state ``failed``: a missing file, a store that cannot be
opened) stays failed until :meth:`StreamWorker.restart` opens it again, keeping the counts.

The detector is shared without a lock: each worker letterboxes into its own input buffer
(:meth:`YoloOnnxDetector.preprocess`), ONNX Runtime runs concurrent ``Run`` calls on one session
(:meth:`~YoloOnnxDetector.infer` is thread-safe) and post-processing keeps no per-call state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vtrack.analytics.aggregate import UtcDays
from vtrack.analytics.composite import CounterSet
from vtrack.analytics.zones import ZoneHourRow
from vtrack.config import StreamConfig
from vtrack.detectors.batching import BatcherClosedError, BatchInferer
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.errors import VtrackError
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.exporters.base import Exporter
from vtrack.exporters.store import RunInfo, StoreExporter, open_store
from vtrack.metrics import Metrics
from vtrack.pipeline.compose import (
    build_step,
    canonical_classes,
    carries,
    resolve_lines,
    resolve_zones,
)
from vtrack.pipeline.step import FrameStep
from vtrack.redact import redact_url
from vtrack.service.outputs import StreamOutputs
from vtrack.service.recorder import StreamRecorder
from vtrack.service.schemas import StreamStatus
from vtrack.service.view import LiveView
from vtrack.subclasses.runtime import counted_classes, detector_classes, open_stage
from vtrack.subclasses.stage import SubclassStage
from vtrack.types import Frame, FrameResult

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.5
"""Longest a worker waits for a frame before it refreshes its gauges and checks for stop."""
JOIN_TIMEOUT_S = 10.0
FPS_WINDOW = 30
"""Processed frames over which a stream's processing FPS is measured."""
DEFAULT_SOURCE_FPS = 25.0
CARRY_KEEP = 16
"""Frames a stream that carries its tracks lets wait for its worker (then the oldest are dropped)."""
DETECT_BACKLOG_SHARE = 1.0
"""A carrying worker starts a detection only if the frames expected to arrive meanwhile fill at most
this share of the frames that may wait (:data:`CARRY_KEEP`)... (measured on the live counts test under
load: 0.75 held a slow box to one detection a second, 10 crossings per loop of 21; 1.0 gave 12)"""
MAX_CARRY_S = 1.0
"""... unless the last detection is this many seconds old: a slow box still detects once a second."""
DETECT_EMA = 0.2
"""Weight of the newest detection time in its running average."""
MAX_FPS_SLACK = 0.1
"""A frame counts as due for ``max_fps`` up to this share of the interval early (frame times jitter)."""
BEHIND_MIN_FPS = 5.0
"""An uncapped carrying worker that is behind (frames wait) still detects this often: when carrying
every frame costs more than the box has (a loaded CPU, many boxes), waiting to catch up first starved
the detector to one detection a second (:data:`MAX_CARRY_S`); detections come first, and carried
frames wait (or the oldest drop)."""

def scrub(text: str) -> str:
    """``text`` with any URL credential replaced by ``***`` (library errors); see :mod:`vtrack.redact`."""
    return redact_url(text)


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
    """Open ``cfg.source`` as a :class:`vtrack.stream.live.LiveSource` (not started).

    A stream that carries its tracks gets every frame (up to :data:`CARRY_KEEP` waiting) and applies
    ``max_fps`` to the detector itself; otherwise the source hands on its newest frame, at most
    ``max_fps`` a second.
    """
    from vtrack.stream.live import LiveSource

    if carries(cfg.tracker, live=True):
        src: LiveSourceLike = LiveSource(cfg.source, name=cfg.id, loop=cfg.loop, keep=CARRY_KEEP)
    else:
        src = LiveSource(cfg.source, name=cfg.id, loop=cfg.loop, max_fps=cfg.max_fps)
    return src


def safe_source(url: str) -> str:
    """The source as shown to users (credentials replaced by ``***``)."""
    return redact_url(url)


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
        self.recorder = StreamRecorder(cfg, metrics)
        self.hourly = self.recorder.hourly
        self.step: FrameStep | None = None
        self.counters: CounterSet | None = None
        self.annotator: FrameAnnotator | None = None
        self.frames_processed = 0
        self.frames_detected = 0  # frames the detector ran on (the others were carried)
        self.restarts = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._life = threading.Lock()  # start / stop / restart, one at a time
        self._thread: threading.Thread | None = None
        self._source: LiveSourceLike | None = None
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._t_origin: float | None = None  # monotonic time of frame index 0 (kept across restarts)
        self._last_detect: float | None = None  # captured time of the last frame the detector ran on
        self._detect_s: float | None = None  # running average of a detection's wall seconds
        self._fps = DEFAULT_SOURCE_FPS
        # the model's spelling; fails early (HTTP 422 / config error) on a class the model does not have
        detect = detector_classes(cfg.classes, subclasses=cfg.subclasses is not None)
        self._classes = canonical_classes(detector, detect)
        self._subclasses = (
            open_stage(
                cfg.subclasses, detector_classes=set(detector.class_names.values()), kept_classes=cfg.classes
            )
            if cfg.subclasses
            else None
        )
        self._count_classes = counted_classes(cfg.classes, self._subclasses, self._classes)
        self._blur = canonical_classes(detector, cfg.privacy.blur) or []
        self.view = LiveView(self._stop, self._blur)

    @property
    def subclasses(self) -> SubclassStage | None:
        """The stream's sub-class stage (``subclasses:``), or ``None``."""
        return self._subclasses

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Open the source and start the worker thread."""
        with self._life:
            self.recorder.register(lambda: self.state == "running", self.last_frame_age)
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
        self.recorder.new_source()
        src = self._source = self.source_factory(self.cfg)
        self._thread = threading.Thread(target=self._run, args=(src,), name=f"stream-{self.id}", daemon=True)
        self._thread.start()

    def _halt(self, timeout: float) -> None:
        self._stop.set()
        self.view.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("stream %s: worker did not stop within %.0f s", self.id, timeout)

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
        """Zone occupancy now, ``{zone: {class: n}}`` (see :attr:`StreamRecorder.occupancy`)."""
        return self.recorder.occupancy

    def zone_rows(self) -> tuple[ZoneHourRow, ...]:
        """Hourly zone figures of the previous and the current UTC day (see :class:`StreamRecorder`)."""
        return self.recorder.zone_rows()

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
            frames_detected=self.frames_detected,
            frames_dropped=src.frames_dropped if src is not None else 0,
            lines=[ln.name for ln in self.cfg.counting.lines],
            classes=self.cfg.classes,
            counts=counters.counts if counters is not None else {},
            zones=[z.name for z in self.cfg.counting.zones],
            occupancy=self.occupancy,
            restarts=self.restarts,
        )

    # ------------------------------------------------------------------ live view (see LiveView)
    def want_view(self) -> None:
        self.view.want()

    def add_viewer(self, delta: int) -> None:
        self.view.add_viewer(delta)

    def latest_jpeg(self) -> tuple[bytes | None, int]:
        return self.view.latest()

    def wait_jpeg(self, after_seq: int, timeout: float) -> tuple[bytes | None, int]:
        return self.view.wait(after_seq, timeout)

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
            self.recorder.publish_zone_rows(self.counters)
            self.view.wake()

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
            carry=carries(cfg.tracker, live=True) and getattr(src, "keep", 1) > 1,
            subclasses=self._subclasses, count_classes=self._count_classes,
        )
        if self._subclasses is not None:
            self._subclasses.reset()  # a new tracker: its track ids start afresh
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
            self.recorder.source_counters(src.frames_dropped, src.reconnects)
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
            since_origin = max(0.0, captured - self._t_origin)  # seconds; never decreases, as index
            index = round(since_origin * self._fps)
            when = datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - captured)
            if step.counters is not None:
                self.recorder.roll_day(step.counters, when)
            if self._detect_now(src, step, captured):
                # detect (shared session or cross-stream batcher, own input buffer)
                t0 = time.perf_counter()
                buffer, geom = self.detector.preprocess(frame.image, out=buffer)
                detections = self.detector.postprocess(self._infer(buffer), geom)
                spent = time.perf_counter() - t0
                m.inference.observe(spent)
                self._detect_s = spent if self._detect_s is None else (
                    (1 - DETECT_EMA) * self._detect_s + DETECT_EMA * spent
                )
                self._last_detect = captured
                self.frames_detected += 1
                result = step(frame, detections, time=when, index=index, timestamp=since_origin)
            else:  # behind, or over max_fps: carry the tracks to this frame without the detector
                result = step.carry(frame, time=when, index=index, timestamp=since_origin)
            self.recorder.record(result, step.counters)
            for exporter in exporters:
                exporter.write(result)
            self.frames_processed += 1
            m.frames.labels(sid).inc()
            done = time.monotonic()
            self._times.append(done)
            m.frame_latency.labels(sid).observe(done - captured)
            if self.view.watched:
                self.view.publish(annotator, result, step.counters.counts if step.counters else None)

    def _detect_now(self, src: LiveSourceLike, step: FrameStep, captured: float) -> bool:
        """Run the detector on this frame? Always, unless the step carries tracks and the source hands
        on every frame: then when ``max_fps`` allows and either no newer frame waits or (behind) the
        last detection is ``1 / max_fps`` old (``1 / BEHIND_MIN_FPS`` uncapped), and the frames that
        arrive during the detection fit in the source's queue (or the last detection is old)."""
        keep = getattr(src, "keep", 1)
        if not step.can_carry or keep <= 1 or self._last_detect is None:
            return True
        since = captured - self._last_detect
        cap = self.cfg.max_fps
        if cap is not None and since < (1.0 - MAX_FPS_SLACK) / cap:
            return False
        if getattr(src, "pending", 0) > 0 and since < (1.0 - MAX_FPS_SLACK) / (cap or BEHIND_MIN_FPS):
            return False  # behind: carry to catch up, unless a detection is due
        expected = (self._detect_s or 0.0) * self._fps
        return expected <= DETECT_BACKLOG_SHARE * keep or since >= MAX_CARRY_S
