"""Run a batch's items as Ray tasks (``vtrack batch --ray auto|local|ADDRESS``).

Ray is the scheduler: each item becomes one task of :func:`vtrack.batch.worker.run_task` (the same
function the local process pool runs), declaring ``num_cpus`` (the ONNX Runtime threads per item) and,
when the model may run on CUDA and the cluster has GPUs, ``num_gpus``. Everything else stays with
:mod:`vtrack.batch.runner` on the driver: hashing and skipping, the manifest, moving finished outputs
into place, the progress bars, the merged summaries and the exit codes. So a batch through Ray writes
the same files as one through the local pool.

Where files live: a task reads its input and the model, and writes its outputs into
``OUT/.partial/<name>/``, by the paths the driver gives it; the driver then moves them into
``OUT/<name>/``. On more than one machine, inputs, model and ``--out`` must therefore be on storage every
node (and the driver) mounts at the same path (NFS, a cluster file system); a task that cannot see
them fails with a one-line error naming its node, and the batch goes on (exit 3).

Progress: tasks put the same ``("total" | "frames", name, n)`` tuples as local workers on a
``ray.util.queue.Queue`` (a small actor, 0 CPUs) that the driver drains.

Interruption (Ctrl-C / SIGTERM on the driver): queued tasks are cancelled, running ones get
``KeyboardInterrupt`` (``ray.cancel``), their partial outputs are discarded and they are reported as
interrupted (exit 130); finished items are kept, as locally. With ``--store`` each task writes its
video's counts to the store itself, as a local worker does (a cancelled task's run is marked
``interrupted``); a SQLite store is refused on a cluster of more than one node (use PostgreSQL). A task
whose worker process dies is retried once by Ray (``max_retries=1``), then failed with "the worker
process died".
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from vtrack.batch.worker import (
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    WorkResult,
    WorkTask,
    one_line,
    run_task,
    set_progress_queue,
)
from vtrack.errors import ConfigError
from vtrack.runtime import tune_malloc

logger = logging.getLogger(__name__)

LOCAL: Final = "local"
"""``--ray local``: start a throwaway Ray instance on this machine (all its cores)."""
POLL_S: Final = 0.1
MAX_RETRIES: Final = 1
"""Ray re-runs a task once when its worker process dies (as the local pool retries once)."""
GPU_PROVIDERS: Final = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
INSTALL_HINT: Final = "pip install 'vtrack[ray]'"

_started_here = False


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"--ray needs the 'ray' package, which is not installed: {INSTALL_HINT}") from e
    return ray


def connect(address: str, *, local_cpus: int, log_to_driver: bool = False) -> int:
    """Connect to (or, for ``"local"``, start) a Ray cluster; reuse a connection already made.

    Args:
        address: ``"local"`` (start Ray here), ``"auto"`` (the cluster this machine belongs to, as
            started by ``ray start``), or an address (``HOST:6379``, ``ray://HOST:10001``).
        local_cpus: CPUs given to a Ray started here.
        log_to_driver: show the tasks' log lines on this terminal.

    Returns:
        The cluster's CPUs (for planning tasks × threads).

    Raises:
        ConfigError: ray is not installed, or the cluster cannot be reached (one line).
    """
    global _started_here
    ray = _ray()
    if ray.is_initialized():
        logger.debug("ray already initialised; %s not used", address)
    else:
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": log_to_driver}
        try:
            if address == LOCAL:
                ray.init(num_cpus=local_cpus, include_dashboard=False, **kwargs)
            else:
                ray.init(address=address, **kwargs)
        except Exception as e:  # ConnectionError, ValueError, RuntimeError... from ray
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {one_line(e)}") from e
        _started_here = True
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise ConfigError(f"the Ray cluster at {address!r} has no CPUs to run tasks on")
    return cpus


def alive_nodes() -> int:
    """Nodes of the connected Ray cluster that are alive."""
    return sum(1 for n in _ray().nodes() if n.get("Alive"))


def disconnect() -> None:
    """Shut Ray down when :func:`connect` started or joined it (not when the caller had)."""
    global _started_here
    if _started_here:
        _ray().shutdown()
        _started_here = False


def gpus_per_task(requested: float | None, providers: Sequence[str] | None, cluster_gpus: float) -> float:
    """GPUs a task declares.

    Args:
        requested: ``--ray-gpus``; ``None``: 1 when the cluster has GPUs and the model may run on CUDA
            (``providers`` unset, or naming CUDA/TensorRT), else 0.
        providers: the model's ONNX Runtime providers (``None``: TensorRT, CUDA, CPU, whichever exist).
        cluster_gpus: GPUs in the cluster.

    Raises:
        ConfigError: a negative request, or GPUs requested from a cluster that has none.
    """
    if requested is not None:
        if requested < 0:
            raise ConfigError(f"--ray-gpus must be ≥ 0, got {requested}")
        if requested > 0 and cluster_gpus <= 0:
            raise ConfigError(f"--ray-gpus {requested}: the Ray cluster has no GPUs")
        return requested
    may_use_cuda = providers is None or any(p in GPU_PROVIDERS for p in providers)
    return 1.0 if may_use_cuda and cluster_gpus > 0 else 0.0


def _storage_problem(task: WorkTask) -> str | None:
    out_dir = Path(task.work_dir).parent.parent  # OUT/.partial/<name>
    for what, path in (("input", task.item.path), ("model", Path(task.model_path)), ("--out", out_dir)):
        if not path.exists():
            return (
                f"{what} {path} not found on Ray node {socket.gethostname()}: inputs, model and --out "
                "must be on storage every node mounts at the same path"
            )
    return None


def ray_task(task: WorkTask, progress: Any) -> WorkResult:
    """What one Ray task runs: check that the node sees the files, then the local worker's code.

    Args:
        task: the item and its settings (paths as the driver sees them).
        progress: a ``ray.util.queue.Queue`` for progress tuples, or ``None``.
    """
    tune_malloc()  # as the CLI does (vtrack.runtime): frame buffers stay on the heap
    problem = _storage_problem(task)
    if problem is not None:
        return WorkResult(name=task.item.name, status=STATUS_FAILED, error=problem)
    set_progress_queue(progress)
    try:
        return run_task(task)
    finally:
        set_progress_queue(None)


def run_on_ray(
    tasks: Sequence[WorkTask],
    *,
    threads: int,
    max_in_flight: int,
    gpus: float | None,
    providers: Sequence[str] | None,
    finish: Callable[[str, WorkResult], None],
    on_message: Callable[[str, str, int], None],
    should_stop: Callable[[], bool],
) -> None:
    """Run ``tasks`` on the connected cluster, at most ``max_in_flight`` at a time.

    Args:
        tasks: one per item.
        threads: ``num_cpus`` per task (its ONNX Runtime threads).
        max_in_flight: tasks submitted at once (``--workers``); Ray queues them by resources too.
        gpus: ``--ray-gpus`` (see :func:`gpus_per_task`).
        providers: the model's providers.
        finish: called on the driver with each item's result (done, failed or interrupted).
        on_message: progress tuples from the tasks, ``(kind, name, n)``.
        should_stop: polled; when true, pending tasks are cancelled and reported as interrupted.
    """
    ray = _ray()
    from ray.util.queue import Empty, Queue

    num_gpus = gpus_per_task(gpus, providers, float(ray.cluster_resources().get("GPU", 0)))
    remote = ray.remote(ray_task).options(num_cpus=threads, num_gpus=num_gpus, max_retries=MAX_RETRIES)
    progress = Queue(actor_options={"num_cpus": 0})
    logger.info(
        "ray: %d task(s), %d at a time, num_cpus=%d num_gpus=%g each; cluster %s",
        len(tasks),
        max_in_flight,
        threads,
        num_gpus,
        ray.cluster_resources(),
    )

    def drain() -> None:
        try:
            n = progress.size()
            if n:
                for kind, name, k in progress.get_nowait_batch(n):
                    on_message(kind, name, k)
        except Empty:
            return
        except Exception:  # the queue actor is gone: only progress is lost
            logger.debug("progress queue read failed", exc_info=True)

    todo = list(tasks)
    running: dict[Any, str] = {}
    stopped = False
    try:
        while todo or running:
            if should_stop() and not stopped:
                stopped = True
                for ref in running:
                    ray.cancel(ref)
                for t in todo:
                    finish(t.item.name, WorkResult(name=t.item.name, status=STATUS_INTERRUPTED))
                todo = []
            while todo and len(running) < max_in_flight:
                t = todo.pop(0)
                running[remote.remote(t, progress)] = t.item.name
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            drain()
            for ref in ready:
                name = running.pop(ref)
                finish(name, _result(ray, ref, name, stopped))
    finally:
        drain()
        for ref in running:
            ray.cancel(ref, force=True)
        progress.shutdown()


def _result(ray: Any, ref: Any, name: str, stopped: bool) -> WorkResult:
    from ray.exceptions import TaskCancelledError, WorkerCrashedError

    try:
        res: WorkResult = ray.get(ref)
        return res
    except TaskCancelledError:
        return WorkResult(name=name, status=STATUS_INTERRUPTED)
    except WorkerCrashedError:
        return WorkResult(name=name, status=STATUS_FAILED, error="the worker process died")
    except Exception as e:  # RayTaskError (KeyboardInterrupt after cancel), node loss, ...
        if stopped:
            return WorkResult(name=name, status=STATUS_INTERRUPTED)
        cause = getattr(e, "cause", None)
        return WorkResult(name=name, status=STATUS_FAILED, error=one_line(cause if cause is not None else e))
