"""How many 1080p 30 FPS streams one GPU sustains: batched vs unbatched, CUDA vs TensorRT (FP16).

Each of N simulated streams is a thread doing what a ``vtrack serve`` worker does for detection:
letterbox a 1080p frame into its own input tensor, run the model (directly on the shared session, or
through one :class:`~vtrack.detectors.batching.BatchInferer` that batches the streams' frames), and
post-process (decode + NMS). Frames come from a clip upscaled to 1920x1080 and held in memory (looped,
each stream at its own offset), or are synthetic. Streams run as fast as they can; N is sustained when
the slowest stream gets ``--target-fps`` (30) frames per second. N doubles until a trial fails, then a
bisection finds the largest sustained N. Tracking, counting and encoding are not included.

Batched runs need a model with a dynamic batch axis; make one on any machine (``*.onnx`` and ``*.mp4``
are git-ignored, so a device session carries the folder with ``carry: ["gpu_models"]``)::

    vtrack export ../shared/models/yolov8n.pt --imgsz 640 --dynamic --out gpu_models
    cp ../shared/media/video/bicycle_tracking_sample_1080p.mp4 gpu_models/

On the GPU machine (``--model`` may be given twice, e.g. yolov8n and yolo11n; it needs onnxruntime-gpu)::

    python bench/gpu_streams.py --model gpu_models/yolov8n.onnx \\
        --clip gpu_models/bicycle_tracking_sample_1080p.mp4 --json $OUT/gpu_streams.json

TensorRT builds one FP16 engine per model (a minute or two, cached in ``$VTRACK_CACHE/tensorrt``;
the shape profile covers batch 1..``--batch`` at the clip's letterbox shape, so batched and unbatched
runs share it). ``--time-budget`` (default 420 s) bounds the whole run: configurations left when it is
spent are reported as skipped. On a CPU only (the quick test)::

    python bench/gpu_streams.py --model m.onnx --providers CPUExecutionProvider --synthetic \\
        --max-streams 2 --seconds 0.5 --target-fps 1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from vtrack.detectors.batching import BatchInferer
from vtrack.detectors.onnx_yolo import CPU, CUDA, TENSORRT, YoloOnnxDetector, trt_shape_profile

log = logging.getLogger("gpu_streams")

WIDTH, HEIGHT = 1920, 1080
CLIP_FRAMES = 48
"""Frames of the clip held in memory (1080p BGR: 6 MB each)."""
WARMUP_S = 0.5
DEFAULT_BATCH_WAIT_MS = 4.0


@dataclass
class Trial:
    """One run of ``streams`` streams for ``seconds``."""

    streams: int
    min_fps: float
    mean_fps: float
    total_fps: float
    mean_batch: float
    sustained: bool


@dataclass
class Result:
    """The search for one model × provider × mode."""

    model: str
    provider: str
    mode: str
    max_streams: int = 0
    total_fps: float = 0.0
    mean_batch: float = 0.0
    load_s: float = 0.0
    note: str = ""
    trials: list[Trial] = field(default_factory=list)


def load_frames(clip: Path | None, synthetic: bool) -> list[np.ndarray]:
    """1920x1080 BGR uint8 frames ``(1080, 1920, 3)``: the clip's first frames upscaled, or synthetic."""
    if not synthetic and clip is not None:
        cap = cv2.VideoCapture(str(clip))
        frames: list[np.ndarray] = []
        try:
            while len(frames) < CLIP_FRAMES:
                ok, frame = cap.read()
                if not ok:
                    break
                if frame.shape[:2] != (HEIGHT, WIDTH):
                    frame = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
                frames.append(frame)
        finally:
            cap.release()
        if frames:
            return frames
        log.warning("cannot read %s; using synthetic frames", clip)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(8):
        frame = np.full((HEIGHT, WIDTH, 3), 90 + 10 * i, dtype=np.uint8)
        for _ in range(12):  # a few bright boxes that move from frame to frame
            x, y = int(rng.integers(0, WIDTH - 200)), int(rng.integers(0, HEIGHT - 200))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.rectangle(frame, (x, y), (x + 120, y + 180), colour, -1)
        frames.append(frame)
    return frames


def run_trial(
    det: YoloOnnxDetector,
    batchers: list[BatchInferer],
    frames: list[np.ndarray],
    streams: int,
    seconds: float,
    target_fps: float,
) -> Trial:
    """``streams`` threads detect as fast as they can; frames per second of each over ``seconds``.

    Stream ``k`` runs its frames through ``batchers[k % len(batchers)]``, or straight on the session when
    there are no batchers.
    """
    stop = threading.Event()
    counts = [0] * streams
    errors: list[BaseException] = []

    def batch_stats() -> tuple[int, int]:
        return sum(b.batches for b in batchers), sum(b.frames for b in batchers)

    def stream(k: int) -> None:
        buffer: np.ndarray | None = None
        i = k * 7
        batcher = batchers[k % len(batchers)] if batchers else None
        if batcher is not None:
            batcher.attach()
        try:
            while not stop.is_set():
                buffer, geom = det.preprocess(frames[i % len(frames)], out=buffer)
                outputs = batcher.infer(buffer) if batcher is not None else det.infer(buffer)
                det.postprocess(outputs, geom)
                counts[k] += 1
                i += 1
        except BaseException as e:
            errors.append(e)
            stop.set()
        finally:
            if batcher is not None:
                batcher.detach()

    threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in range(streams)]
    for t in threads:
        t.start()
    time.sleep(WARMUP_S)
    start, t0 = list(counts), time.perf_counter()
    b0 = batch_stats()
    time.sleep(seconds)
    end, elapsed = list(counts), time.perf_counter() - t0
    b1 = batch_stats()
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a stream failed: {type(errors[0]).__name__}: {errors[0]}") from errors[0]
    fps = [(e - s) / elapsed for s, e in zip(start, end, strict=True)]
    mean_batch = (b1[1] - b0[1]) / (b1[0] - b0[0]) if b1[0] > b0[0] else 1.0
    return Trial(
        streams=streams,
        min_fps=round(min(fps), 2),
        mean_fps=round(sum(fps) / streams, 2),
        total_fps=round(sum(fps), 1),
        mean_batch=round(mean_batch, 2),
        sustained=min(fps) >= target_fps,
    )


def logged_trial(
    det: YoloOnnxDetector,
    batchers: list[BatchInferer],
    frames: list[np.ndarray],
    args: argparse.Namespace,
    label: str,
    streams: int,
) -> Trial:
    """:func:`run_trial` with the settings of ``args``, logged."""
    trial = run_trial(det, batchers, frames, streams, args.seconds, args.target_fps)
    log.info("  %s N=%d: %s", label, streams, trial)
    return trial


def search(run: Callable[[int], Trial], max_streams: int, deadline: float) -> tuple[int, list[Trial]]:
    """Largest N with ``run(N).sustained`` (doubling, then bisection), and every trial."""
    trials: list[Trial] = []
    good, bad = 0, max_streams + 1
    n = 1
    while n <= max_streams and time.monotonic() < deadline:
        trial = run(n)
        trials.append(trial)
        if not trial.sustained:
            bad = n
            break
        good = n
        n = min(2 * n, max_streams) if n < max_streams else max_streams + 1
    while bad - good > 1 and time.monotonic() < deadline and good < max_streams:
        n = (good + bad) // 2
        trial = run(n)
        trials.append(trial)
        if trial.sustained:
            good = n
        else:
            bad = n
    return good, trials


def provider_list(name: str) -> list[str]:
    """The providers of a session for ``name``, with its fallbacks."""
    chain = {TENSORRT: [TENSORRT, CUDA, CPU], CUDA: [CUDA, CPU], CPU: [CPU]}
    return chain.get(name, [name])


def model_imgsz(model: Path, imgsz: int) -> int | None:
    """``imgsz`` for a dynamic-shape model, ``None`` (its own size) for a fixed-shape one."""
    return imgsz if YoloOnnxDetector(model, providers=[CPU]).spec.dynamic else None


def trt_profile(model: Path, imgsz: int | None, batch: int) -> tuple[str, str, str] | None:
    """TensorRT shape profile covering batch 1..``batch`` at the 1080p letterbox shape (dynamic models)."""
    return trt_shape_profile(model, max_batch=batch, imgsz=imgsz, frame_hw=(HEIGHT, WIDTH))


def bench_model(
    args: argparse.Namespace, model: Path, frames: list[np.ndarray], deadline: float
) -> list[Result]:
    results: list[Result] = []
    available = ort.get_available_providers()
    imgsz = model_imgsz(model, args.imgsz)
    for provider in args.providers:
        modes = ["unbatched", "batched"]
        if provider not in available:
            for mode in modes:
                results.append(Result(model.name, provider, mode, note="provider not available"))
            continue
        half = provider == TENSORRT and args.half
        label = f"{provider.removesuffix('ExecutionProvider')}{' fp16' if half else ''}"
        profile = trt_profile(model, imgsz, args.batch) if provider == TENSORRT else None
        t0 = time.perf_counter()
        try:
            det = YoloOnnxDetector(
                model,
                imgsz=imgsz,
                providers=provider_list(provider),
                half=half,
                trt_profile=profile,
                intra_op_threads=args.threads,
            )
            det.warmup()
            if det.spec.dynamic_batch:  # every batch size once before timing (cuDNN searches per shape)
                tensor, _ = det.preprocess(frames[0])
                for size in range(2, args.batch + 1):
                    det.infer_batch([tensor] * size)
        except Exception as e:  # one configuration failing (e.g. a TensorRT build) spoils no other
            log.error("%s on %s: %s: %s", model.name, label, type(e).__name__, e)
            note = f"failed: {type(e).__name__}: {str(e)[:120]}"
            results += [Result(model.name, label, mode, note=note) for mode in modes]
            continue
        load_s = time.perf_counter() - t0
        log.info("%s on %s: loaded and warmed up in %.1f s: %r", model.name, label, load_s, det)
        for mode in modes:
            result = Result(model.name, label, mode, load_s=round(load_s, 1))
            results.append(result)
            if mode == "batched" and not det.spec.dynamic_batch:
                result.note = "fixed batch of 1: export with a dynamic batch axis"
                continue
            if time.monotonic() >= deadline:
                result.note = "skipped: time budget spent"
                continue
            batchers = [
                BatchInferer(det, max_batch=args.batch, max_wait_ms=args.batch_wait_ms, name=f"batcher-{i}")
                for i in range(args.batchers if mode == "batched" else 0)
            ]
            try:
                run = partial(logged_trial, det, batchers, frames, args, f"{label} {mode}")
                result.max_streams, result.trials = search(run, args.max_streams, deadline)
            finally:
                for batcher in batchers:
                    batcher.close()
            best = [t for t in result.trials if t.streams == result.max_streams]
            if best:
                result.total_fps, result.mean_batch = best[0].total_fps, best[0].mean_batch
            if time.monotonic() >= deadline:
                result.note = "search cut short by the time budget"
    return results


def _rate(work: Callable[[], int], seconds: float) -> float:
    """Frames per second of one thread calling ``work`` (returns the frames it ran) for ``seconds``."""
    stop, done = threading.Event(), [0]

    def loop(_: int) -> None:
        while not stop.is_set():
            done[0] += work()

    return _timed(loop, done, stop, seconds, 1)


def _timed(
    loop: Callable[[int], None], done: list[int], stop: threading.Event, seconds: float, threads: int
) -> float:
    workers = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - t0)


def cpu_compare(args: argparse.Namespace, model: Path, frames: list[np.ndarray]) -> dict[str, Any]:
    """Prepared tensors on 2 cores: one 2-thread session, two 1-thread sessions side by side, and
    batches of 2 on one 2-thread session; rounds interleaved, the median of each as FPS and as a ratio
    to the single session."""
    imgsz = model_imgsz(model, args.imgsz)
    one = YoloOnnxDetector(model, imgsz=imgsz, providers=[CPU], intra_op_threads=2)
    if not one.spec.dynamic_batch:
        raise SystemExit(f"--cpu-compare needs a model with a dynamic batch axis; {model} has a fixed batch")
    two = YoloOnnxDetector(model, imgsz=imgsz, providers=[CPU], intra_op_threads=1)
    two.open_sessions(2, intra_op_threads=1)
    tensors = [one.preprocess(f)[0] for f in frames[:2]]
    for det in (one, two):
        det.warmup()
    one.infer_batch(tensors)

    def single() -> int:
        one.infer(tensors[0])
        return 1

    def batched() -> int:
        one.infer_batch(tensors)
        return 2

    def side_by_side(seconds: float) -> float:
        stop, done = threading.Event(), [0, 0]

        def loop(k: int) -> None:
            while not stop.is_set():
                two.infer(tensors[k], session=k)
                done[k] += 1

        return _timed(loop, done, stop, seconds, 2)

    variants: dict[str, Callable[[], float]] = {
        "one session, 2 threads (1 frame per run)": lambda: _rate(single, args.seconds),
        "two 1-thread sessions side by side": lambda: side_by_side(args.seconds),
        "one session, 2 threads, batch 2": lambda: _rate(batched, args.seconds),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            samples[name].append(variants[name]())
            log.info("round %d %s: %.2f FPS", r + 1, name, samples[name][-1])
    medians = {k: float(np.median(v)) for k, v in samples.items()}
    base = medians["one session, 2 threads (1 frame per run)"]
    return {
        "model": str(model),
        "input": list(tensors[0].shape),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "fps": {k: round(v, 2) for k, v in medians.items()},
        "ratio": {k: round(v / base, 3) for k, v in medians.items()},
        "samples": {k: [round(x, 2) for x in v] for k, v in samples.items()},
    }


def markdown(results: list[Result], target_fps: float) -> str:
    lines = [
        f"| model | provider | mode | streams ≥ {target_fps:g} FPS | total FPS there | mean batch | note |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.model} | {r.provider} | {r.mode} | {r.max_streams} | {r.total_fps:g} | {r.mean_batch:g} "
            f"| {r.note} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, action="append", required=True, help="an .onnx export (repeatable)")
    p.add_argument("--clip", type=Path, help="a video; its frames are upscaled to 1920x1080")
    p.add_argument("--synthetic", action="store_true", help="synthetic 1080p frames instead of a clip")
    p.add_argument("--providers", nargs="+", default=[TENSORRT, CUDA], help="one configuration per provider")
    p.add_argument("--no-half", dest="half", action="store_false", help="FP32 TensorRT engines")
    p.add_argument("--imgsz", type=int, default=640, help="inference size of dynamic-shape models")
    p.add_argument("--batch", type=int, default=16, help="most frames per batched inference")
    p.add_argument("--batch-wait-ms", type=float, default=DEFAULT_BATCH_WAIT_MS)
    p.add_argument(
        "--batchers", type=int, default=2, help="batching threads (one gathers while another's batch runs)"
    )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--max-streams", type=int, default=256)
    p.add_argument("--seconds", type=float, default=3.0, help="measured seconds per trial")
    p.add_argument("--target-fps", type=float, default=30.0)
    p.add_argument("--time-budget", type=float, default=420.0, help="seconds for the whole run")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--cpu-compare",
        action="store_true",
        help="instead: prepared tensors on the CPU, batch 2 vs two 1-thread sessions vs one session",
    )
    p.add_argument("--rounds", type=int, default=5, help="--cpu-compare: interleaved rounds (median)")
    args = p.parse_args(argv)
    for m in args.model:
        if not m.is_file():
            p.error(f"model not found: {m}")
    if args.clip is None and not args.synthetic:
        p.error("give --clip VIDEO or --synthetic")
    if args.batch < 1 or args.batchers < 1 or args.max_streams < 1 or args.seconds <= 0:
        p.error("--batch, --batchers, --max-streams and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    deadline = time.monotonic() + args.time_budget
    frames = load_frames(args.clip, args.synthetic)
    if args.cpu_compare:
        report = cpu_compare(args, args.model[0], frames)
        lines = ["| variant | FPS | ratio |", "|---|---:|---:|"]
        lines += [f"| {k} | {v:.2f} | {report['ratio'][k]:.2f} |" for k, v in report["fps"].items()]
        text = json.dumps(report, indent=2)
        if args.json is not None:
            args.json.write_text(text + "\n")
        sys.stdout.write("\n".join(lines) + "\n\n" + text + "\n")
        return 0
    log.info(
        "%d frames of %dx%d; providers available: %s",
        len(frames),
        WIDTH,
        HEIGHT,
        ort.get_available_providers(),
    )
    results: list[Result] = []
    for model in args.model:
        results += bench_model(args, model, frames, deadline)
    table = markdown(results, args.target_fps)
    payload = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "model"}
        | {
            "models": [str(m) for m in args.model],
            "frame": f"{WIDTH}x{HEIGHT}",
            "onnxruntime": ort.__version__,
        },
        "results": [asdict(r) for r in results],
    }
    text = json.dumps(payload, indent=2, default=str)
    if args.json is not None:
        args.json.write_text(text + "\n")
    sys.stdout.write(table + "\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
