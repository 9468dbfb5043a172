"""Run a batch: hash, skip what is done, process the rest in worker processes, merge the summaries.

Exit codes (see :class:`BatchReport.exit_code`): 0 every item done (processed now or before), 3 partial
(at least one item failed, the others were processed), 130 interrupted (Ctrl-C / SIGTERM; finished items
are kept and recorded, a rerun resumes). Bad usage (no input found, bad flag, bad model or class) is
raised as :class:`~vtrack.errors.VtrackError` before any work starts; the CLI exits 2.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vtrack.batch.inputs import BatchItem
from vtrack.batch.manifest import (
    STATUS_DONE,
    STATUS_FAILED,
    Manifest,
    file_fingerprint,
    item_fingerprint,
    settings_fingerprint,
)
from vtrack.batch.merge import MergeEntry, merge_batch
from vtrack.batch.store import check_store_on_cluster, prepare_store, store_settings, store_summary
from vtrack.batch.worker import STATUS_INTERRUPTED, WorkResult, WorkTask, init_worker, one_line, run_task
from vtrack.config import RunConfig
from vtrack.errors import ConfigError, ExportError
from vtrack.exporters._io import atomic_write_text
from vtrack.exporters.files import write_summary
from vtrack.runtime import available_cores

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_PARTIAL: Final = 3
EXIT_INTERRUPTED: Final = 130

PARTIAL_DIR: Final = ".partial"
LOCK_NAME: Final = ".lock"
POLL_S: Final = 0.1
MAX_ATTEMPTS: Final = 2
"""An item running when a worker process dies is retried once in a fresh pool, then failed."""


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Attributes:
        out_dir: the batch output folder.
        workers: worker processes; ``None``: see :func:`plan_workers`.
        threads: ONNX Runtime intra-op threads per worker; ``None``: see :func:`plan_workers`.
        images_annotated: photo folders also get annotated images.
        quiet: no progress bar.
        mp_context: ``"spawn"`` or ``"forkserver"``.
        ray: run the items as Ray tasks on this cluster (``"local"``, ``"auto"`` or an address, see
            :mod:`vtrack.batch.ray_backend`) instead of local processes; ``workers`` then caps the tasks
            in flight and the default plan uses the cluster's CPUs.
        ray_gpus: GPUs per Ray task (default: see :func:`vtrack.batch.ray_backend.gpus_per_task`).
    """

    out_dir: Path
    workers: int | None = None
    threads: int | None = None
    images_annotated: bool = False
    quiet: bool = False
    mp_context: str = "spawn"
    ray: str | None = None
    ray_gpus: float | None = None


@dataclass
class ItemOutcome:
    """What happened to one item in this invocation (``status``: done, skipped, failed, interrupted)."""

    item: BatchItem
    status: str
    error: str | None = None
    frames: int = 0
    wall_seconds: float = 0.0


@dataclass
class BatchReport:
    """The result of :func:`run_batch`."""

    out_dir: Path
    outcomes: list[ItemOutcome]
    workers: int
    threads: int
    wall_seconds: float
    summary: dict[str, Any] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """Items with ``status`` in this invocation."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        """130 interrupted, 3 partial (some item failed), 0 all done."""
        if self.count(STATUS_INTERRUPTED):
            return EXIT_INTERRUPTED
        if self.count(STATUS_FAILED):
            return EXIT_PARTIAL
        return EXIT_OK


def plan_workers(n_items: int, cores: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """Worker processes and ONNX Runtime threads per worker.

    Defaults keep ``workers × threads ≤ cores``: with neither given, one single-threaded worker per core
    (never more workers than items); with one given, the other fills the cores.

    Raises:
        ConfigError: ``workers`` or ``threads`` below 1.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be ≥ 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be ≥ 1, got {threads}")
    cores = max(1, cores)
    n = max(1, n_items)
    if workers is None:
        workers = min(n, max(1, cores // (threads or 1)))
    if threads is None:
        threads = max(1, cores // workers)
    return workers, threads


def settings_of(cfg: RunConfig, model_path: Path, *, images_annotated: bool) -> dict[str, Any]:
    """The settings that decide an item's outputs (hashed into the manifest)."""
    data = cfg.model_dump(
        mode="json", exclude={"source": True, "output": {"dir"}, "model": {"path", "threads"}}
    )
    if not data.get("privacy", {}).get("blur"):
        data.pop("privacy", None)  # no blur: the same hash as before the option existed
    data["store"] = store_settings(data.get("store"))
    data["model_file"] = file_fingerprint(model_path)
    data["images_annotated"] = images_annotated
    return data


def _probe_frames(item: BatchItem, stride: int) -> int:
    if item.kind == "photos":
        return len(item.images)
    try:
        import av

        with av.open(str(item.path)) as c:
            n = int(c.streams.video[0].frames or 0)
    except Exception:  # a broken file: its worker will report why
        return 0
    return math.ceil(n / stride) if n > 0 else 0


@contextlib.contextmanager
def _lock(out_dir: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with (out_dir / LOCK_NAME).open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise ConfigError(f"another vtrack batch is writing to {out_dir}") from e
        yield


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            logger.warning(
                "stopping (signal %s): running items finish their frame, finished ones are kept", signum
            )
        stop.set()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


class _Progress:
    """The overall bar: files and frames, with ETA from the frame rate."""

    def __init__(self, console: Console, enabled: bool, n_files: int, n_frames: int) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self.files = self.bar.add_task("files", total=n_files)
        self.frames = self.bar.add_task("frames", total=n_frames)
        self.expected: dict[str, int] = {}
        self.got: dict[str, int] = {}

    def set_expected(self, name: str, n: int) -> None:
        old = self.expected.get(name, 0)
        self.expected[name] = n
        total = self.bar.tasks[self.frames].total or 0
        self.bar.update(self.frames, total=max(0, total + n - old))

    def advance(self, name: str, k: int) -> None:
        self.got[name] = self.got.get(name, 0) + k
        self.bar.advance(self.frames, k)

    def finish(self, name: str) -> None:
        missing = self.expected.get(name, 0) - self.got.get(name, 0)
        if missing > 0:  # failed, short or interrupted: take its unprocessed frames off the total
            self.set_expected(name, self.expected[name] - missing)
        self.bar.advance(self.files, 1)


def run_batch(items: list[BatchItem], cfg: RunConfig, opts: BatchOptions, console: Console) -> BatchReport:
    """Process ``items`` with the settings of ``cfg``; write per-item outputs, the manifest and summaries.

    Args:
        items: from :func:`vtrack.batch.inputs.expand_inputs`.
        cfg: run settings (``source`` and ``output.dir`` are ignored; each item gets its own).
        opts: output folder, workers, threads.
        console: where progress and per-item failures are shown (stderr).

    Returns:
        The report; its ``exit_code`` is what the CLI exits with.

    Raises:
        VtrackError: the model or a class name is bad, the output folder is locked or unwritable, or the
            count store cannot be opened (or is SQLite on a Ray cluster of several nodes).
    """
    from vtrack.batch.photos import make_detector
    from vtrack.detectors.export import resolve_model

    t0 = time.perf_counter()
    out_dir = opts.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the output folder {out_dir}: {e}") from e
    model_path = Path(resolve_model(cfg.model.path, imgsz=cfg.model.imgsz or 640))
    make_detector(cfg.model_copy(update={"model": cfg.model.model_copy(update={"threads": 1})}), model_path)
    cfg = prepare_store(cfg, Path.cwd())
    settings_hash = settings_fingerprint(settings_of(cfg, model_path, images_annotated=opts.images_annotated))

    with _lock(out_dir):
        shutil.rmtree(out_dir / PARTIAL_DIR, ignore_errors=True)
        manifest = Manifest(out_dir)
        outcomes: dict[str, ItemOutcome] = {}
        todo: list[tuple[BatchItem, str]] = []
        for item in items:
            try:
                content_hash = item_fingerprint(item)
            except OSError as e:
                outcomes[item.name] = ItemOutcome(item, STATUS_FAILED, f"cannot read: {e}")
                continue
            if manifest.is_done(item, content_hash, settings_hash, out_dir):
                outcomes[item.name] = ItemOutcome(item, "skipped")
                logger.info("skipped (done before, unchanged): %s", item.path)
            else:
                todo.append((item, content_hash))
        cores = available_cores()
        if opts.ray is not None and todo:
            from vtrack.batch.ray_backend import connect

            log_to_driver = logging.getLogger("vtrack").getEffectiveLevel() <= logging.INFO
            cores = connect(opts.ray, local_cpus=cores, log_to_driver=log_to_driver)
            if cfg.store:
                from vtrack.batch.ray_backend import alive_nodes

                check_store_on_cluster(cfg.store, alive_nodes())
        workers, threads = plan_workers(len(todo), cores, opts.workers, opts.threads)
        if todo:
            _process(
                todo, cfg, opts, console, manifest, settings_hash, model_path, workers, threads, outcomes
            )
        ordered = [outcomes[i.name] for i in items]
        entries = [
            MergeEntry(
                name=o.item.name,
                kind=o.item.kind,
                input=str(o.item.path),
                status=STATUS_DONE if o.status in (STATUS_DONE, "skipped") else STATUS_FAILED,
                error=o.error if o.status != STATUS_INTERRUPTED else "interrupted",
            )
            for o in ordered
        ]
        csv_text, summary = merge_batch(out_dir, entries)
        wall = time.perf_counter() - t0
        processed = sum(1 for o in ordered if o.status == STATUS_DONE)
        summary["run"] = {
            "processed": processed,
            "skipped": sum(1 for o in ordered if o.status == "skipped"),
            "failed": sum(1 for o in ordered if o.status == STATUS_FAILED),
            "interrupted": sum(1 for o in ordered if o.status == STATUS_INTERRUPTED),
            "workers": workers,
            "threads_per_worker": threads,
            "backend": "ray" if opts.ray is not None else "processes",
            "wall_seconds": round(wall, 3),
            "files_per_minute": round(processed / wall * 60, 2) if wall > 0 else 0.0,
            "settings_hash": settings_hash,
        }
        store = store_summary(cfg)
        if store is not None:
            summary["store"] = store
        with contextlib.suppress(OSError):
            (out_dir / PARTIAL_DIR).rmdir()  # only when empty
        atomic_write_text(out_dir / "summary.csv", csv_text)
        write_summary(out_dir / "summary.json", summary)
    if opts.ray is not None:
        from vtrack.batch.ray_backend import disconnect

        disconnect()
    return BatchReport(out_dir, ordered, workers, threads, wall, summary)


def _process(
    todo: list[tuple[BatchItem, str]],
    cfg: RunConfig,
    opts: BatchOptions,
    console: Console,
    manifest: Manifest,
    settings_hash: str,
    model_path: Path,
    workers: int,
    threads: int,
    outcomes: dict[str, ItemOutcome],
) -> None:
    out_dir = opts.out_dir
    run_cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"threads": threads})})
    config = run_cfg.model_dump(mode="json")
    hashes = {item.name: h for item, h in todo}
    tasks = {
        item.name: WorkTask(
            item=item,
            config=config,
            model_path=str(model_path),
            work_dir=str(out_dir / PARTIAL_DIR / item.name),
            images_annotated=opts.images_annotated,
        )
        for item, _ in todo
    }
    attempts: dict[str, int] = dict.fromkeys(tasks, 0)
    ctx = mp.get_context(opts.mp_context)
    queue = ctx.Queue()
    mp_stop = ctx.Event()
    stop = threading.Event()
    progress = _Progress(
        console,
        enabled=not opts.quiet and console.is_terminal,
        n_files=len(todo),
        n_frames=0,
    )
    for item, _ in todo:
        progress.set_expected(item.name, _probe_frames(item, cfg.stride))
    logger.info("%d item(s) to process with %d worker(s) × %d thread(s)", len(todo), workers, threads)

    def finish(name: str, res: WorkResult) -> None:
        item = tasks[name].item
        work_dir = Path(tasks[name].work_dir)
        if res.status == STATUS_DONE:
            final = out_dir / name
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work_dir, final)
            manifest.append(
                {
                    "key": item.key,
                    "name": name,
                    "status": STATUS_DONE,
                    "content_hash": hashes[name],
                    "settings_hash": settings_hash,
                    "frames": res.frames,
                    "wall_seconds": res.wall_seconds,
                }
            )
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
        if res.status == STATUS_FAILED:
            manifest.append(
                {
                    "key": item.key,
                    "name": name,
                    "status": STATUS_FAILED,
                    "content_hash": hashes[name],
                    "settings_hash": settings_hash,
                    "error": res.error,
                }
            )
            progress.bar.console.print(
                f"[bold red]failed:[/] {item.path}: {res.error}", highlight=False, soft_wrap=True
            )
        decode_errors = res.summary.get("decode_errors") or []
        if res.status == STATUS_DONE and decode_errors:
            progress.bar.console.print(
                f"[yellow]warning:[/] {item.path}: {len(decode_errors)} decode problem(s); processed the "
                f"{res.frames} frames that decoded (first: {decode_errors[0]})",
                highlight=False,
                soft_wrap=True,
            )
        outcomes[name] = ItemOutcome(item, res.status, res.error, res.frames, res.wall_seconds)
        progress.finish(name)

    def drain() -> None:
        while True:
            try:
                kind, name, n = queue.get_nowait()
            except Exception:  # queue.Empty, or a closed queue
                return
            if kind == "total":
                progress.set_expected(name, n)
            elif kind == "frames":
                progress.advance(name, n)

    if opts.ray is not None:
        from vtrack.batch.ray_backend import run_on_ray

        def on_message(kind: str, name: str, n: int) -> None:
            if kind == "total":
                progress.set_expected(name, n)
            elif kind == "frames":
                progress.advance(name, n)

        with _stop_on_signals(stop), progress.bar:
            run_on_ray(
                list(tasks.values()),
                threads=threads,
                max_in_flight=workers,
                gpus=opts.ray_gpus,
                providers=cfg.model.providers,
                finish=finish,
                on_message=on_message,
                should_stop=stop.is_set,
            )
        queue.close()
        return

    pending_names = list(tasks)
    with _stop_on_signals(stop), progress.bar:
        while pending_names:
            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(pending_names)),
                mp_context=ctx,
                initializer=init_worker,
                initargs=(queue, mp_stop, os.getpid(), logging.getLogger("vtrack").getEffectiveLevel()),
            )
            futures: dict[Future[WorkResult], str] = {
                pool.submit(run_task, tasks[n]): n for n in pending_names
            }
            broken: list[str] = []
            try:
                waiting = set(futures)
                while waiting:
                    if stop.is_set() and not mp_stop.is_set():
                        mp_stop.set()
                        for f in waiting:
                            f.cancel()
                    done, waiting = wait(waiting, timeout=POLL_S, return_when=FIRST_COMPLETED)
                    drain()
                    for f in done:
                        name = futures[f]
                        if f.cancelled():
                            outcomes[name] = ItemOutcome(tasks[name].item, STATUS_INTERRUPTED)
                            continue
                        try:
                            res = f.result()
                        except BrokenProcessPool:
                            broken.append(name)
                            continue
                        except Exception as e:  # pickling or another pool error: this item fails
                            res = WorkResult(name=name, status=STATUS_FAILED, error=one_line(e))
                        finish(name, res)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                drain()
            pending_names = []
            for name in broken:
                attempts[name] += 1
                if attempts[name] >= MAX_ATTEMPTS or stop.is_set():
                    finish(name, WorkResult(name=name, status=STATUS_FAILED, error="the worker process died"))
                else:
                    pending_names.append(name)
            if pending_names:
                logger.warning(
                    "a worker process died; retrying %d item(s) in a fresh pool", len(pending_names)
                )
    queue.close()
