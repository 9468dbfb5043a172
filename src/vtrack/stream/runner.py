"""The pipeline runner: source → detector → tracker → counter → exporters.

A reader thread decodes ahead into a bounded queue (decoding releases the GIL, so it overlaps with
inference); detection, tracking, counting and exporting run on the calling thread, so stateful
stages need no locks. A stop event ends the run early (Ctrl-C, SIGTERM); ``finally`` blocks close
every exporter so each output file is complete and valid for the frames done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time as _time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import supervision as sv

from vtrack.analytics.base import Counter
from vtrack.detectors.base import Detector
from vtrack.exporters.base import Exporter
from vtrack.stream.base import Source
from vtrack.trackers.base import Tracker
from vtrack.types import Frame, FrameResult

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 4
_END = object()


@dataclass
class StageTimes:
    """Accumulated seconds spent in each stage on the pipeline thread."""

    detect: float = 0.0
    track: float = 0.0
    count: float = 0.0
    export: float = 0.0
    wait: float = 0.0

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        n = max(frames, 1)
        return {k: round(v * 1000.0 / n, 2) for k, v in self.__dict__.items()}


@dataclass
class RunStats:
    """What a pipeline run did.

    Attributes:
        frames: frames processed.
        last_pts: presentation time (s) of the last processed frame.
        wall_seconds: wall-clock duration of the run.
        interrupted: the run was stopped before the source ended.
        unique_tracks: class → number of distinct confirmed track IDs seen.
        stages: time per stage.
    """

    frames: int = 0
    last_pts: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    unique_tracks: dict[str, int] = field(default_factory=dict)
    stages: StageTimes = field(default_factory=StageTimes)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0


class _TrackTally:
    """Distinct confirmed track IDs per class (memory: one int per track seen)."""

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = {}

    def add(self, detections: sv.Detections) -> None:
        if len(detections) == 0 or detections.tracker_id is None:
            return
        names = detections.data.get("class_name")
        if names is None:
            return
        for tid, cls in zip(detections.tracker_id.tolist(), np.asarray(names).tolist(), strict=True):
            if tid >= 0:
                self._ids.setdefault(str(cls), set()).add(int(tid))

    def counts(self) -> dict[str, int]:
        return {cls: len(ids) for cls, ids in sorted(self._ids.items())}


def _prefetch(source: Source, depth: int, stop: threading.Event) -> Generator[Frame, None, None]:
    """Iterate ``source`` on a reader thread, ``depth`` frames ahead; ``stop`` ends the reader."""
    q: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))

    def reader() -> None:
        try:
            for frame in source:
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(e)
            return
        q.put(_END)

    t = threading.Thread(target=reader, name=f"reader-{source.name}", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while t.is_alive():  # drain so a reader blocked on a full queue sees ``stop``
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


class Pipeline:
    """Runs one source through detector, tracker, counter and exporters.

    Args:
        source: frames to process.
        detector: ONNX YOLO detector (or anything with the Detector protocol).
        tracker: assigns track IDs; rows stay aligned with the detector's output.
        counter: line counter, or ``None`` for no counting.
        exporters: each gets every ``FrameResult``; all are closed at the end, also on error.
        start_time: wall-clock time of the source's first frame (timezone-aware).
        stop_event: set it (from a signal handler or another thread) to stop early.
        on_frame: called after each frame with the result (e.g. a progress bar).
        prefetch: frames decoded ahead on the reader thread.
    """

    def __init__(
        self,
        source: Source,
        detector: Detector,
        tracker: Tracker,
        counter: Counter | None,
        exporters: list[Exporter],
        *,
        start_time: datetime,
        stop_event: threading.Event | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        self.source = source
        self.detector = detector
        self.tracker = tracker
        self.counter = counter
        self.exporters = exporters
        self.start_time = start_time
        self.stop_event = stop_event or threading.Event()
        self.on_frame = on_frame
        self.prefetch = prefetch
        self.stats = RunStats()

    def process(self, frame: Frame) -> FrameResult:
        """Detect, track and count one frame, and hand the result to every exporter."""
        st = self.stats.stages
        t0 = _time.perf_counter()
        detections = self.detector(frame.image)
        t1 = _time.perf_counter()
        tracked = self.tracker.update(detections, frame.image)
        t2 = _time.perf_counter()
        when = self.start_time + timedelta(seconds=frame.pts)
        events = self.counter.update(tracked, frame.index, when) if self.counter is not None else []
        t3 = _time.perf_counter()
        result = FrameResult(frame=frame, detections=tracked, events=events, time=when)
        for ex in self.exporters:
            ex.write(result)
        t4 = _time.perf_counter()
        st.detect += t1 - t0
        st.track += t2 - t1
        st.count += t3 - t2
        st.export += t4 - t3
        return result

    def run(self) -> RunStats:
        """Process the whole source (or until the stop event is set).

        Returns:
            The run's statistics. Exporters are closed whatever happens.
        """
        tally = _TrackTally()
        started = _time.perf_counter()
        reader_stop = threading.Event()
        frames = _prefetch(self.source, self.prefetch, reader_stop)
        try:
            while True:
                if self.stop_event.is_set():
                    self.stats.interrupted = True
                    break
                tw = _time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                self.stats.stages.wait += _time.perf_counter() - tw
                result = self.process(frame)
                tally.add(result.detections)
                self.stats.frames += 1
                self.stats.last_pts = frame.pts
                if self.on_frame is not None:
                    self.on_frame(result)
        finally:
            reader_stop.set()
            frames.close()
            self.stats.wall_seconds = _time.perf_counter() - started
            self.stats.unique_tracks = tally.counts()
            errors = []
            for ex in self.exporters:
                try:
                    ex.close()
                except Exception as e:  # keep closing the others; report after
                    log.exception("closing %s failed", type(ex).__name__)
                    errors.append(e)
            try:
                self.source.close()
            except Exception:
                log.exception("closing source %s failed", self.source.name)
        if errors:
            raise errors[0]
        return self.stats
