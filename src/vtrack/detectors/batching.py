"""Cross-stream batching: frames of several callers run through one batched inference.

A :class:`BatchInferer` owns one thread. Callers (one per stream) hand it a prepared ``(1, 3, H, W)``
tensor and block; the thread gathers requests for up to ``max_wait_ms`` after the first one arrives,
or until ``max_batch`` requests (or one from every attached caller) are waiting, runs them through
:meth:`~vtrack.detectors.onnx_yolo.YoloOnnxDetector.infer_batch` (one call per tensor shape), and gives
each caller its own outputs back, or the error of the inference that carried its frame.

On a GPU one batched run of ``B`` frames costs far less than ``B`` runs; this needs a model exported
with a dynamic batch axis. The queue of waiting requests is bounded (``max_queue``): a caller blocks
while it is full. :meth:`BatchInferer.close` lets the running batch finish and fails every request still
waiting with :class:`BatcherClosedError`; submitting after that fails at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vtrack.errors import ConfigError, VtrackError

logger = logging.getLogger(__name__)

DEFAULT_MAX_WAIT_MS = 5.0
"""Longest the first request of a batch waits for others (a fraction of a 30 FPS frame interval)."""
MAX_BATCH_LIMIT = 256
JOIN_TIMEOUT_S = 10.0


class BatcherClosedError(VtrackError):
    """The batcher was closed before (or while) the request waited: no inference ran for it."""


class BatchModel(Protocol):
    """What a :class:`BatchInferer` runs: e.g. :class:`~vtrack.detectors.onnx_yolo.YoloOnnxDetector`."""

    def infer_batch(self, tensors: Sequence[np.ndarray], session: int = 0) -> list[list[np.ndarray]]: ...


@dataclass
class _Request:
    tensor: np.ndarray
    future: Future[list[np.ndarray]] = field(default_factory=Future)


class BatchInferer:
    """One thread that batches the frames of several callers into single inferences.

    Args:
        model: Runs a batch (its ``infer_batch``): a detector whose model has a dynamic batch axis.
        max_batch: Most frames per inference (>= 1).
        max_wait_ms: Longest the first frame of a batch waits for more (>= 0; 0: take what is queued).
        max_queue: Most requests waiting (>= ``max_batch``; default ``4 * max_batch``); submitters block
            while it is full.
        session: Which of the model's sessions runs the batches.
        name: The thread's name.

    Attributes:
        batches: Inferences run so far.
        frames: Frames run so far (``frames / batches`` is the mean batch size).

    Raises:
        ConfigError: A bad ``max_batch``, ``max_wait_ms`` or ``max_queue``.
    """

    def __init__(
        self,
        model: BatchModel,
        *,
        max_batch: int,
        max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
        max_queue: int | None = None,
        session: int = 0,
        name: str = "vtrack-batcher",
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH_LIMIT:
            raise ConfigError(f"max_batch must be in [1, {MAX_BATCH_LIMIT}], got {max_batch}")
        if not max_wait_ms >= 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        queue_size = 4 * max_batch if max_queue is None else max_queue
        if queue_size < max_batch:
            raise ConfigError(f"max_queue must be >= max_batch ({max_batch}), got {queue_size}")
        self.model = model
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = queue_size
        self.session = session
        self.batches = 0
        self.frames = 0
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._clients = 0
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ callers
    @property
    def closed(self) -> bool:
        """:meth:`close` was called."""
        return self._closed

    def attach(self) -> None:
        """Count a caller that will keep submitting (a stream worker): once every attached caller has a
        request waiting, the batch runs without waiting out ``max_wait_ms``. Pair with :meth:`detach`."""
        with self._cond:
            self._clients += 1
            self._cond.notify_all()

    def detach(self) -> None:
        """Forget a caller counted by :meth:`attach`."""
        with self._cond:
            self._clients = max(0, self._clients - 1)
            self._cond.notify_all()

    def submit(self, tensor: np.ndarray, timeout: float | None = None) -> Future[list[np.ndarray]]:
        """Queue a frame; its future resolves to its outputs (as ``infer`` returns them) or an error.

        The batcher reads ``tensor`` until the future is done: do not write into it before.

        Args:
            tensor: ``(1, 3, H, W)`` float32/float16, e.g. from ``YoloOnnxDetector.preprocess``.
            timeout: Longest to wait for room in the queue (``None``: as long as it takes).

        Returns:
            The request's future.

        Raises:
            BatcherClosedError: The batcher is closed.
            TimeoutError: The queue stayed full for ``timeout`` seconds.
            ValueError: ``tensor`` is not ``(1, 3, H, W)``.
        """
        if not isinstance(tensor, np.ndarray) or tensor.ndim != 4 or tensor.shape[0] != 1:
            shape = getattr(tensor, "shape", type(tensor).__name__)
            raise ValueError(f"expected a (1, 3, H, W) tensor, got {shape}")
        request = _Request(tensor)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while len(self._pending) >= self.max_queue and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"batch queue stayed full ({self.max_queue} frames) for {timeout} s")
                self._cond.wait(remaining)
            if self._closed:
                raise BatcherClosedError("the batcher is closed; no more frames are taken")
            self._pending.append(request)
            self._cond.notify_all()
        return request.future

    def infer(self, tensor: np.ndarray, timeout: float | None = None) -> list[np.ndarray]:
        """Submit a frame and wait for its outputs.

        Args:
            tensor: ``(1, 3, H, W)`` float32/float16.
            timeout: Longest to wait for room in the queue, then again for the result.

        Returns:
            The frame's outputs, as ``YoloOnnxDetector.infer`` gives them for it alone.

        Raises:
            BatcherClosedError: Closed before the frame ran.
            TimeoutError: No room or no result within ``timeout``.
            Exception: Whatever the inference that carried this frame raised.
        """
        return self.submit(tensor, timeout).result(timeout)

    def close(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Stop: the batch being run finishes, requests still waiting fail with
        :class:`BatcherClosedError`, and the thread ends. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("batcher thread still running after %.1f s (a slow inference)", timeout)

    def __enter__(self) -> BatchInferer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the thread
    def _full(self) -> bool:
        want = self.max_batch if self._clients <= 0 else min(self.max_batch, self._clients)
        return len(self._pending) >= want

    def _take(self) -> list[_Request] | None:
        """The next batch, or ``None`` when closed."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while not self._full() and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._closed:
                return None
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            self._cond.notify_all()  # room in the queue
            return batch

    def _serve(self) -> None:
        try:
            while (batch := self._take()) is not None:
                self._run(batch)
        finally:
            with self._cond:
                self._closed = True
                left = list(self._pending)
                self._pending.clear()
                self._cond.notify_all()
            for request in left:
                request.future.set_exception(
                    BatcherClosedError("the batcher was closed before this frame ran")
                )

    def _run(self, batch: list[_Request]) -> None:
        groups: dict[tuple[tuple[int, ...], str], list[_Request]] = {}
        for request in batch:  # frames of different letterbox shapes run separately
            groups.setdefault((request.tensor.shape, request.tensor.dtype.str), []).append(request)
        for requests in groups.values():
            try:
                outputs = self.model.infer_batch([r.tensor for r in requests], session=self.session)
                if len(outputs) != len(requests):
                    raise VtrackError(
                        f"a batch of {len(requests)} frames gave {len(outputs)} results; expected one each"
                    )
            except Exception as e:  # every caller of this group gets the error
                for r in requests:
                    r.future.set_exception(e)
                continue
            self.batches += 1
            self.frames += len(requests)
            for r, out in zip(requests, outputs, strict=True):
                r.future.set_result(out)
