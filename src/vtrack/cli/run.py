"""``vtrack run``: detect, track and count in a video file or image folder; ``vtrack validate-config``.

Ctrl-C / SIGTERM stop a run cleanly: every output file is closed complete and valid for the frames done
(exit code 130).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vtrack.cli.common import EXIT_INTERRUPTED, fail, run_config_from_flags, setup_logging, stop_on_signals
from vtrack.cli.options import (
    BackendOption,
    ConfigOption,
    ImgszOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    VerboseOption,
)
from vtrack.cli.output import advance, crossings_table, err, frame_progress, out
from vtrack.config import RunConfig, is_deployment_file, load_config, load_deployment_config
from vtrack.errors import ConfigError, VtrackError


def run_command(
    source: Annotated[
        str | None, typer.Argument(help="Video file, image folder, or glob of images (quote it).")
    ] = None,
    model: ModelOption = None,
    imgsz: ImgszOption = None,
    classes: Annotated[
        str | None, typer.Option(help="Comma-separated class names to keep, e.g. bicycle,person.")
    ] = None,
    conf: Annotated[float | None, typer.Option(help="Minimum confidence (default: 0.25).")] = None,
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help="Counting line NAME=x1,y1,x2,y2 (pixels, or fractions when all ≤ 1); repeatable. "
            "'in' = crossing from the right to the left of the arrow A→B.",
        ),
    ] = None,
    zone: Annotated[
        list[str] | None,
        typer.Option(
            "--zone",
            help="Polygon zone NAME=x1,y1,x2,y2,x3,y3,... (pixels, or fractions when all ≤ 1); repeatable. "
            "Writes occupancy, entries, exits and dwell times.",
        ),
    ] = None,
    tracker: Annotated[str | None, typer.Option(help="bytetrack (default), botsort, ocsort or auto.")] = None,
    backend: BackendOption = None,
    precision: PrecisionOption = None,
    stride: Annotated[int | None, typer.Option(help="Process every k-th frame.")] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate of an image folder.")] = None,
    start_time: Annotated[
        str | None,
        typer.Option(help="ISO 8601 time of the first frame (UTC if no offset) (default: from the file)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: runs/<name>).")
    ] = None,
    no_video: Annotated[bool, typer.Option("--no-video", help="Do not write annotated.mp4.")] = False,
    blur: Annotated[
        str | None,
        typer.Option("--blur", help="Comma-separated classes to pixelate in annotated.mp4, e.g. person "
                     "(masks with a -seg model; detected for that even outside --classes)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Also commit every crossing to a count store: sqlite:///path.db or "
                     "postgresql://user@host/db."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="Run identity in the store; the same id again replaces its counts "
                     "(default: source name + hash of its path and start time)."),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA time zone of this stream's buckets (default: UTC).")
    ] = None,
    subclasses: Annotated[
        str | None,
        typer.Option("--subclasses", help="A .vtc file from `vtrack learn`: count its parent class as "
                     "CLASS:LABEL, e.g. person:cyclist (--classes may name person:cyclist)."),
    ] = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Detect, track and count in a video file or image folder; write outputs to --out."""
    setup_logging(verbose, quiet)
    try:
        cfg = run_config_from_flags(
            config, source=source, model=model, imgsz=imgsz, conf=conf, backend=backend,
            precision=precision, classes=classes, subclasses=subclasses, line=line, zone=zone,
            tracker=tracker, stride=stride, fps=fps, start_time=start_time, out_dir=out_dir,
            no_video=no_video, blur=blur, store=store, run_id=run_id, tz=tz,
        )
        _run(cfg, quiet=quiet)
    except VtrackError as e:
        fail(e)


def _run(cfg: RunConfig, *, quiet: bool) -> None:
    from vtrack.job import run_job

    progress = frame_progress(quiet=quiet)
    task_id = None

    def on_start(src: Any) -> None:
        nonlocal task_id
        task_id = progress.add_task(src.name, total=src.frame_count, fps=0.0)

    def on_frame(_res: Any) -> None:
        if task_id is not None:
            advance(progress, task_id)

    with stop_on_signals() as stop, progress:
        outcome = run_job(cfg, stop_event=stop, on_start=on_start, on_frame=on_frame)

    s = outcome.summary
    if outcome.decode_errors:
        err.print(
            f"[yellow]warning:[/] {len(outcome.decode_errors)} decode problem(s); "
            f"processed the {s['frames']} frames that decoded (first: {outcome.decode_errors[0]})",
            highlight=False,
        )
    if not quiet:
        _print_summary(s, outcome.out_dir)
    if s.get("interrupted"):
        err.print(f"interrupted after {s['frames']} frames; outputs in {outcome.out_dir} are complete")
        raise typer.Exit(EXIT_INTERRUPTED)


def _print_summary(s: dict[str, Any], out_dir: Path) -> None:
    proc = s.get("processing", {})
    out.print(
        f"[bold]{s['frames']}[/] frames ({s['seconds']:.1f} s of video at {s['fps']:.2f} FPS) "
        f"processed at {proc.get('fps', 0):.1f} FPS → {out_dir}",
        highlight=False,
    )
    if s["lines"]:
        out.print(crossings_table(s["lines"], "crossings"))
    if s["classes"]:
        out.print("tracks: " + ", ".join(f"{c}={n}" for c, n in s["classes"].items()), highlight=False)


def validate_config_command(
    file: Annotated[Path, typer.Argument(help="YAML config file.")],
) -> None:
    """Check a config file (a `run` config, or a `serve` deployment with `streams:`); print each error
    with its path and YAML line."""
    deployment = is_deployment_file(file)
    try:
        if deployment:
            load_deployment_config(file, environ={})
        else:
            load_config(file)
    except ConfigError as e:
        fail(e, prefix="invalid")
    out.print(f"{file}: OK ({'a vtrack serve deployment' if deployment else 'a vtrack run config'})")
