"""The pipeline runner: source → detector → tracker → counter → exporters.

Three stages on threads joined by bounded queues (decoding, resizing and ONNX Runtime all release
the GIL, so the stages overlap):

1. a reader thread decodes each frame and letterboxes it straight into an input tensor taken from a
   small pool (one tensor per frame in flight, never shared);
2. one inference thread per ONNX Runtime session (frame-level parallelism: on a few CPU cores,
   two 1-thread sessions side by side beat one 2-thread session) hands the tensor back to the pool;
3. the calling thread re-orders results by frame number and runs post-processing (decode + NMS),
   the frame step (:class:`~vtrack.pipeline.step.FrameStep`: tracking and counting, the same step
   ``vtrack serve`` runs) and the exporters in frame order, so stateful stages need no locks (the
   annotated-video exporter encodes on its own thread).

With ``detect_every=K`` (``--stride K`` with a step that can carry its tracks) the detector runs
on every K-th frame only; the frames between skip letterboxing and inference and go to
:meth:`FrameStep.carry <vtrack.pipeline.step.FrameStep.carry>`, so tracking and counting still see
every frame.

Detectors without the split API (``preprocess``/``infer``/``postprocess``) run whole on one
inference thread. ``sequential=True`` keeps the plain loop (decode-ahead thread, then
:meth:`Pipeline.process` per frame), the reference the pipelined runner is tested against.
A stop event ends the run early (Ctrl-C, SIGTERM); ``finally`` blocks close every exporter so each
output file is complete and valid for the frames done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time as _time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import numpy as np
import supervision as sv

from vtrack.detectors.base import Detector
from vtrack.errors import VtrackError
from vtrack.exporters.base import Exporter
from vtrack.pipeline.step import FrameStep
from vtrack.stream.base import Source
from vtrack.types import Frame, FrameResult

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 4
_END = object()
_POLL_S = 0.1
"""How often a blocked stage thread looks at the stop flag."""


@runtime_checkable
class SplitDetector(Protocol):
    """A detector split into stages, so frames can be in flight in several stages at once.

    ``YoloOnnxDetector`` implements it; ``detector(image)`` must equal
    ``postprocess(infer(*preprocess(image)[:1]), geom, image.shape)``.
    """

    @property
    def sessions(self) -> int:
        """Inference sessions that may run frames concurrently."""
        ...

    def preprocess(self, image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        """BGR ``(H, W, 3)`` uint8 → ``(tensor, geometry)``, reusing ``out`` when it fits."""
        ...

    def infer(self, tensor: np.ndarray, session: int = 0) -> Any:
        """Run session ``session`` on ``tensor``; thread-safe across sessions."""
        ...

    def postprocess(
        self, outputs: Any, geom: Any, frame_shape: tuple[int, ...] | None = None
    ) -> sv.Detections:
        """Raw outputs → detections in frame pixels."""
        ...


def ms_per_frame(seconds: float, frames: int) -> float:
    """``seconds`` spread over ``frames`` (at least 1), in milliseconds rounded to 0.01."""
    return round(seconds * 1000.0 / max(frames, 1), 2)


@dataclass
class StageTimes:
    """Accumulated seconds spent in each stage.

    ``decode``/``preprocess`` run on the reader thread, ``inference`` is summed over the inference
    threads, the rest runs on the pipeline thread; ``detect`` is the whole detector call of the
    sequential loop (and of detectors without the split API); ``wait`` is the pipeline thread idle.
    """

    detect: float = 0.0
    track: float = 0.0
    count: float = 0.0
    export: float = 0.0
    wait: float = 0.0
    decode: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        return {k: ms_per_frame(v, frames) for k, v in self.__dict__.items()}


@dataclass
class CpuTimes:
    """CPU seconds spent while a run ran, by thread (user + system).

    Stage times (:class:`StageTimes`) are wall-clock and include time a thread waited for a core;
    these are what each thread actually used, so on a machine whose cores are all busy they add up to
    the work per frame. ``process`` is the whole process (libraries' own threads, e.g. FFmpeg's frame
    decoding threads, and anything else the process runs at the same time included).
    """

    process: float = 0.0
    reader: float = 0.0
    inference: float = 0.0
    pipeline: float = 0.0

    @property
    def other(self) -> float:
        """Process CPU not used by the runner's own Python threads (decoder threads, OpenCV's pool, ...)."""
        return max(self.process - self.reader - self.inference - self.pipeline, 0.0)

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        """Milliseconds of CPU per frame: process, reader, inference, pipeline, other."""
        values = {**self.__dict__, "other": self.other}
        return {k: ms_per_frame(v, frames) for k, v in values.items()}


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
        cpu: CPU used by each thread of the run.
    """

    frames: int = 0
    last_pts: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    unique_tracks: dict[str, int] = field(default_factory=dict)
    stages: StageTimes = field(default_factory=StageTimes)
    cpu: CpuTimes = field(default_factory=CpuTimes)

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
    """Runs one source through the detector, the frame step and the exporters.

    Args:
        source: frames to process.
        detector: ONNX YOLO detector (or anything with the Detector protocol).
        step: tracks and counts each frame (see :class:`~vtrack.pipeline.step.FrameStep`).
        exporters: each gets every ``FrameResult``; all are closed at the end, also on error.
        start_time: wall-clock time of the source's first frame (timezone-aware).
        stop_event: set it (from a signal handler or another thread) to stop early.
        on_frame: called after each frame with the result (e.g. a progress bar).
        prefetch: frames decoded (and letterboxed) ahead on the reader thread.
        workers: inference threads; default: ``detector.sessions`` for a :class:`SplitDetector`, else 1.
            More than the detector's sessions is an error (a session runs one frame at a time).
        sequential: run the plain loop (detector, step, exporters one frame at a time on the
            calling thread, only decoding ahead) instead of the pipelined stages.
        stats: where the run's statistics are kept (default: a new :class:`RunStats`); pass one to
            read them from elsewhere while the run goes on.
        detect_every: run the detector on frames whose index is a multiple of this and carry the
            tracks over the others (:meth:`FrameStep.carry`; the step needs a propagator).
    """

    def __init__(
        self,
        source: Source,
        detector: Detector,
        step: FrameStep,
        exporters: list[Exporter],
        *,
        start_time: datetime,
        stop_event: threading.Event | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        workers: int | None = None,
        sequential: bool = False,
        stats: RunStats | None = None,
        detect_every: int = 1,
    ) -> None:
        self.source = source
        self.detector = detector
        self.step = step
        self.exporters = exporters
        self.start_time = start_time
        self.stop_event = stop_event or threading.Event()
        self.on_frame = on_frame
        self.prefetch = prefetch
        self.sequential = sequential
        split = isinstance(detector, SplitDetector)
        available = detector.sessions if split else 1  # type: ignore[attr-defined]
        self.workers = available if workers is None else workers
        if not 1 <= self.workers <= available:
            raise ValueError(f"workers must be in [1, {available}] for this detector, got {workers}")
        self.stats = stats if stats is not None else RunStats()
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if detect_every > 1 and not step.can_carry:
            raise ValueError("detect_every > 1 needs a frame step that carries its tracks between detections")
        self.detect_every = detect_every

    def process(self, frame: Frame) -> FrameResult:
        """Detect (or carry), track and count one frame, and hand the result to every exporter."""
        if frame.index % self.detect_every:
            return self._carry_and_export(frame)
        t0 = _time.perf_counter()
        detections = self.detector(frame.image)
        self.stats.stages.detect += _time.perf_counter() - t0
        return self._step_and_export(frame, detections)

    def _step_and_export(self, frame: Frame, detections: sv.Detections) -> FrameResult:
        """The frame step, then every exporter."""
        result = self.step(frame, detections, time=self.start_time + timedelta(seconds=frame.pts))
        return self._export(result)

    def _carry_and_export(self, frame: Frame) -> FrameResult:
        """The frame step without detections (tracks carried), then every exporter."""
        return self._export(self.step.carry(frame, time=self.start_time + timedelta(seconds=frame.pts)))

    def _export(self, result: FrameResult) -> FrameResult:
        t0 = _time.perf_counter()
        for ex in self.exporters:
            ex.write(result)
        self.stats.stages.export += _time.perf_counter() - t0
        return result

    def run(self) -> RunStats:
        """Process the whole source (or until the stop event is set).

        Returns:
            The run's statistics. Exporters are closed whatever happens.

        Raises:
            Exception: whatever a stage raised (source, detector, tracker, counter, exporter), after
                every exporter and the source were closed.
        """
        tally = _TrackTally()
        started = _time.perf_counter()
        cpu0, thread0 = _time.process_time(), _time.thread_time()
        self._ended: float | None = None
        errors: list[Exception] = []
        try:
            if self.sequential:
                self._run_sequential(tally)
            else:
                self._run_pipelined(tally)
        finally:
            # until the last frame was handed on: frames still in flight when a stop came are
            # dropped, and waiting for their inference to finish is not part of the run
            ended = self._ended if self._ended is not None else _time.perf_counter()
            self.stats.wall_seconds = ended - started
            self.stats.cpu.process = _time.process_time() - cpu0
            self.stats.cpu.pipeline = _time.thread_time() - thread0
            self.stats.unique_tracks = tally.counts()
            self.stats.stages.track = self.step.times.track
            self.stats.stages.count = self.step.times.count
            for ex in self.exporters:
                try:
                    ex.close()
                except VtrackError as e:  # one line (the first is raised below); keep closing the others
                    level = logging.INFO if errors else logging.DEBUG
                    log.log(level, "closing %s failed: %s", type(ex).__name__, e)
                    errors.append(e)
                except Exception as e:  # a bug: with its traceback
                    log.exception("closing %s failed", type(ex).__name__)
                    errors.append(e)
            try:
                self.source.close()
            except Exception:
                log.exception("closing source %s failed", self.source.name)
        if errors:
            raise errors[0]
        return self.stats

    def _finish_frame(self, result: FrameResult, tally: _TrackTally) -> None:
        tally.add(result.detections)
        self.stats.frames += 1
        self.stats.last_pts = result.frame.pts
        if self.on_frame is not None:
            self.on_frame(result)

    def _run_sequential(self, tally: _TrackTally) -> None:
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
                self._finish_frame(self.process(frame), tally)
        finally:
            self._ended = _time.perf_counter()
            reader_stop.set()
            frames.close()

    def _run_pipelined(self, tally: _TrackTally) -> None:
        stages = _Stages(
            self.detector, self.source, self.prefetch, self.workers, self.stats.stages, self.stats.cpu,
            self.detect_every,
        )
        stages.start()
        st = self.stats.stages
        pending: dict[int, _Item] = {}
        next_seq = 0
        try:
            while True:
                if self.stop_event.is_set():
                    self.stats.interrupted = True
                    break
                tw = _time.perf_counter()
                while next_seq not in pending and not self.stop_event.is_set():
                    try:
                        item = stages.get(_POLL_S)
                    except queue.Empty:
                        continue
                    pending[item.seq] = item
                st.wait += _time.perf_counter() - tw
                if next_seq not in pending:  # stopped while waiting for the next frame
                    self.stats.interrupted = True
                    break
                item = pending.pop(next_seq)
                next_seq += 1
                if item.error is not None:
                    raise item.error
                if item.frame is None:  # end of the source
                    break
                if not item.detect:
                    self._finish_frame(self._carry_and_export(item.frame), tally)
                    continue
                tp = _time.perf_counter()
                if stages.split:
                    detections = self.detector.postprocess(  # type: ignore[attr-defined]
                        item.outputs, item.geom, item.frame.image.shape
                    )
                    st.postprocess += _time.perf_counter() - tp
                else:
                    detections = item.outputs
                self._finish_frame(self._step_and_export(item.frame, detections), tally)
        finally:
            self._ended = _time.perf_counter()
            stages.stop()


@dataclass
class _Item:
    """One frame travelling through the stages; ``frame is None`` marks the end of the source."""

    seq: int
    frame: Frame | None = None
    detect: bool = True
    tensor: Any = None
    geom: Any = None
    outputs: Any = None
    error: BaseException | None = None


class _Stages:
    """The reader thread and the inference threads of a pipelined run.

    Frames in flight are bounded: one being read, ``prefetch`` in the input queue, one per inference
    thread, ``prefetch + workers`` in the output queue. Tensors go back to the pool as soon as their
    inference is done, so at most ``prefetch + workers + 1`` are ever allocated.
    """

    def __init__(
        self,
        detector: Detector,
        source: Source,
        prefetch: int,
        workers: int,
        times: StageTimes,
        cpu: CpuTimes,
        detect_every: int = 1,
    ) -> None:
        self.detector = detector
        self.detect_every = detect_every
        self.source = source
        self.split = isinstance(detector, SplitDetector)
        self.workers = workers
        self.times = times
        self.cpu = cpu
        depth = max(prefetch, 1)
        self.q_in: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        self.q_out: queue.Queue[_Item] = queue.Queue(maxsize=depth + workers)
        self.pool: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self.halt = threading.Event()
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self.threads.append(
            threading.Thread(target=self._read, name=f"reader-{self.source.name}", daemon=True)
        )
        for i in range(self.workers):
            self.threads.append(
                threading.Thread(target=self._infer, args=(i,), name=f"infer-{i}", daemon=True)
            )
        for t in self.threads:
            t.start()

    def get(self, timeout: float) -> _Item:
        """The next result off the inference threads (any frame order).

        Raises:
            queue.Empty: nothing came within ``timeout`` seconds.
        """
        return self.q_out.get(timeout=timeout)

    def stop(self) -> None:
        """Stop and join every stage thread (they look at the flag every ``_POLL_S``)."""
        self.halt.set()
        for t in self.threads:
            while t.is_alive():
                t.join(_POLL_S)
                self._drain(self.q_out)

    @staticmethod
    def _drain(q: queue.Queue[_Item]) -> None:
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                return

    def _put(self, q: queue.Queue[_Item], item: _Item) -> bool:
        while not self.halt.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        seq = 0
        split = self.split
        detector = self.detector
        decode = prep = 0.0
        cpu0 = _time.thread_time()
        try:
            frames = iter(self.source)
            while not self.halt.is_set():
                t0 = _time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                t1 = _time.perf_counter()
                if frame.index % self.detect_every:  # carried: no tensor, no inference
                    if not self._put(self.q_in, _Item(seq, frame, detect=False)):
                        return
                    seq += 1
                    decode += t1 - t0
                    continue
                if split:
                    try:
                        buf: np.ndarray | None = self.pool.get_nowait()
                    except queue.Empty:
                        buf = None
                    tensor, geom = detector.preprocess(frame.image, buf)  # type: ignore[attr-defined]
                else:
                    tensor, geom = frame.image, None
                t2 = _time.perf_counter()
                decode += t1 - t0
                prep += t2 - t1
                if not self._put(self.q_in, _Item(seq, frame, tensor=tensor, geom=geom)):
                    return
                seq += 1
            else:
                return
        except BaseException as e:  # handed to the pipeline thread in frame order, re-raised there
            self._put(self.q_in, _Item(seq, error=e))
            return
        finally:
            with self._lock:
                self.times.decode += decode
                self.times.preprocess += prep
                self.cpu.reader += _time.thread_time() - cpu0
        self._put(self.q_in, _Item(seq))

    def _infer(self, session: int) -> None:
        busy = 0.0
        cpu0 = _time.thread_time()
        try:
            while not self.halt.is_set():
                try:
                    item = self.q_in.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item.frame is None:  # end or error: pass it on, and back for the other threads
                    self._put(self.q_out, item)
                    self._put(self.q_in, item)
                    return
                if not item.detect:
                    if not self._put(self.q_out, item):
                        return
                    continue
                t0 = _time.perf_counter()
                try:
                    if self.split:
                        item.outputs = self.detector.infer(item.tensor, session)  # type: ignore[attr-defined]
                        self.pool.put(item.tensor)
                    else:
                        item.outputs = self.detector(item.tensor)
                except BaseException as e:
                    item.error = e
                item.tensor = None
                busy += _time.perf_counter() - t0
                if not self._put(self.q_out, item) or item.error is not None:
                    return
        finally:
            with self._lock:
                self.times.inference += busy
                self.cpu.inference += _time.thread_time() - cpu0
