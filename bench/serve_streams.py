"""How many real-time 720p cameras one CPU box holds in ``vtrack serve``, per backend.

Each of N streams is a real :class:`~vtrack.service.manager.StreamManager` stream: the bike clip looped
and paced at its own 30 FPS (a camera), ``max_fps`` (default 5) detections a second at most, ByteTrack,
a counting line, ``tracker.carry`` flow (default: every other frame is carried) or off. All N share the
one detector ``serve`` loads. After a warm-up, for ``--seconds`` the script samples each stream's
counters; N is **held** when every stream

* processes at least ``--min-share`` (0.95) of the camera's frames (with ``--carry off``: of
  ``max_fps``; only the newest frame is taken then), or of what one stream processed alone if less,
* detects at least ``--min-share`` of ``max_fps`` (or of what one stream detected alone, if less), and
* keeps its newest processed frame younger than ``--max-age`` (1 s) at every sample.

N grows 1, 2, 3, … until a trial fails (or ``--max-streams``). Per backend (``--variant
BACKEND:PRECISION``, repeatable), so the figures are ratios of one run on one machine::

    PYTHONPATH=src python bench/serve_streams.py --model ../shared/models/yolov8n.onnx \\
        --clip ../shared/media/video/bicycle_tracking_sample.mp4 \\
        --variant onnxruntime:fp32 --variant openvino:bf16 --json /tmp/serve_streams.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vtrack.bench import model_config, parse_variant
from vtrack.config import DeploymentConfig
from vtrack.metrics import Metrics
from vtrack.service.manager import StreamManager

log = logging.getLogger("bench.serve_streams")


@dataclass
class Trial:
    """One N-stream trial of one backend."""

    variant: str
    streams: int
    held: bool
    processed_share: float  # lowest over streams: frames processed / frames the camera sent
    detections_per_s: float  # lowest over streams
    max_age_s: float  # highest newest-frame age seen
    dropped: int  # frames dropped by the sources, all streams
    why: str


def trial(args: argparse.Namespace, variant: str, n: int, alone: Trial | None = None) -> Trial:
    """Run ``n`` streams; ``alone``: this backend's 1-stream trial, the reference when it fell short of
    ``max_fps`` (the newest-frame pacing of ``--carry off`` gets ~4.5 of 5 a second on any box)."""
    mc = model_config(args.model, *parse_variant(variant)).model_dump()
    gate = [400, 250, 400, 650]
    streams = [
        {
            "id": f"cam{i}", "source": args.clip, "loop": True, "max_fps": args.max_fps,
            "classes": ["bicycle", "person"], "counting": {"lines": [{"name": "gate", "points": gate}]},
            "tracker": {"carry": args.carry},
        }
        for i in range(n)
    ]  # fmt: skip
    cfg = DeploymentConfig.model_validate({"model": mc, "streams": streams})
    manager = StreamManager(cfg, metrics=Metrics())
    manager.start()
    try:
        time.sleep(args.warmup)
        workers = [manager.worker(f"cam{i}") for i in range(n)]
        if any(w is None for w in workers):
            return Trial(variant, n, False, 0.0, 0.0, 0.0, 0, "a stream did not start")
        first = [(w.status(), time.monotonic()) for w in workers]  # type: ignore[union-attr]
        age = 0.0
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            time.sleep(0.5)
            for w in workers:
                st = w.status()  # type: ignore[union-attr]
                if st.state != "running":
                    return Trial(variant, n, False, 0.0, 0.0, age, 0, f"{st.id} is {st.state}")
                age = max(age, st.last_frame_age_seconds or 0.0)
        last = [w.status() for w in workers]  # type: ignore[union-attr]
        now = time.monotonic()
    finally:
        manager.stop()
    shares, rates, dropped = [], [], 0
    for (s0, t0), s1 in zip(first, last, strict=True):
        span = now - t0
        sent = (s1.source_fps or 30.0) * span if args.carry == "flow" else args.max_fps * span
        shares.append((s1.frames_processed - s0.frames_processed) / sent)
        rates.append((s1.frames_detected - s0.frames_detected) / span)
        dropped += s1.frames_dropped - s0.frames_dropped
    share, rate = min(shares), min(rates)
    want_share = 1.0 if alone is None else min(1.0, alone.processed_share)
    want_rate = args.max_fps if alone is None else min(args.max_fps, alone.detections_per_s)
    if alone is None and args.carry == "off":  # one stream's newest-frame pacing is the reference
        want_share, want_rate = share, rate
    why = []
    if share < args.min_share * want_share:
        why.append(f"processed {share:.2f} of the frames")
    if rate < args.min_share * want_rate:
        why.append(f"{rate:.1f} detections/s")
    if age > args.max_age:
        why.append(f"frames {age:.1f} s old")
    return Trial(variant, n, not why, round(share, 3), round(rate, 2), round(age, 2), dropped,
                 "; ".join(why) or "held")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--variant", action="append", help="BACKEND:PRECISION (repeatable; default auto:auto)")
    ap.add_argument("--max-fps", type=float, default=5.0)
    ap.add_argument("--carry", choices=["flow", "off"], default="flow", help="tracker.carry of every stream")
    ap.add_argument("--max-streams", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--min-share", type=float, default=0.95)
    ap.add_argument("--max-age", type=float, default=1.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("vtrack",):
        logging.getLogger(name).setLevel(logging.WARNING)
    trials: list[Trial] = []
    for variant in args.variant or ["auto:auto"]:
        alone = None
        for n in range(1, args.max_streams + 1):
            t = trial(args, variant, n, alone)
            alone = alone or t
            trials.append(t)
            log.info("%s, %d stream(s): %s", variant, n, t)
            if not t.held:
                break
    print("| backend | streams | held | processed share (min) | detections/s (min) | newest frame age (max) "
          "| why |")
    print("|---|---:|---|---:|---:|---:|---|")
    for t in trials:
        print(f"| {t.variant} | {t.streams} | {'yes' if t.held else 'no'} | {t.processed_share:.3f} "
              f"| {t.detections_per_s:.2f} | {t.max_age_s:.2f} s | {t.why} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in trials], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
