"""One ``vtrack run``: build every stage from a :class:`RunConfig`, run it, write the outputs.

Outputs in the run's folder:
``annotated.mp4`` (H.264), ``events.jsonl``, ``counts.csv``, ``tracks.txt`` (MOTChallenge) and
``summary.json``; with zones also ``zone_events.jsonl`` and ``zones.csv``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vtrack.analytics.composite import CounterSet
from vtrack.config import RunConfig
from vtrack.errors import ConfigError, ExportError, SourceError
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.exporters.base import Exporter
from vtrack.exporters.files import (
    CountsCsvExporter,
    EventsJsonlExporter,
    MotTracksExporter,
    ZoneEventsJsonlExporter,
    ZonesCsvExporter,
    write_summary,
)
from vtrack.exporters.store import RunInfo, StoreExporter, open_store, parse_store_url
from vtrack.exporters.store.exporter import RUN_FINISHED, RUN_INTERRUPTED
from vtrack.exporters.video import AnnotatedVideoExporter
from vtrack.pipeline.compose import build_step, canonical_classes, carries, load_detector
from vtrack.stream.base import Source
from vtrack.stream.runner import Pipeline, RunStats, ms_per_frame
from vtrack.stream.sources import open_source, probe_start_time
from vtrack.subclasses.runtime import counted_classes, detector_classes, open_stage, subclass_summary
from vtrack.trackers import AutoTracker
from vtrack.types import FrameResult

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """The result of :func:`run_job`."""

    out_dir: Path
    summary: dict[str, Any]
    stats: RunStats
    decode_errors: list[str]


def as_utc(t: datetime) -> datetime:
    """A naive time is taken as UTC; an aware one is kept in its own zone."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def resolve_start_time(cfg: RunConfig, source_path: str) -> tuple[datetime, str]:
    """Start time of the source and where it came from (``"flag"``, ``"creation_time"``, ``"file_mtime"``)."""
    if cfg.start_time is not None:
        return as_utc(cfg.start_time), "flag"
    return probe_start_time(source_path)


def default_out_dir(source: Source) -> Path:
    """``runs/<source name>``."""
    return Path("runs") / source.name


def default_run_id(source_path: str, start_time: datetime) -> str:
    """The run id used when none is given: ``<stem>-<10 hex>``.

    The hash covers the source's absolute path and its resolved start time (UTC) — what identifies
    the footage — and not the detector/tracker settings: re-running a file after tuning settings
    replaces its counts rather than adding a second copy of them. Pass a run id to keep both.
    """
    start_utc = as_utc(start_time).astimezone(timezone.utc).isoformat()
    key = f"{Path(source_path).expanduser().resolve()}|{start_utc}"
    return f"{Path(source_path).stem or 'run'}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def store_run_info(
    cfg: RunConfig, source: Source, start_time: datetime, start_source: str, *, stream: str | None = None
) -> RunInfo:
    """The count store's record of this run (stream name: ``stream``, default the source's name)."""
    source_path = cfg.source or source.name
    return RunInfo(
        run_id=cfg.run_id or default_run_id(source_path, start_time),
        stream=stream or source.name,
        source=source_path,
        start_time=start_time,
        start_time_source=start_source,
        timezone=cfg.timezone,
        settings=cfg.model_dump_json(exclude={"store"}),
    )


def build_outputs(
    cfg: RunConfig,
    out_dir: Path,
    source: Source,
    counters: CounterSet | None,
    class_names: dict[int, str],
    *,
    run_info: RunInfo | None = None,
    status_of: Callable[[], str] | None = None,
) -> list[Exporter]:
    """Create the exporters of a run in ``out_dir`` (and the count store's, when ``cfg.store`` is set).

    The store is opened first, so a bad or unreachable store fails before any file is truncated.

    Args:
        cfg: the run.
        out_dir: the output folder (created).
        source: the opened source (frame size and rate of the video).
        counters: the run's counters (lines and zones drawn on the video, their totals), or ``None``.
        class_names: the model's class names (labels on the video).
        run_info: the count store's record of the run (default: made from ``cfg`` now).
        status_of: the store run's final status when no error propagates (default ``finished``).

    Raises:
        StoreError: the store cannot be opened (one line).
    """
    zones = counters is not None and counters.zones is not None
    store_exporter: StoreExporter | None = None
    if cfg.store:
        if run_info is None:
            run_info = store_run_info(cfg, source, datetime.now(timezone.utc), "wall_clock")
        store_exporter = StoreExporter(open_store(cfg.store), run_info, zones=zones, status_of=status_of)
    try:
        exporters = _file_outputs(cfg, out_dir, source, counters, class_names)
    except BaseException:
        if store_exporter is not None:
            store_exporter.store.close()
        raise
    if store_exporter is not None:
        exporters.append(store_exporter)
    return exporters


def _file_outputs(
    cfg: RunConfig,
    out_dir: Path,
    source: Source,
    counters: CounterSet | None,
    class_names: dict[int, str],
) -> list[Exporter]:
    """The file exporters (and annotated video) of a run in ``out_dir``.

    Raises:
        ExportError: the folder cannot be made or written (one line).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # a summary.json left by an earlier run would vouch for this run's files until it ends
        (out_dir / "summary.json").unlink(missing_ok=True)
    except OSError as e:
        raise ExportError(f"cannot write to the output folder {out_dir}: {e.strerror or e}") from e
    exporters: list[Exporter] = [
        EventsJsonlExporter(out_dir / "events.jsonl"),
        CountsCsvExporter(out_dir / "counts.csv"),
        MotTracksExporter(out_dir / "tracks.txt"),
    ]
    zone_counter = counters.zones if counters is not None else None
    if zone_counter is not None:
        exporters.append(ZoneEventsJsonlExporter(out_dir / "zone_events.jsonl"))
        exporters.append(ZonesCsvExporter(out_dir / "zones.csv"))
    if cfg.output.video:
        annotator = FrameAnnotator(
            counters.lines.lines if counters is not None and counters.lines is not None else [],
            class_names=class_names,
            zones=zone_counter.zones if zone_counter is not None else (),
        )
        exporters.append(
            AnnotatedVideoExporter(
                out_dir / "annotated.mp4",
                annotator,
                (lambda: counters.counts) if counters is not None else (lambda: {}),
                fps=source.fps,
                width=source.width,
                height=source.height,
                crf=cfg.output.crf,
            )
        )
    return exporters


def run_job(
    cfg: RunConfig,
    *,
    stop_event: threading.Event | None = None,
    on_start: Callable[[Source], None] | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
    store_stream: str | None = None,
) -> RunOutcome:
    """Run detection, tracking and counting on ``cfg.source`` and write every output.

    ``store_stream`` names the stream in the count store (default: the source's name; ``vtrack batch``
    passes the item's output name).

    Raises:
        VtrackError: for bad input (source, model, config), with a one-line message.
    """
    if not cfg.source:
        raise ConfigError("no source given: pass SOURCE or set 'source:' in the config")
    detect_classes = detector_classes(cfg.classes, subclasses=cfg.subclasses is not None)
    detector = load_detector(cfg.model, parallel=True, classes=detect_classes, blur=cfg.privacy.blur)
    classes = canonical_classes(detector, detect_classes)
    subclasses = (
        open_stage(
            cfg.subclasses, detector_classes=set(detector.class_names.values()), kept_classes=cfg.classes
        )
        if cfg.subclasses
        else None
    )
    blur = canonical_classes(detector, cfg.privacy.blur) or []
    if blur and not cfg.output.video:
        log.info("--blur has no effect: this run writes no images")
        blur = []
    carry = carries(cfg.tracker, detect_every=cfg.stride)
    # carrying: every frame is read and tracked, the detector runs on every stride-th one
    source = open_source(cfg.source, stride=1 if carry else cfg.stride, fps=cfg.fps)
    try:
        start_time, start_source = resolve_start_time(cfg, cfg.source)
        step = build_step(
            cfg.tracker, cfg.counting, classes=classes, width=source.width, height=source.height,
            native_fps=source.native_fps, fps=source.fps, blur=blur, blur_in_place=True, carry=carry,
            subclasses=subclasses, count_classes=counted_classes(cfg.classes, subclasses, classes),
        )
        counters = step.counters
        out_dir = Path(cfg.output.dir) if cfg.output.dir else default_out_dir(source)
        run_info = (
            store_run_info(cfg, source, start_time, start_source, stream=store_stream) if cfg.store else None
        )
        stats = RunStats()  # the store records a run stopped early (Ctrl-C, SIGTERM) as interrupted
        exporters = build_outputs(
            cfg, out_dir, source, counters, detector.class_names, run_info=run_info,
            status_of=lambda: RUN_INTERRUPTED if stats.interrupted else RUN_FINISHED,
        )
    except BaseException:
        source.close()
        raise
    if on_start is not None:
        on_start(source)
    pipeline = Pipeline(
        source, detector, step, exporters, start_time=start_time, stop_event=stop_event,
        on_frame=on_frame, stats=stats, detect_every=cfg.stride if carry else 1,
    )
    stats = pipeline.run()
    decode_errors = list(getattr(source, "errors", []))
    if stats.frames == 0 and not stats.interrupted:
        raise SourceError(f"no frame could be decoded from {cfg.source}")
    summary = make_summary(cfg, source, stats, start_time, start_source, counters)
    summary["tracker"] = tracker_summary(cfg.tracker.type, step.tracker)
    if detector.choice is not None:
        summary["detector"] = detector.choice.as_dict()
    summary["tracker"]["carried_frames"] = step.times.carried
    summary["processing"]["carry_ms_per_carried_frame"] = ms_per_frame(step.times.carry, step.times.carried)
    if subclasses is not None:
        summary["subclasses"] = subclass_summary(cfg.subclasses or "", subclasses, summary["lines"])
    if counters is not None and counters.zones is not None:
        summary["zones"] = zone_summary(cfg, counters.zone_totals)
    if decode_errors:
        summary["decode_errors"] = decode_errors[:100]
    if cfg.store and run_info is not None:
        summary["store"] = {
            "url": parse_store_url(cfg.store).display,
            "run_id": run_info.run_id,
            "stream": run_info.stream,
            "timezone": run_info.timezone,
        }
    write_summary(out_dir / "summary.json", summary)
    return RunOutcome(out_dir=out_dir, summary=summary, stats=stats, decode_errors=decode_errors)


def make_summary(
    cfg: RunConfig,
    source: Source,
    stats: RunStats,
    start_time: datetime,
    start_source: str,
    counter: CounterSet | None,
) -> dict[str, Any]:
    """The ``summary.json`` record."""
    counts = counter.counts if counter is not None else {}
    lines: dict[str, dict[str, dict[str, int]]] = {}
    for lc in cfg.counting.lines:
        per = {c: dict(v) for c, v in counts.get(lc.name, {}).items()}
        for cls in cfg.classes or []:
            per.setdefault(cls, {"in": 0, "out": 0})
        lines[lc.name] = dict(sorted(per.items()))
    seconds = stats.frames / source.fps if source.fps > 0 else 0.0
    return {
        "source": cfg.source,
        "frames": stats.frames,
        "seconds": round(seconds, 3),
        "fps": round(source.fps, 3),
        "start_time": start_time.isoformat(),
        "start_time_source": start_source,
        "interrupted": stats.interrupted,
        "lines": lines,
        "classes": stats.unique_tracks,
        "processing": {
            "wall_seconds": round(stats.wall_seconds, 3),
            "fps": round(stats.fps, 2),
            "stage_ms_per_frame": stats.stages.per_frame_ms(stats.frames),
            "cpu_ms_per_frame": stats.cpu.per_frame_ms(stats.frames),
        },
    }


def tracker_summary(requested: str, tracker: object) -> dict[str, Any]:
    """The ``tracker`` record of ``summary.json``: what was asked for and what ran.

    For ``auto`` this is the tracker it picked (``None`` if it never saw enough frames to decide) and
    the camera motion it measured, in full-size pixels per tracker frame.
    """
    used: str | None = requested
    motion: float | None = None
    if isinstance(tracker, AutoTracker):
        decision = tracker.decision
        used = decision.used if decision else None
        motion = decision.camera_motion_px_per_frame if decision else None
    return {"requested": requested, "used": used, "camera_motion_px_per_frame": motion}


def zone_summary(
    cfg: RunConfig, totals: dict[str, dict[str, dict[str, int]]]
) -> dict[str, dict[str, dict[str, int]]]:
    """``summary.json``'s ``zones``: ``{zone: {class: {"entries", "exits", "max_occupancy"}}}``.

    Every configured zone is listed, and in each every class of ``cfg.classes`` (zeros when unseen).
    """
    out: dict[str, dict[str, dict[str, int]]] = {}
    for zc in cfg.counting.zones:
        per = {c: dict(v) for c, v in totals.get(zc.name, {}).items()}
        for cls in cfg.classes or []:
            per.setdefault(cls, {"entries": 0, "exits": 0, "max_occupancy": 0})
        out[zc.name] = dict(sorted(per.items()))
    return out
