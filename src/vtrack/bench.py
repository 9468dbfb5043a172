"""``vtrack bench``: frames per second of ``vtrack run`` against the bare loop and the inference limit.

Every variant runs in one invocation, on the same model, video and thread budget, one after the other,
so their ratios are comparable even on a noisy machine; each is repeated ``repeat`` times and the best
run is kept:

(a) ``bare``: decode + letterbox + ONNX Runtime inference, one Python thread, one session with every
    core, nothing else: the reference;
(b) ``no_video``: ``vtrack run --no-video`` (pipelined runner, events/counts/tracks files);
(c) ``video``: ``vtrack run`` with the annotated H.264 video;
(d) ``ultralytics``: Ultralytics ``YOLO(onnx).track(source, stream=True)`` with the same ONNX file, in a
    subprocess (``ultralytics_python``, default this interpreter) when ultralytics imports there;
(e) ``limit``: inference only, on tensors prepared beforehand, with the fastest of several layouts of
    sessions (OpenVINO: streams) × threads running in parallel on the same cores.

(a), (b), (c) and (e) run the backend and precision of ``BenchConfig.backend``/``precision`` (default
``auto``, as ``vtrack run``). Each ``BACKEND:PRECISION`` of ``BenchConfig.variants`` (``--variant
onnxruntime:fp32``) adds its own (b) and (e), reported as ``b_no_video[onnxruntime:fp32]``...
with its ratio to the main (b) and to its own (e).

Besides FPS and the ratio to (a) it reports per-stage milliseconds per frame (decode, preprocess and
inference from (a); post-process, tracking, counting from (b); drawing and encoding measured on their
own on the same frames) and the peak resident memory of each variant (sampled while it runs).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vtrack.config import ModelConfig, RunConfig, lines_from_flags
from vtrack.detectors.factory import build_detector
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.errors import ConfigError
from vtrack.job import run_job
from vtrack.runtime import DEFAULT_MMAP_THRESHOLD, DEFAULT_TRIM_THRESHOLD, available_cores, tune_malloc
from vtrack.stream.runner import ms_per_frame
from vtrack.stream.sources import open_source

log = logging.getLogger(__name__)

VARIANTS = ("a_bare", "b_no_video", "c_video", "d_ultralytics", "e_limit")
LABELS = {
    "a_bare": "(a) bare loop: decode + letterbox + inference, 1 thread",
    "b_no_video": "(b) vtrack run --no-video",
    "c_video": "(c) vtrack run (annotated H.264)",
    "d_ultralytics": "(d) Ultralytics YOLO(onnx).track",
    "e_limit": "(e) inference limit (prepared tensors)",
}
TARGETS = (
    ("b_no_video", "a_bare", 1.15),
    ("b_no_video", "e_limit", 0.85),
    ("c_video", "a_bare", 0.90),
    ("b_no_video", "d_ultralytics", 1.40),
)
"""``(numerator, denominator, minimum ratio)`` targets of issue 6."""
LIMIT_TENSORS = 8
"""Distinct prepared tensors cycled through by the inference-limit variant."""
COMPONENT_FRAMES = 60
"""Frames the drawing and encoding stages are timed on."""
RSS_SAMPLE_S = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class BenchConfig:
    """What to benchmark.

    Attributes:
        source: The video file.
        model: The ONNX model.
        classes: Class names tracked and counted, ``None`` for all.
        lines: ``NAME=x1,y1,x2,y2`` counting lines.
        cores: Thread budget (cores); default: this process's CPU affinity.
        sessions: Sessions of (b)/(c); default: :func:`~vtrack.detectors.plan.plan_inference`.
        threads: Intra-op threads per session of (b)/(c); default: as ``sessions``.
        max_frames: Frames per variant (``None``: the whole video).
        limit_frames: Inferences per layout in (e).
        repeat: Runs of each variant; the best is kept.
        ultralytics_python: Interpreter for (d); ``None``: this one; ``""``: skip (d).
        backend: Backend of (a), (b), (c), (e) (``auto``, ``onnxruntime``, ``openvino``).
        precision: Their precision (``auto``, ``fp32``, ``bf16``, ``fp16``, ``int8``).
        variants: More ``BACKEND:PRECISION`` pairs, each measured with its own (b) and (e).
        subclasses: A ``.vtc`` file: also measure (b) with these sub-classes (key
            ``b_no_video[subclasses]``; its ``ratio_of_main_b_to_this`` is the slowdown they cost).
    """

    source: str
    model: str
    classes: list[str] | None = None
    lines: list[str] = field(default_factory=list)
    cores: int | None = None
    sessions: int | None = None
    threads: int | None = None
    max_frames: int | None = None
    limit_frames: int = 60
    repeat: int = 1
    ultralytics_python: str | None = None
    backend: str = "auto"
    precision: str = "auto"
    variants: list[str] = field(default_factory=list)
    subclasses: str | None = None


def model_config(model: str, backend: str, precision: str) -> ModelConfig:
    """The :class:`ModelConfig` of a bench variant.

    Raises:
        ConfigError: An unknown backend or precision.
    """
    try:
        return ModelConfig.model_validate({"path": model, "backend": backend, "precision": precision})
    except ValueError as e:  # pydantic's ValidationError
        raise ConfigError(f"bench variant {backend}:{precision}: {' '.join(str(e).split())[:200]}") from e


def parse_variant(text: str) -> tuple[str, str]:
    """``"openvino:int8"`` → ``("openvino", "int8")``; a bare backend means precision ``auto``.

    Raises:
        ConfigError: Not ``BACKEND[:PRECISION]``.
    """
    backend, _, precision = text.strip().partition(":")
    if not backend:
        raise ConfigError(f"--variant {text!r}: expected BACKEND[:PRECISION], e.g. onnxruntime:fp32")
    return backend, precision or "auto"


def _describe(det: YoloOnnxDetector) -> str:
    choice = det.choice
    return f"{choice.backend} {choice.precision}" if choice is not None else "onnxruntime"


def rss_mb() -> float:
    """Current resident memory of this process in MB (``/proc``; ``ru_maxrss`` elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def peak_rss() -> Iterator[list[float]]:
    """Sample this process's RSS every :data:`RSS_SAMPLE_S` while the block runs.

    Yields:
        A one-element list holding the peak RSS in MB, updated until the block ends.
    """
    peak = [rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(RSS_SAMPLE_S):
            peak[0] = max(peak[0], rss_mb())

    t = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    t.start()
    try:
        yield peak
    finally:
        done.set()
        t.join()
        peak[0] = max(peak[0], rss_mb())


@dataclass
class Result:
    """One variant's best run."""

    frames: int
    seconds: float
    stages_ms: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    detail: str = ""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per frame (whole process, and by thread where known)."""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "stages_ms": self.stages_ms,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "detail": self.detail,
            "cpu_ms": self.cpu_ms,
        }


def bare_loop(
    source: str,
    model: str,
    threads: int,
    max_frames: int | None,
    *,
    backend: str = "auto",
    precision: str = "auto",
) -> Result:
    """(a) decode + letterbox + inference on one Python thread; per-stage times included.

    Args:
        source: Video file.
        model: ONNX model.
        threads: Intra-op threads of the one session.
        max_frames: Stop after this many frames.
        backend: Runtime (as ``model.backend``).
        precision: Precision (as ``model.precision``).
    """
    det = build_detector(model_config(model, backend, precision), sessions=1, threads=threads)
    det.warmup()
    src = open_source(source)
    n = 0
    decode = prep = infer = 0.0
    tensor: np.ndarray | None = None
    frames = iter(src)
    t_start = time.perf_counter()
    cpu0 = time.process_time()
    try:
        while max_frames is None or n < max_frames:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            t1 = time.perf_counter()
            tensor, _ = det.preprocess(frame.image, tensor)
            t2 = time.perf_counter()
            det.infer(tensor)
            t3 = time.perf_counter()
            decode += t1 - t0
            prep += t2 - t1
            infer += t3 - t2
            n += 1
    finally:
        src.close()
    dt = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0
    stages = {
        "decode": ms_per_frame(decode, n),
        "preprocess": ms_per_frame(prep, n),
        "inference": ms_per_frame(infer, n),
    }
    return Result(
        n, dt, stages, detail=f"{_describe(det)}, 1 session x {threads} threads",
        cpu_ms={"process": ms_per_frame(cpu, n)},
    )


def _run_config(
    cfg: BenchConfig,
    out_dir: Path,
    video: bool,
    variant: tuple[str, str] | None = None,
    subclasses: str | None = None,
) -> RunConfig:
    rc = RunConfig(source=cfg.source, classes=cfg.classes, subclasses=subclasses)
    backend, precision = variant or (cfg.backend, cfg.precision)
    rc.model = model_config(cfg.model, backend, precision)
    rc.model.sessions = cfg.sessions
    rc.model.threads = cfg.threads
    rc.counting.lines = lines_from_flags(cfg.lines)
    rc.output.dir = str(out_dir)
    rc.output.video = video
    rc.start_time = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return rc


def vtrack_run(
    cfg: BenchConfig,
    out_dir: Path,
    *,
    video: bool,
    variant: tuple[str, str] | None = None,
    subclasses: str | None = None,
) -> Result:
    """(b)/(c) the ``vtrack run`` job, stopped after ``cfg.max_frames`` frames (``variant``: its own
    ``(backend, precision)`` instead of the config's; ``subclasses``: a ``.vtc`` file to label with)."""
    stop = threading.Event()
    limit = cfg.max_frames

    def on_frame(result: Any) -> None:
        if limit is not None and result.frame.index + 1 >= limit:
            stop.set()

    outcome = run_job(
        _run_config(cfg, out_dir, video, variant, subclasses), stop_event=stop, on_frame=on_frame
    )
    st = outcome.stats
    stages = {k: v for k, v in st.stages.per_frame_ms(st.frames).items() if v}
    det = outcome.summary.get("detector", {})
    return Result(
        st.frames,
        st.wall_seconds,
        stages,
        detail=f"{det.get('backend')} {det.get('precision')}, {det.get('sessions')} sessions x "
        f"{det.get('threads')} threads",
        cpu_ms=st.cpu.per_frame_ms(st.frames),
    )


_ULTRALYTICS_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    from ultralytics import YOLO
    source, model, classes, max_frames = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    m = YOLO(model, task="detect")
    n, t0 = 0, None
    for _ in m.track(source, stream=True, classes=classes, verbose=False, persist=True):
        n += 1
        if n == 1:
            t0 = time.perf_counter()  # the first frame pays for loading and warm-up: not timed
        if max_frames and n >= max_frames + 1:
            break
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({"frames": n - 1, "seconds": dt, "peak_rss_mb": rss}) + "\\n")
    """
)


def ultralytics_track(cfg: BenchConfig, class_ids: list[int] | None) -> Result | None:
    """(d) Ultralytics track with the same ONNX file in a subprocess; ``None`` when it cannot run."""
    python = cfg.ultralytics_python if cfg.ultralytics_python is not None else sys.executable
    if not python:
        return None
    probe = subprocess.run(
        [python, "-c", "import ultralytics, lap"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:  # Ultralytics' track would try to pip-install lap at run time
        log.warning("(d) skipped: ultralytics or lap missing in %s (pip install 'vtrack[bench]')", python)
        return None
    env = dict(os.environ, YOLO_OFFLINE="1")
    if tune_malloc():  # the same allocator settings as our variants get, so (b)/(d) compares pipelines
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(DEFAULT_MMAP_THRESHOLD))
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(DEFAULT_TRIM_THRESHOLD))
    args = [python, "-c", _ULTRALYTICS_SCRIPT, cfg.source, cfg.model, json.dumps(class_ids)]
    proc = subprocess.run(
        [*args, str(cfg.max_frames or 0)], capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        log.warning("(d) failed: %s", proc.stderr.strip().splitlines()[-1:] or proc.returncode)
        return None
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Result(data["frames"], data["seconds"], peak_rss_mb=data["peak_rss_mb"], detail="subprocess")


def limit_layouts(cores: int) -> list[tuple[int, int]]:
    """``(sessions, threads)`` layouts tried by (e): one session with every core, one per core, halves."""
    layouts = {(1, cores), (cores, 1), (1, 1)}
    if cores >= 2:
        layouts.add((2, cores // 2))
    return sorted(layouts)


def inference_limit(cfg: BenchConfig, cores: int, variant: tuple[str, str] | None = None) -> Result:
    """(e) inference alone on prepared tensors; the fastest of :func:`limit_layouts`."""
    backend, precision = variant or (cfg.backend, cfg.precision)
    mc = model_config(cfg.model, backend, precision)
    src = open_source(cfg.source)
    det = build_detector(mc, sessions=1, threads=1)  # letterboxes as every layout does
    try:
        tensors = [det.preprocess(f.image)[0] for _, f in zip(range(LIMIT_TENSORS), src, strict=False)]
    finally:
        src.close()
    best: Result | None = None
    tried = []
    for sessions, threads in limit_layouts(cores):
        d = build_detector(mc, sessions=sessions, threads=threads, cores=cores)
        d.infer(tensors[0])
        res = _parallel_infer(d, tensors, sessions, cfg.limit_frames)
        res.detail = f"{_describe(d)}, {sessions} sessions x {threads} threads"
        tried.append(f"{sessions}x{threads}: {res.fps:.2f}")
        if best is None or res.fps > best.fps:
            best = res
        del d
    assert best is not None
    best.detail += f" (tried {', '.join(tried)} FPS)"
    best.stages_ms = {"inference": ms_per_frame(best.seconds, best.frames)}
    return best


def _parallel_infer(det: YoloOnnxDetector, tensors: list[np.ndarray], sessions: int, total: int) -> Result:
    lock = threading.Lock()
    next_i = [0]

    def work(session: int) -> None:
        while True:
            with lock:
                i = next_i[0]
                if i >= total:
                    return
                next_i[0] = i + 1
            det.infer(tensors[i % len(tensors)], session)

    threads = [threading.Thread(target=work, args=(s,), name=f"limit-{s}") for s in range(sessions)]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    return Result(total, dt, cpu_ms={"process": ms_per_frame(time.process_time() - cpu0, total)})


def component_times(cfg: BenchConfig, out_dir: Path) -> dict[str, float]:
    """Drawing and H.264 encoding in ms per frame, each timed alone on the video's first frames."""
    from vtrack.exporters.annotate import FrameAnnotator
    from vtrack.exporters.video import VideoWriter
    from vtrack.trackers import make_tracker
    from vtrack.types import FrameResult

    det = YoloOnnxDetector(cfg.model)
    if cfg.classes:
        det.classes = det.class_ids_for_names(cfg.classes)
    src = open_source(cfg.source)
    try:
        lines = [lc.spec().resolve(src.width, src.height) for lc in lines_from_flags(cfg.lines)]
        tracker = make_tracker("bytetrack", fps=src.fps)
        annotator = FrameAnnotator(lines, class_names=det.class_names)
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        results = []
        for _, frame in zip(range(COMPONENT_FRAMES), src, strict=False):
            tracked = tracker.update(det(frame.image), frame.image)
            results.append(FrameResult(frame=frame, detections=tracked, events=[], time=t0))
        fps, width, height = src.fps, src.width, src.height
    finally:
        src.close()
    draw = 0.0
    drawn = []
    for r in results:
        ts = time.perf_counter()
        drawn.append(annotator.annotate(r))
        draw += time.perf_counter() - ts
    writer = VideoWriter(out_dir / "encode.mp4", fps=fps, width=width, height=height, background=False)
    ts = time.perf_counter()
    for img in drawn:
        writer.write(img)
    writer.close()
    encode = time.perf_counter() - ts
    n = max(len(results), 1)
    return {"drawing": ms_per_frame(draw, n), "encoding": ms_per_frame(encode, n)}


def _keep_best(results: dict[str, Result], key: str, res: Result | None, peak: float) -> None:
    if res is None:
        return
    res.peak_rss_mb = max(res.peak_rss_mb, peak)
    old = results.get(key)
    if old is None or res.fps > old.fps:
        if old is not None:
            res.peak_rss_mb = max(res.peak_rss_mb, old.peak_rss_mb)
        results[key] = res
    else:
        old.peak_rss_mb = max(old.peak_rss_mb, res.peak_rss_mb)


def run_bench(cfg: BenchConfig, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every variant ``cfg.repeat`` times (interleaved) and return the report.

    Returns:
        ``{"config", "results": {variant: {...}}, "ratios", "targets", "stages_ms", "peak_rss_mb"}``;
        ``results`` holds FPS, frames, seconds, per-stage ms per frame and peak RSS (MB) per variant.
    """
    cores = cfg.cores or available_cores()
    for text in [f"{cfg.backend}:{cfg.precision}", *cfg.variants]:  # bad names fail before any run
        model_config(cfg.model, *parse_variant(text))
    tune_malloc()  # as the CLI does for every command: all variants run under the same allocator settings
    say = progress or (lambda msg: log.info("%s", msg))
    results: dict[str, Result] = {}
    class_ids = None
    if cfg.classes:
        class_ids = YoloOnnxDetector(cfg.model).class_ids_for_names(cfg.classes)
    with tempfile.TemporaryDirectory(prefix="vtrack-bench-") as tmp:
        for rep in range(cfg.repeat):
            runs: list[tuple[str, Callable[[], Result | None]]] = [
                (
                    "a_bare",
                    lambda: bare_loop(
                        cfg.source, cfg.model, cores, cfg.max_frames, backend=cfg.backend,
                        precision=cfg.precision,
                    ),
                ),
                ("b_no_video", lambda: vtrack_run(cfg, Path(tmp) / "b", video=False)),
                ("c_video", lambda: vtrack_run(cfg, Path(tmp) / "c", video=True)),
                ("d_ultralytics", lambda: ultralytics_track(cfg, class_ids)),
                ("e_limit", lambda: inference_limit(cfg, cores)),
            ]
            for text in cfg.variants:
                runs += _variant_runs(cfg, cores, Path(tmp) / "bv", text)
            if cfg.subclasses:
                with_subclasses = partial(vtrack_run, cfg, Path(tmp) / "bs", video=False,
                                          subclasses=cfg.subclasses)  # fmt: skip
                runs.append(("b_no_video[subclasses]", with_subclasses))
            for key, fn in runs:
                say(f"run {rep + 1}/{cfg.repeat}: {label(key)}")
                with peak_rss() as peak:
                    res = fn()
                _keep_best(results, key, res, peak[0])
                if res is not None:
                    say(f"  {res.fps:.2f} FPS ({res.frames} frames, {res.detail})")
        say("drawing and encoding alone")
        components = component_times(cfg, Path(tmp))
    return make_report(cfg, cores, results, components)


def _variant_runs(
    cfg: BenchConfig, cores: int, out_dir: Path, text: str
) -> list[tuple[str, Callable[[], Result | None]]]:
    """(b) and (e) of one extra ``BACKEND:PRECISION`` variant."""
    v = parse_variant(text)

    def run_b() -> Result | None:
        return vtrack_run(cfg, out_dir, video=False, variant=v)

    def run_e() -> Result | None:
        return inference_limit(cfg, cores, v)

    return [(f"b_no_video[{text}]", run_b), (f"e_limit[{text}]", run_e)]


def label(key: str) -> str:
    """The row label of a variant key, e.g. ``b_no_video[onnxruntime:fp32]``."""
    base, _, variant = key.partition("[")
    text = LABELS.get(base, base)
    return f"{text} [{variant}" if variant else text


def variant_keys(results: dict[str, Any]) -> list[str]:
    """Keys of the variants in report order: (a)-(e), then each extra backend:precision's (b) and (e)."""
    extra = sorted(k for k in results if "[" in k)
    return [k for k in VARIANTS if k in results] + extra


def make_report(
    cfg: BenchConfig, cores: int, results: dict[str, Result], components: dict[str, float]
) -> dict[str, Any]:
    """The JSON-able report: results, ratios to (a), targets met, per-stage ms."""
    ref = results["a_bare"].fps if "a_bare" in results else 0.0
    out: dict[str, Any] = {k: r.as_dict() for k, r in results.items()}
    for key, r in out.items():
        r["ratio_to_a"] = round(results[key].fps / ref, 3) if ref else None
    targets = []
    for num, den, minimum in TARGETS:
        if num in results and den in results and results[den].fps > 0:
            ratio = results[num].fps / results[den].fps
            targets.append(
                {
                    "ratio": f"{num[0]}/{den[0]}",
                    "value": round(ratio, 3),
                    "target": minimum,
                    "met": ratio >= minimum,
                }
            )
        else:
            targets.append({"ratio": f"{num[0]}/{den[0]}", "value": None, "target": minimum, "met": None})
    main_b = results.get("b_no_video")
    for key in results:
        if key.startswith("b_no_video[") and main_b is not None and results[key].fps > 0:
            variant = key[len("b_no_video") :]
            own = results.get(f"e_limit{variant}")
            out[key]["ratio_of_main_b_to_this"] = round(main_b.fps / results[key].fps, 3)
            if own is not None and own.fps > 0:
                out[key]["ratio_to_own_limit"] = round(results[key].fps / own.fps, 3)
    if main_b is not None and "e_limit" in results and results["e_limit"].fps > 0:
        out["b_no_video"]["ratio_to_own_limit"] = round(main_b.fps / results["e_limit"].fps, 3)
    stages: dict[str, float] = {}
    a = results.get("a_bare")
    b = results.get("b_no_video")
    if a is not None:
        stages.update({k: a.stages_ms[k] for k in ("decode", "preprocess", "inference") if k in a.stages_ms})
    if b is not None:
        stages.update({k: b.stages_ms.get(k, 0.0) for k in ("postprocess", "track", "count")})
    stages.update(components)
    cpu: dict[str, dict[str, float]] = {}
    for key, r in results.items():
        if r.cpu_ms.get("process"):
            busy = r.cpu_ms["process"] * r.fps / (1000.0 * cores)
            cpu[key] = {**r.cpu_ms, "cores_busy": round(busy, 3)}
    return {
        "config": {
            "source": cfg.source,
            "model": cfg.model,
            "classes": cfg.classes,
            "lines": cfg.lines,
            "cores": cores,
            "max_frames": cfg.max_frames,
            "repeat": cfg.repeat,
            "backend": cfg.backend,
            "precision": cfg.precision,
            "variants": cfg.variants,
            "subclasses": cfg.subclasses,
            "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
            "malloc_tuned": tune_malloc(),
        },
        "results": out,
        "targets": targets,
        "stages_ms": stages,
        "cpu_ms": cpu,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def format_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (variants, then per-stage ms, then targets)."""
    rows = [
        "| variant | FPS | ratio to (a) | (b) ÷ this | ÷ own (e) | peak RSS MB | layout |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for key in [*VARIANTS, *(k for k in variant_keys(report["results"]) if "[" in k)]:
        r = report["results"].get(key)
        if r is None:
            rows.append(f"| {label(key)} | – | – | – | – | – | not run |")
            continue
        main_b = r.get("ratio_of_main_b_to_this")
        own = r.get("ratio_to_own_limit")
        rows.append(
            f"| {label(key)} | {r['fps']:.2f} | {r['ratio_to_a']:.3f} "
            f"| {'–' if main_b is None else f'{main_b:.3f}'} | {'–' if own is None else f'{own:.3f}'} "
            f"| {r['peak_rss_mb']:.0f} | {r['detail']} |"
        )
    stages = report["stages_ms"]
    rows += ["", "| " + " | ".join(stages) + " |", "|" + "---:|" * len(stages)]
    rows.append("| " + " | ".join(f"{v:.2f}" for v in stages.values()) + " |")
    cpu = report.get("cpu_ms") or {}
    if cpu:
        rows += [
            "",
            "| variant | CPU ms/frame | inference | reader | decoder + library threads | pipeline "
            "| cores busy |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key in variant_keys(cpu):
            c = cpu.get(key)
            if c is None:
                continue
            parts = [c.get(k) for k in ("inference", "reader", "other", "pipeline")]
            cells = " | ".join("–" if v is None else f"{v:.1f}" for v in parts)
            name = key[0] + (key[key.index("[") :] if "[" in key else "")
            rows.append(f"| {name} | {c['process']:.1f} | {cells} | {c['cores_busy']:.2f} |")
    rows += ["", "| target | value | met |", "|---|---:|---|"]
    for t in report["targets"]:
        value = "–" if t["value"] is None else f"{t['value']:.3f}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        rows.append(f"| {t['ratio']} ≥ {t['target']} | {value} | {met} |")
    return "\n".join(rows)
