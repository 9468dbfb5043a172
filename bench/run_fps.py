"""Thin wrapper kept for old commands: the benchmark is now ``vtrack bench`` (:mod:`vtrack.bench`).

    python bench/run_fps.py ../shared/media/video/bicycle_tracking_sample.mp4 \
        --model ../shared/models/yolov8n.onnx --classes bicycle --line gate=400,250,400,650

takes the same options as ``vtrack bench`` (``--repeat``, ``--max-frames``, ``--json`` ...).
"""

from __future__ import annotations

import sys

from vtrack.cli import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "bench", *sys.argv[1:]]
    main()
