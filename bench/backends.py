"""Backends and precisions side by side: `vtrack run --no-video`, the inference limit, start-up and memory.

One process, variants interleaved (v1 v2 v3 v4, v1 v2 v3 v4, ...), ``--repeat`` rounds; ratios are taken
against ONNX Runtime fp32 **of the same round** (absolute FPS on a shared machine moves with its load).
Per variant: (b) ``vtrack run --no-video`` FPS and CPU ms per frame, (e) the inference limit (fastest of
1×1, 1×2, 2×1 sessions × threads on prepared tensors) and (b) ÷ (e). Start-up (build + warm-up) and
resident memory are measured in a fresh subprocess per backend, with an empty and then a warm
OpenVINO model cache.

Usage (the int8 model from ``vtrack export MODEL.onnx --int8 --calib CLIP``)::

    python bench/backends.py ../shared/media/video/bicycle_tracking_sample.mp4 \\
        --model ../shared/models/yolov8n.onnx --int8 ../shared/models/yolov8n-int8.xml \\
        --classes bicycle --line gate=400,250,400,650 --repeat 3 --json /tmp/backends.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from vtrack.bench import BenchConfig, available_cores, inference_limit, vtrack_run
from vtrack.runtime import tune_malloc

REFERENCE = ("onnxruntime", "fp32")

_STARTUP = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from vtrack.config import ModelConfig
    from vtrack.detectors.factory import build_detector
    t1 = time.perf_counter()
    det = build_detector(ModelConfig(path=sys.argv[1], backend=sys.argv[2], precision=sys.argv[3]))
    t2 = time.perf_counter()
    det.warmup()
    t3 = time.perf_counter()
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would be the forking parent's
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    mb = {k: int(status[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS")}
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "warmup_s": t3 - t2,
                      "peak_rss_mb": mb["VmHWM"], "rss_mb": mb["VmRSS"]}))
    """
)


def startup(model: str, backend: str, precision: str, cache: Path) -> dict[str, float]:
    """Import, build and warm up one detector in a fresh interpreter; its times and peak RSS."""
    env = dict(os.environ, VTRACK_CACHE=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP, model, backend, precision],
        capture_output=True, text=True, check=True, env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("source")
    p.add_argument("--model", required=True)
    p.add_argument("--int8", help="int8 IR (vtrack export --int8); adds openvino:int8")
    p.add_argument("--classes", default=None)
    p.add_argument("--line", action="append", default=[])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--limit-frames", type=int, default=60)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--startup-only", action="store_true", help="only the start-up and memory figures")
    args = p.parse_args()
    tune_malloc()
    cores = available_cores()
    variants: list[tuple[str, str, str]] = [
        ("onnxruntime", "fp32", args.model),
        ("auto", "auto", args.model),
        ("openvino", "fp32", args.model),
    ]
    if args.int8:
        variants.append(("openvino", "int8", args.int8))
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vtrack-backends-") as tmp:
        for rep in range(0 if args.startup_only else args.repeat):
            this: dict[str, Any] = {}
            for backend, precision, model in variants:
                cfg = BenchConfig(
                    source=args.source, model=model,
                    classes=args.classes.split(",") if args.classes else None, lines=args.line,
                    max_frames=args.max_frames, limit_frames=args.limit_frames,
                )
                key = f"{backend}:{precision}"
                b = vtrack_run(cfg, Path(tmp) / "b", video=False, variant=(backend, precision))
                e = inference_limit(cfg, cores, (backend, precision))
                this[key] = {
                    "b_fps": round(b.fps, 2), "b_cpu_ms": round(b.cpu_ms.get("process", 0.0), 1),
                    "b_detail": b.detail, "e_fps": round(e.fps, 2),
                    "e_cpu_ms": round(e.cpu_ms.get("process", 0.0), 1), "e_detail": e.detail,
                    "b_over_e": round(b.fps / e.fps, 3) if e.fps else None,
                }
                print(f"round {rep + 1} {key}: {this[key]}", flush=True)
            ref = this[":".join(REFERENCE)]
            for v in this.values():
                v["b_ratio"] = round(v["b_fps"] / ref["b_fps"], 3)
                v["e_ratio"] = round(v["e_fps"] / ref["e_fps"], 3)
                v["b_cpu_ratio"] = round(ref["b_cpu_ms"] / v["b_cpu_ms"], 3) if v["b_cpu_ms"] else None
            rounds.append(this)
        starts: dict[str, Any] = {}
        for backend, precision, model in variants:
            cache = Path(tmp) / f"cache-{backend}-{precision}"
            key = f"{backend}:{precision}"
            starts[key] = {
                "cold": startup(model, backend, precision, cache),
                "warm": startup(model, backend, precision, cache),
            }
            print(f"start-up {key}: {starts[key]}", flush=True)
    summary = {}
    if not rounds:
        print(json.dumps(starts, indent=1))
        return
    metrics = ("b_ratio", "e_ratio", "b_over_e", "b_fps", "b_cpu_ratio")
    for key in rounds[0]:
        col = {m: [r[key][m] for r in rounds] for m in metrics}
        summary[key] = {
            m: {"median": statistics.median(v), "min": min(v), "max": max(v)} for m, v in col.items()
        }
    report = {"cores": cores, "load_before": os.getloadavg(), "rounds": rounds, "summary": summary,
              "startup": starts}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
