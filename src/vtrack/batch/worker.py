"""What a worker process does: one item (a video through ``run_job``, or a photo folder) per call.

Workers are started with the ``spawn`` context (ONNX Runtime and PyAV hold threads that ``fork`` would
copy half-way). Each worker gets, through :func:`init_worker`, a progress queue, a stop event and the
parent's process id: it ignores SIGINT (the parent decides), stops cleanly at the next frame when the
stop event is set, and exits on its own when the parent disappears (``kill -9`` of ``vtrack batch``), so
no orphan keeps writing into the output folder.

SIGTERM to a worker (a service manager signalling the whole process group, or the pool terminating
the workers of a broken pool): an idle worker exits at once, as by default; a busy one stops its item at
the next frame and closes its outputs (its count-store run is committed and marked ``interrupted``:
nothing lost), returns the result, and exits :data:`EXIT_AFTER_SIGTERM_S` later (so that a pool that
terminated it is not left waiting for a process that would otherwise wait for more work).

Progress messages put on the queue (tuples):

* ``("total", name, frames)``: the item's source is open and will yield ``frames`` frames (images);
* ``("frames", name, k)``: ``k`` more frames done (sent at most every :data:`PROGRESS_INTERVAL_S`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from vtrack.batch.inputs import BatchItem
from vtrack.config import RunConfig
from vtrack.errors import VtrackError
from vtrack.runtime import tune_malloc

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S: Final = 0.25
PARENT_POLL_S: Final = 0.5
MAX_ERROR_CHARS: Final = 300
EXIT_ORPHANED: Final = 70
EXIT_AFTER_SIGTERM_S: Final = 1.0
"""A worker that got SIGTERM while busy exits this long after its item's result was returned."""

STATUS_DONE: Final = "done"
STATUS_FAILED: Final = "failed"
STATUS_INTERRUPTED: Final = "interrupted"

_queue: Any = None
_stop = threading.Event()
_busy = False  # an item is being processed (its outputs and count-store run are open)
_terminated = False  # SIGTERM arrived


@dataclass(frozen=True)
class WorkTask:
    """One item to process, everything a fresh process needs.

    Attributes:
        item: the video or photo folder.
        config: the run settings as ``RunConfig.model_dump(mode="json")``; ``source`` and ``output.dir``
            are set per item by the worker.
        model_path: the resolved ``.onnx`` file.
        work_dir: where to write the outputs (a scratch folder the parent moves into place on success).
        images_annotated: photo folders also get annotated images.
    """

    item: BatchItem
    config: dict[str, Any]
    model_path: str
    work_dir: str
    images_annotated: bool = False


@dataclass
class WorkResult:
    """What came of a :class:`WorkTask`.

    Attributes:
        name: the item's output name.
        status: ``"done"``, ``"failed"`` or ``"interrupted"``.
        error: one line, for ``"failed"``.
        frames: frames (images) processed.
        wall_seconds: time the worker spent on the item.
        summary: the item's ``summary.json`` content when it finished.
    """

    name: str
    status: str
    error: str | None = None
    frames: int = 0
    wall_seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


def one_line(err: BaseException) -> str:
    """An error as one line: ``message`` for vtrack errors, ``Type: message`` otherwise, shortened."""
    text = " ".join(str(err).split())
    if not isinstance(err, VtrackError):
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _watch(mp_stop: Any, parent_pid: int) -> None:
    while True:
        if mp_stop is not None and mp_stop.wait(PARENT_POLL_S):
            _stop.set()
        elif mp_stop is None:
            time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(EXIT_ORPHANED)


def init_worker(queue: Any, mp_stop: Any, parent_pid: int, log_level: int = logging.WARNING) -> None:
    """Process-pool initializer: progress queue, stop event, orphan watchdog, quiet logging.

    Args:
        queue: a ``multiprocessing`` queue for progress tuples, or ``None``.
        mp_stop: a ``multiprocessing`` event set by the parent to stop, or ``None``.
        parent_pid: the parent's pid; the worker exits when its parent changes (the parent died).
        log_level: logging level in the worker (messages go to stderr).
    """
    global _queue
    _queue = queue
    tune_malloc()  # as the CLI does (vtrack.runtime): frame buffers stay on the heap
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=log_level, format="%(processName)s %(levelname)s %(name)s: %(message)s")
    threading.Thread(target=_watch, args=(mp_stop, parent_pid), name="vtrack-watchdog", daemon=True).start()


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    global _terminated
    _terminated = True
    _stop.set()
    if not _busy:  # nothing open: go now, as the default action would
        os._exit(128 + signum)
    logger.warning("worker stopping (signal %s): finishing the current frame", signum)


def set_progress_queue(queue: Any) -> None:
    """Where this process sends progress tuples (``put_nowait``): a ``multiprocessing`` or Ray queue."""
    global _queue
    _queue = queue


class _Reporter:
    """Batches frame-progress messages for one item."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending = 0
        self.done = 0
        self.last = time.monotonic()

    def total(self, frames: int) -> None:
        self._put(("total", self.name, frames))

    def frame(self, *_args: object) -> None:
        self.pending += 1
        self.done += 1
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S:
            self.flush()
            self.last = now

    def flush(self) -> None:
        if self.pending:
            self._put(("frames", self.name, self.pending))
            self.pending = 0

    @staticmethod
    def _put(msg: tuple[str, str, int]) -> None:
        if _queue is not None:
            try:
                _queue.put_nowait(msg)
            except Exception:  # a full or closed queue only costs a progress update
                logger.debug("progress message dropped", exc_info=True)


def run_task(task: WorkTask) -> WorkResult:
    """Process one item; never raises for a bad input (the error is in the result).

    Args:
        task: the item and its settings.

    Returns:
        ``done`` with the item's summary, ``failed`` with a one-line error, or ``interrupted`` when the
        parent asked to stop.
    """
    global _busy
    t0 = time.perf_counter()
    item = task.item
    rep = _Reporter(item.name)
    work_dir = Path(task.work_dir)
    _busy = True
    try:
        cfg = RunConfig.model_validate(task.config)
        if item.kind == "video":
            result = _run_video(task, cfg, work_dir, rep)
        else:
            result = _run_photos(task, cfg, work_dir, rep)
    except Exception as e:
        logger.debug("%s failed", item.path, exc_info=True)
        result = WorkResult(name=item.name, status=STATUS_FAILED, error=one_line(e), frames=rep.done)
    finally:
        _busy = False
    rep.flush()
    result.wall_seconds = round(time.perf_counter() - t0, 3)
    if _terminated:  # SIGTERM while busy: return this result, then leave
        exit_later = threading.Timer(EXIT_AFTER_SIGTERM_S, os._exit, (128 + signal.SIGTERM,))
        exit_later.daemon = True
        exit_later.start()
    return result


def _run_video(task: WorkTask, cfg: RunConfig, work_dir: Path, rep: _Reporter) -> WorkResult:
    from vtrack.job import run_job

    cfg = cfg.model_copy(
        update={
            "source": str(task.item.path),
            "model": cfg.model.model_copy(update={"path": task.model_path}),
            "output": cfg.output.model_copy(update={"dir": str(work_dir)}),
        }
    )
    outcome = run_job(
        cfg,
        stop_event=_stop,
        on_start=lambda src: rep.total(int(src.frame_count or 0)),
        on_frame=rep.frame,
        store_stream=task.item.name,
    )
    status = STATUS_INTERRUPTED if outcome.summary.get("interrupted") else STATUS_DONE
    return WorkResult(
        name=task.item.name, status=status, frames=outcome.stats.frames, summary=outcome.summary
    )


def _run_photos(task: WorkTask, cfg: RunConfig, work_dir: Path, rep: _Reporter) -> WorkResult:
    from vtrack.batch.photos import process_photos

    rep.total(len(task.item.images))
    summary = process_photos(
        task.item.images,
        work_dir,
        cfg,
        task.model_path,
        annotate=task.images_annotated,
        on_image=rep.frame,
        should_stop=_stop.is_set,
    )
    status = STATUS_INTERRUPTED if summary.get("interrupted") else STATUS_DONE
    return WorkResult(name=task.item.name, status=status, frames=int(summary["images"]), summary=summary)
