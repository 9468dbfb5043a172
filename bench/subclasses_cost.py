"""End-to-end cost of ``--subclasses``: the same ``vtrack run`` with and without it, interleaved.

Runs ``run_job`` on one clip ``--repeat`` times each way, alternating (without, with, without, …) so
load from other processes hits both alike, and reports processing FPS, CPU ms per frame, and the
stage's wall and CPU ms per labelled track. The slowdown is the ratio of the best runs of each.

    PYTHONPATH=src VTRACK_EMBEDDER=../shared/models/efficientnet_lite0.onnx python bench/subclasses_cost.py \\
        --clip ../shared/media/video/bicycle_tracking_sample.mp4 --model ../shared/models/yolov8n.onnx \\
        --subclasses cyclists.vtc --classes person,bicycle --line road=0.3,0.35,0.3,0.9 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from vtrack.config import RunConfig, lines_from_flags
from vtrack.job import run_job


def once(args: argparse.Namespace, subclasses: str | None, out: Path) -> dict[str, Any]:
    cfg = RunConfig.model_validate(
        {
            "source": args.clip,
            "model": {"path": args.model},
            "classes": args.classes.split(","),
            "counting": {"lines": [lc.model_dump() for lc in lines_from_flags(args.line)]},
            "output": {"dir": str(out), "video": False},
            "subclasses": subclasses,
        }
    )
    s = run_job(cfg).summary
    proc = s["processing"]
    return {
        "fps": proc["fps"],
        "cpu_ms_per_frame": proc["cpu_ms_per_frame"].get("process"),
        "lines": s["lines"],
        "subclasses": s.get("subclasses"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--subclasses", required=True)
    ap.add_argument("--classes", default="person,bicycle")
    ap.add_argument("--line", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for key, sub in (("without", None), ("with", args.subclasses)):
                r = once(args, sub, Path(tmp) / f"{key}{i}")
                runs[key].append(r)
                print(key, json.dumps(r, default=str), flush=True)
    best = {k: max(v, key=lambda r: r["fps"]) for k, v in runs.items()}
    cpu = {k: min(r["cpu_ms_per_frame"] or 0 for r in v) for k, v in runs.items()}
    report = {
        "runs": runs,
        "fps_without": best["without"]["fps"],
        "fps_with": best["with"]["fps"],
        "slowdown_fps": 1 - best["with"]["fps"] / best["without"]["fps"],
        "cpu_ms_per_frame_without": cpu["without"],
        "cpu_ms_per_frame_with": cpu["with"],
        "cpu_increase": cpu["with"] / cpu["without"] - 1 if cpu["without"] else None,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
