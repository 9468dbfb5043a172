"""``vtrack bench``: FPS of ``vtrack run`` against the bare loop, Ultralytics and the inference limit.

The measuring lives in :mod:`vtrack.bench`; this module only parses flags and prints the report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from vtrack.bench import BenchConfig, format_markdown, run_bench
from vtrack.cli.common import fail
from vtrack.cli.options import BackendOption, PrecisionOption
from vtrack.cli.output import out
from vtrack.errors import VtrackError


def bench_command(
    source: Annotated[Path, typer.Argument(help="Video file to benchmark on.")],
    model: Annotated[str, typer.Option(help="ONNX model (the same file for every variant).")],
    classes: Annotated[str | None, typer.Option(help="Comma-separated class names to track.")] = None,
    line: Annotated[
        list[str] | None, typer.Option(help="Counting line NAME=x1,y1,x2,y2 (repeatable).")
    ] = None,
    cores: Annotated[int | None, typer.Option(min=1, help="Thread budget; default: all cores.")] = None,
    sessions: Annotated[int | None, typer.Option(min=1, help="ONNX Runtime sessions of (b)/(c).")] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Intra-op threads per session of (b)/(c).")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Frames per variant; default: all.")] = None,
    limit_frames: Annotated[int, typer.Option(min=1, help="Inferences per layout in (e).")] = 60,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of each variant; the best is kept.")] = 1,
    backend: BackendOption = None,
    precision: PrecisionOption = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            help="Also measure (b) and (e) with this BACKEND:PRECISION, e.g. onnxruntime:fp32 or "
            "openvino:int8; repeatable.",
        ),
    ] = None,
    subclasses: Annotated[
        Path | None,
        typer.Option(
            help="A .vtc file from `vtrack learn`: also measure (b) with these sub-classes (--classes must "
            "include its parent class).",
        ),
    ] = None,
    ultralytics_python: Annotated[
        str | None,
        typer.Option(help="Python with ultralytics for (d); default: this one; '' skips (d)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Measure (a) bare loop, (b) run --no-video, (c) run with video, (d) Ultralytics, (e) inference limit."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(message)s", force=True
    )
    for name in ("vtrack.job", "vtrack.detectors", "vtrack.stream", "vtrack.exporters"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cfg = BenchConfig(
        source=str(source),
        model=model,
        classes=[c.strip() for c in classes.split(",") if c.strip()] if classes else None,
        lines=list(line or []),
        cores=cores,
        sessions=sessions,
        threads=threads,
        max_frames=max_frames,
        limit_frames=limit_frames,
        repeat=repeat,
        ultralytics_python=ultralytics_python,
        backend=backend or "auto",
        precision=precision or "auto",
        variants=list(variant or []),
        subclasses=None if subclasses is None else str(subclasses),
    )
    try:
        report = run_bench(cfg)
    except VtrackError as e:
        fail(e)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    out.print(format_markdown(report), highlight=False, soft_wrap=True, markup=False)
