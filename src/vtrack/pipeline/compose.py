"""The composition: detector, tracker, counters and frame step built from config, once for every command.

``vtrack run`` (:mod:`vtrack.job`), ``vtrack serve`` (:mod:`vtrack.service.manager`) and
``vtrack batch`` (videos through ``run_job``, photo folders through :func:`load_detector`) build
their stages here, so the same settings give the same pipeline whichever command runs it.

Frame rates: ``native_fps`` is the source's own rate (frame indices count source frames), ``fps``
the rate reaching the tracker (after ``--stride`` or a live stream's ``max_fps``) and ``stride`` the
source frames per processed frame.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import DEFAULT_MAX_TRACK_AGE_FRAMES, LineCounter
from vtrack.analytics.zones import ZoneCounter
from vtrack.config import CountingConfig, ModelConfig, TrackerConfig
from vtrack.detectors.export import resolve_model
from vtrack.detectors.factory import build_detector
from vtrack.detectors.onnx_yolo import TENSORRT, YoloOnnxDetector, select_providers, trt_shape_profile
from vtrack.geometry import Line, Polygon
from vtrack.pipeline.step import FrameStep
from vtrack.subclasses.stage import SubclassStage
from vtrack.trackers import make_tracker
from vtrack.trackers.base import Tracker
from vtrack.trackers.propagate import FlowPropagator

log = logging.getLogger(__name__)


def load_detector(
    model: ModelConfig,
    *,
    parallel: bool = False,
    classes: Sequence[str] | None = None,
    blur: Sequence[str] = (),
    max_batch: int = 1,
) -> YoloOnnxDetector:
    """The detector a config describes, loaded and warmed up.

    Args:
        model: the model settings.
        parallel: open the sessions :func:`~vtrack.detectors.plan.plan_inference` chooses for the
            pipelined file runner (several frames in flight); otherwise ONNX Runtime keeps one session
            that every stream's thread calls (a live service shares one detector) and OpenVINO the
            planned streams (:func:`vtrack.detectors.factory.build_detector`).
        classes: class names to detect (case-insensitive); ``None``: every class. The classes in
            ``blur`` are detected too.
        blur: class names pixelated later; validated here (a typo fails before any frame).
        max_batch: most frames per inference (``vtrack serve``'s cross-stream batching): TensorRT
            then builds one engine for every batch size.

    Raises:
        VtrackError: the model cannot be resolved or loaded, or a class name is unknown.
    """
    path = resolve_model(model.path, imgsz=model.imgsz or 640)
    profile = None
    if max_batch > 1 and TENSORRT in select_providers(model.providers) and path.suffix.lower() == ".onnx":
        profile = trt_shape_profile(path, max_batch=max_batch, imgsz=model.imgsz)
    # the backend (OpenVINO / ONNX Runtime), precision and sessions x threads: one place decides
    detector = build_detector(model, model_path=path, shared=not parallel, trt_profile=profile)
    blur_ids = detector.class_ids_for_names(blur) if blur else []
    if classes:
        detector.classes = sorted(set(detector.class_ids_for_names(classes)) | set(blur_ids))
    detector.warmup()
    return detector


def canonical_classes(detector: YoloOnnxDetector, names: Sequence[str] | None) -> list[str] | None:
    """The model's own spelling of ``names`` (matched case-insensitively); ``None`` stays ``None``.

    Raises:
        ConfigError: a name the model does not have (with close matches).
    """
    if not names:
        return None
    return [detector.class_names[i] for i in detector.class_ids_for_names(names)]


def build_tracker(cfg: TrackerConfig, *, fps: float) -> Tracker:
    """The tracker of one stream; ``fps`` is the rate of the frames it is given."""
    extra: dict[str, bool] = {}
    if cfg.type == "bytetrack":
        extra = {"lead_origins": cfg.lead_origins, "confirm_exits": cfg.confirm_exits}
    return make_tracker(
        cfg.type, fps=fps, lost_track_seconds=cfg.lost_track_seconds, per_class=cfg.per_class, **extra
    )


def build_counters(
    counting: CountingConfig,
    *,
    classes: Sequence[str] | None,
    width: int,
    height: int,
    native_fps: float,
    stride: int,
    lost_track_seconds: float,
) -> CounterSet | None:
    """The line and zone counters of one stream, lines and zones resolved to ``width × height`` pixels.

    Counting state outlives the tracker's lost buffer: a line counter keeps a track's state for twice
    that buffer (in source frames) plus one stride, so a track found again still counts the crossing
    it made while unseen; a zone counter lets a lost track exit once the tracker drops it.

    Returns:
        The counters, or ``None`` when the config has neither lines nor zones.
    """
    lines = resolve_lines(counting, width, height)
    zones = resolve_zones(counting, width, height)
    if not lines and not zones:
        return None
    class_filter = set(classes) if classes else None
    line_counter = None
    if lines:
        line_counter = LineCounter(
            lines,
            classes=class_filter,
            anchor=counting.anchor,
            min_frames=counting.min_frames,
            max_track_age_frames=max(
                DEFAULT_MAX_TRACK_AGE_FRAMES, math.ceil(2 * lost_track_seconds * native_fps) + stride
            ),
            once_per_direction=counting.once_per_direction,
        )
    zone_counter = None
    if zones:
        zone_counter = ZoneCounter(
            zones,
            classes=class_filter,
            anchor=counting.anchor,
            min_frames=counting.min_frames,
            max_track_age_frames=math.ceil(lost_track_seconds * native_fps) + stride,
        )
    return CounterSet(line_counter, zone_counter)


def resolve_lines(counting: CountingConfig, width: int, height: int) -> list[Line]:
    """The counting lines in pixels of a ``width × height`` frame."""
    return [lc.spec().resolve(width, height) for lc in counting.lines]


def resolve_zones(counting: CountingConfig, width: int, height: int) -> list[Polygon]:
    """The zones in pixels of a ``width × height`` frame."""
    return [zc.spec().resolve(width, height) for zc in counting.zones]


def carries(tracker_cfg: TrackerConfig, *, detect_every: int = 1, live: bool = False) -> bool:
    """Whether a stream carries its tracks over frames without detections: a live stream whenever
    ``tracker.carry`` is on, a file when it is on and the detector skips frames (``--stride`` > 1)."""
    return tracker_cfg.carry == "flow" and (live or detect_every > 1)


def build_step(
    tracker_cfg: TrackerConfig,
    counting: CountingConfig,
    *,
    classes: Sequence[str] | None,
    width: int,
    height: int,
    native_fps: float,
    fps: float,
    blur: Sequence[str] = (),
    blur_in_place: bool = False,
    carry: bool = False,
    subclasses: SubclassStage | None = None,
    count_classes: Sequence[str] | None = None,
) -> FrameStep:
    """One stream's frame step: its tracker, its counters, its class gate and its privacy.

    Args:
        tracker_cfg: the tracker settings.
        counting: lines, zones and counting rules.
        classes: the model's names of the tracked classes (:func:`canonical_classes`); ``None``: all.
        width: frame width in pixels (lines and zones given as fractions are resolved with it).
        height: frame height in pixels.
        native_fps: the source's frame rate (frame indices count its frames).
        fps: the rate of the frames the step is given (``native_fps / stride``, or a live stream's
            processing cap).
        blur: the model's names of the classes to pixelate.
        blur_in_place: pixelate the frame itself (a run writing images) instead of handing the rows on.
        carry: the step is given every frame and carries the tracks over those without detections
            (:class:`~vtrack.trackers.propagate.FlowPropagator`): the tracker runs at ``native_fps``.
        subclasses: the sub-class stage (``--subclasses``), run between tracking and counting.
        count_classes: the classes the counters count, when they differ from ``classes`` (with
            sub-classes: ``person:cyclist``; see :func:`vtrack.subclasses.runtime.counted_classes`).
    """
    if carry:
        fps = native_fps
    stride = max(1, math.ceil(native_fps / fps - 1e-9)) if fps > 0 else 1
    tracker = build_tracker(tracker_cfg, fps=fps)
    counters = build_counters(
        counting, classes=count_classes if count_classes is not None else classes, width=width,
        height=height, native_fps=native_fps, stride=stride,
        lost_track_seconds=tracker_cfg.lost_track_seconds,
    )
    propagator = FlowPropagator() if carry else None
    # the rows to pixelate follow their objects over carried frames too (every row, no tracker ID)
    blur_propagator = FlowPropagator(min_confidence=0.0) if carry and blur else None
    return FrameStep(
        tracker, counters, classes=classes, blur=blur, blur_in_place=blur_in_place, propagator=propagator,
        blur_propagator=blur_propagator,
        subclasses=subclasses,
    )
