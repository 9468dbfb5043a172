"""``vtrack batch``: many videos and photo folders, in parallel worker processes, resumable.

With ``--store`` every video's crossings and zone
figures also go to a count store, as with ``vtrack run --store`` (see docs/batch.md). Exit codes: 0 every
input done (now or in an earlier run), 3 partial (at least one input failed; the rest were processed), 2
bad usage (no input found, bad flag, config, model or class), 130 interrupted (finished inputs are kept;
rerun to resume), 1 internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vtrack.cli.common import fail, run_config_from_flags, setup_logging
from vtrack.cli.options import (
    BackendOption,
    ConfigOption,
    ImgszOption,
    ModelOption,
    PrecisionOption,
    QuietOption,
    VerboseOption,
)
from vtrack.cli.output import crossings_table, err, out
from vtrack.errors import ConfigError, VtrackError


def batch_command(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Video files, folders (videos and photo folders), quoted globs, or @list.txt."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Batch output folder (required).")],
    model: ModelOption = None,
    imgsz: ImgszOption = None,
    classes: Annotated[
        str | None, typer.Option(help="Comma-separated class names to keep, e.g. bicycle,person.")
    ] = None,
    conf: Annotated[float | None, typer.Option(help="Minimum confidence (default 0.25).")] = None,
    line: Annotated[
        list[str] | None,
        typer.Option("--line", help="Counting line NAME=x1,y1,x2,y2 for every video; repeatable."),
    ] = None,
    tracker: Annotated[str | None, typer.Option(help="bytetrack (default), botsort or ocsort.")] = None,
    backend: BackendOption = None,
    precision: PrecisionOption = None,
    stride: Annotated[int | None, typer.Option(help="Process every k-th frame of each video.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: cores ÷ threads, at most one per input).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="ONNX Runtime threads per worker (default: cores ÷ workers).")
    ] = None,
    no_video: Annotated[bool, typer.Option("--no-video", help="Do not write annotated.mp4 files.")] = False,
    images_annotated: Annotated[
        bool, typer.Option("--images-annotated", help="Photo folders: also write annotated images.")
    ] = False,
    blur: Annotated[
        str | None,
        typer.Option(
            "--blur",
            help="Comma-separated classes to pixelate in every annotated video and image, e.g. person "
            "(masks with a -seg model; detected for that even outside --classes).",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run the inputs as Ray tasks: 'auto' (this machine's cluster), 'local' (start Ray here) "
            "or an address (HOST:6379, ray://HOST:10001). Needs: pip install 'vtrack[ray]'.",
        ),
    ] = None,
    ray_gpus: Annotated[
        float | None,
        typer.Option(
            "--ray-gpus",
            help="GPUs per Ray task, e.g. 0.25 to share a GPU by four (default: 1 when the cluster has "
            "GPUs and the model may use CUDA, else 0).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Also commit every video's crossings (and zone figures) to a count store: "
            "sqlite:///path.db or postgresql://user@host/db; stream name = the video's output folder name.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Run identity in the store for every video of the batch; the same id again replaces their "
            "counts (default: per video, its name + a hash of its path and start time).",
        ),
    ] = None,
    start_time: Annotated[
        str | None,
        typer.Option(
            "--start-time",
            help="Wall-clock time of every video's first frame, ISO 8601 (default: each video's "
            "container creation time, else its file modification time).",
        ),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA time zone of the videos' buckets (default: UTC).")
    ] = None,
    subclasses: Annotated[
        str | None,
        typer.Option("--subclasses", help="A .vtc file from `vtrack learn`: count its parent class as "
                     "CLASS:LABEL in every video (photo folders are not tracked: not applied there)."),
    ] = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Process many videos and photo folders into --out; resumable (finished inputs are skipped)."""
    setup_logging(verbose, quiet)
    from vtrack.batch.inputs import expand_inputs
    from vtrack.batch.runner import BatchOptions, run_batch

    try:
        cfg = run_config_from_flags(
            config, model=model, imgsz=imgsz, conf=conf, backend=backend, precision=precision,
            classes=classes, subclasses=subclasses, line=line, tracker=tracker, stride=stride,
            start_time=start_time, no_video=no_video, blur=blur, store=store, run_id=run_id, tz=tz,
        )
        items = expand_inputs(inputs)
        if ray_gpus is not None and ray is None:
            raise ConfigError("--ray-gpus needs --ray")
        opts = BatchOptions(
            out_dir=out_dir,
            workers=workers,
            threads=threads,
            images_annotated=images_annotated,
            quiet=quiet,
            ray=ray,
            ray_gpus=ray_gpus,
        )
        report = run_batch(items, cfg, opts, err)
    except VtrackError as e:
        fail(e)
    if not quiet:
        _print_report(report)
    raise typer.Exit(report.exit_code)


def _print_report(report: Any) -> None:
    run = report.summary.get("run", {})
    out.print(
        f"[bold]{run.get('processed', 0)}[/] processed, {run.get('skipped', 0)} skipped (done before), "
        f"{run.get('failed', 0)} failed, {run.get('interrupted', 0)} interrupted "
        f"in {report.wall_seconds:.1f} s "
        f"with {report.workers} worker(s) × {report.threads} thread(s) → {report.out_dir}",
        highlight=False,
    )
    store = report.summary.get("store")
    if store:
        run_id = store.get("run_id") or "one per video"
        out.print(f"counts also in {store['url']} (run id: {run_id})", highlight=False)
    failed = [o for o in report.outcomes if o.status == "failed"]
    if failed:
        table = Table("input", "error", title="failed")
        for o in failed:
            table.add_row(str(o.item.path), o.error or "")
        out.print(table)
    totals = report.summary.get("totals", {})
    if any(totals.get("lines", {}).values()):
        out.print(crossings_table(totals["lines"], "crossings, all files"))
    if totals.get("detections"):
        out.print(
            "photo detections: " + ", ".join(f"{c}={n}" for c, n in totals["detections"].items()),
            highlight=False,
        )
