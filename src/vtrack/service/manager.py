"""Many live streams in one process: one detector shared, one :class:`StreamWorker` per stream.

:class:`StreamManager` loads the shared detector (and the cross-stream batcher when ``model.batch``
> 1 and the model takes a batch), starts, adds, restarts and removes streams at run time, and answers
for their status. What one stream does is in :mod:`vtrack.service.worker`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from vtrack.config import DeploymentConfig, StreamConfig
from vtrack.detectors.batching import BatchInferer
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.errors import ConfigError
from vtrack.metrics import Metrics
from vtrack.pipeline.compose import load_detector
from vtrack.runtime import available_cores
from vtrack.service.schemas import StreamStatus
from vtrack.service.worker import (
    DailyStoreRuns,
    LiveSourceLike,
    SourceFactory,
    StreamWorker,
    live_source_factory,
    safe_source,
    scrub,
)

__all__ = [
    "DailyStoreRuns",
    "LiveSourceLike",
    "SourceFactory",
    "StreamManager",
    "StreamStatus",
    "StreamWorker",
    "live_source_factory",
    "safe_source",
    "scrub",
]

log = logging.getLogger(__name__)


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
        """Load the shared detector (once).

        With one stream (or none yet) and no ``model.sessions``/``model.threads`` set, the detector
        runs one inference at a time on every core: a stream's worker detects one frame after
        another, so parallel sessions would leave cores idle (live test, bike clip uncapped, OpenVINO
        bf16 on 2 cores: 13.5 detections a second against 9.5 with 2 sessions x 1 thread). Several
        streams keep the planned parallel layout.
        """
        if self.detector is None:
            mc = self.config.model
            enabled = [s for s in self.config.streams if s.enabled]
            if len(enabled) <= 1 and mc.sessions is None and mc.threads is None and mc.batch <= 1:
                cores = available_cores()
                log.info("one stream: one inference at a time with %d thread(s)", cores)
                mc = mc.model_copy(update={"sessions": 1, "threads": cores})
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
        return StreamStatus(  # not enabled: the figures of a stream that has not run
            id=cfg.id, source=safe_source(cfg.source), enabled=cfg.enabled, state="stopped",
            lines=[ln.name for ln in cfg.counting.lines], classes=cfg.classes,
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
