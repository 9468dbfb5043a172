"""Frames per second of ``vtrack run`` against a bare decode + letterbox + inference loop.

All variants run in this one process, on the same model, video and thread settings, one after the
other, so their ratios are comparable even on a noisy machine; each is repeated ``--repeat`` times
and the best run is kept.

    python bench/run_fps.py ../shared/media/video/bicycle_tracking_sample.mp4 \
        --model ../shared/models/yolov8n.onnx --classes bicycle --line gate=400,250,400,650

Variants:
  (a) bare:     decode + letterbox + ONNX Runtime inference, one thread, nothing else (the reference)
  (b) no-video: ``vtrack run --no-video`` (decode thread, detect + NMS, track, count, JSONL/CSV/MOT)
  (c) video:    ``vtrack run`` with the annotated H.264 video
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

from vtrack.config import RunConfig, lines_from_flags
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.job import run_job
from vtrack.stream.sources import open_source

log = logging.getLogger("bench")


def bare_loop(source: str, model: str, threads: int | None, max_frames: int | None) -> tuple[int, float]:
    """Decode + letterbox + inference only. Returns (frames, seconds)."""
    det = YoloOnnxDetector(model, intra_op_threads=threads)
    det.warmup()
    session, names, inp = det._session, list(det.spec.output_names), det.spec.input_name
    src = open_source(source)
    n = 0
    t0 = time.perf_counter()
    for frame in src:
        tensor, _ = det._letterbox(frame.image)
        session.run(names, {inp: tensor})
        n += 1
        if max_frames and n >= max_frames:
            break
    dt = time.perf_counter() - t0
    src.close()
    return n, dt


def pipeline(cfg: RunConfig) -> tuple[int, float, dict[str, float]]:
    outcome = run_job(cfg)
    st = outcome.stats
    return st.frames, st.wall_seconds, st.stages.per_frame_ms(st.frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("--model", required=True)
    ap.add_argument("--classes", default=None)
    ap.add_argument("--line", action="append", default=[])
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = RunConfig(
            source=args.source,
            classes=args.classes.split(",") if args.classes else None,
        )
        base.model.path = args.model
        base.model.threads = args.threads
        base.counting.lines = lines_from_flags(args.line)
        for _ in range(args.repeat):
            n, dt = bare_loop(args.source, args.model, args.threads, None)
            _keep_best(results, "a_bare", n, dt, {})
            for key, video in (("b_no_video", False), ("c_video", True)):
                cfg = base.model_copy(deep=True)
                cfg.output.dir = str(Path(tmp) / key)
                cfg.output.video = video
                n, dt, stages = pipeline(cfg)
                _keep_best(results, key, n, dt, stages)
    ref = float(results["a_bare"]["fps"])  # type: ignore[arg-type]
    for r in results.values():
        r["ratio_to_a"] = round(float(r["fps"]) / ref, 3)  # type: ignore[arg-type]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"source": args.source, "model": args.model, "threads": args.threads,
              "peak_rss_mb": round(peak_mb, 1), "results": results}
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    log.warning("\n%s", text)
    for k, r in results.items():
        log.warning("%-11s %7.2f FPS  ratio %.3f  %s", k, r["fps"], r["ratio_to_a"], r.get("stages", ""))


def _keep_best(results: dict[str, dict[str, object]], key: str, n: int, dt: float, stages: dict) -> None:
    fps = n / dt if dt > 0 else 0.0
    if key not in results or fps > float(results[key]["fps"]):  # type: ignore[arg-type]
        results[key] = {"frames": n, "seconds": round(dt, 3), "fps": round(fps, 2), "stages": stages}


if __name__ == "__main__":
    main()
