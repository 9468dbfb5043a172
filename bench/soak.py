"""Memory soak: the full pipeline on a looped video for N minutes, RSS every minute.

The clip is played again and again as one endless stream (frame numbers and times keep increasing, so
the tracker and line counters see a long live stream, not restarts); every exporter of ``vtrack run``
writes as usual (events.jsonl, counts.csv, tracks.txt; the annotated video with ``--video``).
RSS is logged every ``--interval`` seconds; at the end the growth after the warm-up is reported:
flat means under 5 % (issue 6). The allocator is tuned as the CLI tunes it
(:func:`vtrack.runtime.tune_malloc`; ``VTRACK_MALLOC_TUNE=0`` to soak without).

    .venv/bin/python bench/soak.py ../shared/media/video/bicycle_tracking_sample.mp4 \\
        --model ../shared/models/yolov8n.onnx --classes bicycle --line gate=400,250,400,650 \\
        --minutes 30 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from vtrack.bench import rss_mb
from vtrack.config import RunConfig, lines_from_flags
from vtrack.job import build_outputs
from vtrack.pipeline.compose import build_step, canonical_classes, load_detector
from vtrack.runtime import heap_usage, tune_malloc
from vtrack.stream.runner import Pipeline
from vtrack.stream.sources import open_source
from vtrack.types import Frame

log = logging.getLogger("soak")

FLAT_GROWTH = 0.05
"""Growth of RSS after the warm-up under which memory counts as flat."""


class LoopedSource:
    """A video file played in a loop as one endless source (frame index and pts keep increasing).

    Args:
        path: The video file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        first = open_source(path)
        self.name = f"{first.name}-loop"
        self.fps, self.native_fps = first.fps, first.native_fps
        self.width, self.height = first.width, first.height
        self.frame_count: int | None = None
        first.close()
        self.loops = 0

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            src = open_source(self.path)
            try:
                for frame in src:
                    yield Frame(frame.image, index, index / self.fps, self.name)
                    index += 1
            finally:
                src.close()
            self.loops += 1

    def close(self) -> None:
        """Nothing held between loops."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("--model", required=True)
    ap.add_argument("--classes", default=None)
    ap.add_argument("--line", action="append", default=[])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline RSS sample")
    ap.add_argument("--video", action="store_true", help="also write the annotated video")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tune_malloc()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("vtrack",):
        logging.getLogger(name).setLevel(logging.WARNING)

    cfg = RunConfig(source=args.source, classes=args.classes.split(",") if args.classes else None)
    cfg.model.path = args.model
    cfg.counting.lines = lines_from_flags(args.line)
    cfg.output.video = args.video
    det = load_detector(cfg.model, parallel=True, classes=cfg.classes)
    source = LoopedSource(args.source)
    step = build_step(
        cfg.tracker, cfg.counting, classes=canonical_classes(det, cfg.classes), width=source.width,
        height=source.height, native_fps=source.fps, fps=source.fps,
    )
    stop = threading.Event()
    samples: list[dict[str, float]] = []
    frames = [0]
    t0 = time.monotonic()

    def sample() -> None:
        next_t = 0.0
        while not stop.is_set():
            elapsed = time.monotonic() - t0
            if elapsed >= next_t:
                rss = rss_mb()
                row = {"seconds": round(elapsed, 1), "rss_mb": round(rss, 1), "frames": frames[0]}
                heap = heap_usage()  # in use vs kept free: tells a leak from a heap holding freed pages
                if heap is not None:
                    row["heap_in_use_mb"] = round(heap[0] / 1e6, 1)
                    row["heap_free_mb"] = round(heap[1] / 1e6, 1)
                samples.append(row)
                log.info(
                    "%6.0f s  %6d frames  RSS %7.1f MB  heap in use %s MB, free %s MB",
                    elapsed,
                    frames[0],
                    rss,
                    row.get("heap_in_use_mb", "?"),
                    row.get("heap_free_mb", "?"),
                )
                next_t += args.interval
            if elapsed >= args.minutes * 60:
                stop.set()
            stop.wait(0.5)

    with tempfile.TemporaryDirectory(prefix="vtrack-soak-") as tmp:
        cfg.output.dir = tmp
        exporters = build_outputs(cfg, Path(tmp), source, step.counters, det.class_names)
        pipe = Pipeline(
            source,
            det,
            step,
            exporters,
            start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
            stop_event=stop,
            on_frame=lambda r: frames.__setitem__(0, frames[0] + 1),
        )
        sampler = threading.Thread(target=sample, name="rss", daemon=True)
        sampler.start()
        stats = pipe.run()
        stop.set()
        sampler.join()
    final = {"seconds": round(time.monotonic() - t0, 1), "rss_mb": round(rss_mb(), 1), "frames": stats.frames}
    samples.append(final)
    after = [s for s in samples if s["seconds"] >= args.warmup]
    base = after[0]["rss_mb"] if after else samples[0]["rss_mb"]
    peak = max(s["rss_mb"] for s in after) if after else final["rss_mb"]
    growth = (final["rss_mb"] - base) / base
    peak_growth = (peak - base) / base
    report = {
        "source": args.source,
        "minutes": args.minutes,
        "frames": stats.frames,
        "loops": source.loops,
        "fps": round(stats.fps, 2),
        "baseline_rss_mb": base,
        "final_rss_mb": final["rss_mb"],
        "growth": round(growth, 4),
        "peak_growth": round(peak_growth, 4),
        "flat": peak_growth < FLAT_GROWTH,
        "samples": samples,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    log.info(
        "%d frames (%d loops) at %.2f FPS; RSS after warm-up %.1f MB → %.1f MB at the end (%+.1f %%), "
        "peak %+.1f %%: %s",
        stats.frames,
        source.loops,
        stats.fps,
        base,
        final["rss_mb"],
        100 * growth,
        100 * peak_growth,
        "flat" if report["flat"] else "GROWING",
    )


if __name__ == "__main__":
    main()
