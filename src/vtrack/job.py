"""One ``vtrack run``: build every stage from a :class:`RunConfig`, run it, write the outputs.

Outputs in the run's folder:
``annotated.mp4`` (H.264), ``events.jsonl``, ``counts.csv``, ``tracks.txt`` (MOTChallenge) and
``summary.json``; with zones also ``zone_events.jsonl`` and ``zones.csv``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import DEFAULT_MAX_TRACK_AGE_FRAMES, LineCounter
from vtrack.analytics.zones import ZoneCounter
from vtrack.config import RunConfig
from vtrack.detectors.export import resolve_model
from vtrack.detectors.onnx_yolo import YoloOnnxDetector, select_providers
from vtrack.errors import ConfigError, SourceError
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
from vtrack.exporters.privacy import blurring_stage
from vtrack.exporters.store import RunInfo, StoreExporter, open_store, parse_store_url
from vtrack.exporters.store.exporter import RUN_FINISHED, RUN_INTERRUPTED
from vtrack.exporters.video import AnnotatedVideoExporter
from vtrack.geometry import Anchor, Line, Polygon
from vtrack.stream.base import Source
from vtrack.stream.runner import Pipeline, RunStats, plan_inference
from vtrack.stream.sources import open_source, probe_start_time
from vtrack.trackers import AutoTracker, make_tracker
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
    lines: list[Line],
    counter: LineCounter | CounterSet | None,
    class_names: dict[int, str],
    *,
    run_info: RunInfo | None = None,
) -> list[Exporter]:
    """Create the exporters of a run in ``out_dir`` (and the count store's, when ``cfg.store`` is set).

    The store is opened first, so a bad or unreachable store fails before any file is truncated.

    Raises:
        StoreError: the store cannot be opened (one line).
    """
    store_exporter: StoreExporter | None = None
    if cfg.store:
        if run_info is None:
            run_info = store_run_info(cfg, source, datetime.now(timezone.utc), "wall_clock")
        zone_feed = counter if isinstance(counter, CounterSet) and counter.zones is not None else None
        store_exporter = StoreExporter(open_store(cfg.store), run_info, zones=zone_feed)
    try:
        exporters = _file_outputs(cfg, out_dir, source, lines, counter, class_names)
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
    lines: list[Line],
    counter: LineCounter | CounterSet | None,
    class_names: dict[int, str],
) -> list[Exporter]:
    """The file exporters (and annotated video) of a run in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exporters: list[Exporter] = [
        EventsJsonlExporter(out_dir / "events.jsonl"),
        CountsCsvExporter(out_dir / "counts.csv"),
        MotTracksExporter(out_dir / "tracks.txt"),
    ]
    zone_set = counter if isinstance(counter, CounterSet) and counter.zones is not None else None
    if zone_set is not None:
        exporters.append(
            ZoneEventsJsonlExporter(out_dir / "zone_events.jsonl", lambda: zone_set.last_zone_events)
        )
        exporters.append(ZonesCsvExporter(out_dir / "zones.csv", lambda: zone_set.zone_hourly))
    if cfg.output.video:
        annotator = FrameAnnotator(
            lines,
            class_names=class_names,
            zones=zone_set.zones.zones if zone_set is not None and zone_set.zones is not None else (),
            occupancy_provider=(lambda: zone_set.occupancy) if zone_set is not None else None,
        )
        exporters.append(
            AnnotatedVideoExporter(
                out_dir / "annotated.mp4",
                annotator,
                (lambda: counter.counts) if counter is not None else (lambda: {}),
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
    model_path = resolve_model(cfg.model.path, imgsz=cfg.model.imgsz or 640)
    sessions, threads = plan_inference(
        select_providers(cfg.model.providers), cfg.model.sessions, cfg.model.threads
    )
    detector = YoloOnnxDetector(
        model_path,
        conf=cfg.model.conf,
        iou=cfg.model.iou,
        imgsz=cfg.model.imgsz,
        providers=cfg.model.providers,
        intra_op_threads=threads,
        half=cfg.model.half,
    )
    detector.open_sessions(sessions, intra_op_threads=threads)
    if cfg.classes:
        detector.classes = detector.class_ids_for_names(cfg.classes)
    stage = blurring_stage(detector, cfg.privacy.blur, cfg.classes, writes_images=cfg.output.video)
    source = open_source(cfg.source, stride=cfg.stride, fps=cfg.fps)
    try:
        lines = [lc.spec().resolve(source.width, source.height) for lc in cfg.counting.lines]
        start_time, start_source = resolve_start_time(cfg, cfg.source)
        tracker = make_tracker(
            cfg.tracker.type,
            fps=source.fps,
            lost_track_seconds=cfg.tracker.lost_track_seconds,
            per_class=cfg.tracker.per_class,
        )
        counter: LineCounter | CounterSet | None = (
            LineCounter(
                lines,
                classes=set(cfg.classes) if cfg.classes else None,
                anchor=cfg.counting.anchor,
                min_frames=cfg.counting.min_frames,
                # counting state must outlive the tracker's lost buffer (in source frames), or a track
                # found again after its state expired would miss the crossing it made while unseen
                # (and with once_per_direction could count twice in one direction)
                max_track_age_frames=max(
                    DEFAULT_MAX_TRACK_AGE_FRAMES,
                    math.ceil(2 * cfg.tracker.lost_track_seconds * source.native_fps) + cfg.stride,
                ),
                once_per_direction=cfg.counting.once_per_direction,
            )
            if lines
            else None
        )
        zones = [zc.spec().resolve(source.width, source.height) for zc in cfg.counting.zones]
        if zones:
            line_counter = counter if isinstance(counter, LineCounter) else None
            zone_counter = zone_counter_for(
                zones, classes=cfg.classes, anchor=cfg.counting.anchor,
                min_frames=cfg.counting.min_frames, lost_track_seconds=cfg.tracker.lost_track_seconds,
                native_fps=source.native_fps, stride=cfg.stride,
            )
            counter = CounterSet(line_counter, zone_counter)
        out_dir = Path(cfg.output.dir) if cfg.output.dir else default_out_dir(source)
        run_info = (
            store_run_info(cfg, source, start_time, start_source, stream=store_stream) if cfg.store else None
        )
        exporters = build_outputs(
            cfg, out_dir, source, lines, counter, detector.class_names, run_info=run_info
        )
    except BaseException:
        source.close()
        raise
    if on_start is not None:
        on_start(source)
    detector.warmup()
    pipeline = Pipeline(
        source, stage, tracker, counter, exporters, start_time=start_time, stop_event=stop_event,
        on_frame=on_frame,
    )
    for ex in exporters:  # the store records a run stopped early (Ctrl-C, SIGTERM) as interrupted
        if isinstance(ex, StoreExporter):
            ex.status_of = lambda: RUN_INTERRUPTED if pipeline.stats.interrupted else RUN_FINISHED
    stats = pipeline.run()
    decode_errors = list(getattr(source, "errors", []))
    if stats.frames == 0 and not stats.interrupted:
        raise SourceError(f"no frame could be decoded from {cfg.source}")
    summary = make_summary(cfg, source, stats, start_time, start_source, counter)
    summary["tracker"] = tracker_summary(cfg.tracker.type, tracker)
    if isinstance(counter, CounterSet) and counter.zones is not None:
        summary["zones"] = zone_summary(cfg, counter.zone_totals)
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
    counter: LineCounter | CounterSet | None,
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


def zone_counter_for(
    zones: list[Polygon],
    *,
    classes: list[str] | None,
    anchor: Anchor,
    min_frames: int,
    lost_track_seconds: float,
    native_fps: float,
    stride: int,
) -> ZoneCounter:
    """The zone counter of a run (or of a live stream, whose stride is source fps / processed fps).

    A track exits a zone it was lost in once the tracker drops it (its lost buffer, in source frames,
    plus one stride): the tracker never brings that ID back, and occupancy would otherwise keep
    counting objects that left unseen (missed detections, a new ID) for the line counter's longer
    expiry.
    """
    return ZoneCounter(
        zones,
        classes=set(classes) if classes else None,
        anchor=anchor,
        min_frames=min_frames,
        max_track_age_frames=math.ceil(lost_track_seconds * native_fps) + stride,
    )


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
