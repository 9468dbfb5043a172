"""The ``vtrack`` command line: ``run``, ``export``, ``validate-config``.

Errors a user can cause (bad file, bad flag, bad config, bad model) end as one line on stderr and a
non-zero exit code, never a traceback. Ctrl-C / SIGTERM stop a run cleanly: every output file is
closed complete and valid for the frames done.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.logging import RichHandler
from rich.table import Table

from vtrack import __version__, cli_output
from vtrack.cli_model import BackendOption, PrecisionOption
from vtrack.cli_output import print_error
from vtrack.config import (
    RunConfig,
    format_validation_error,
    is_deployment_file,
    lines_from_flags,
    load_config,
    load_deployment_config,
    zones_from_flags,
)
from vtrack.errors import ConfigError, VtrackError
from vtrack.runtime import tune_malloc

log = logging.getLogger("vtrack")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 1

app = typer.Typer(
    name="vtrack",
    help="Detect, track and count objects in videos, image folders and live streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out, err = cli_output.out, cli_output.err


def _fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False, rich_tracebacks=False)],
        force=True,
    )


def _version(value: bool) -> None:
    if value:
        out.print(f"vtrack {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """vtrack: ONNX YOLO detection + tracking + line counting."""


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Set an event on SIGINT/SIGTERM (the run then finishes its frame and closes its files).

    A second Ctrl-C falls back to the default handler.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        stop.set()
        log.warning("stopping (signal %s): finishing the current frame and closing outputs", signum)

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _split_classes(text: str | None, flag: str = "--classes") -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated class names, e.g. bicycle,person")
    return names


def parse_start_time(text: str | None) -> datetime | None:
    """``--start-time`` as a datetime (``None`` when not given).

    Raises:
        ConfigError: not an ISO 8601 time.
    """
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"--start-time {text!r} is not an ISO 8601 time: {e}") from e


def build_run_config(config: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """The config file (if any) with command-line flags applied on top.

    Args:
        config: YAML file path or ``None``.
        overrides: dotted keys (``"model.conf"``) → values; ``None`` values mean "flag not given".
    """
    base = load_config(config) if config is not None else RunConfig()
    data = base.model_dump(mode="python")
    for key, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("; ".join(format_validation_error(e))) from e


@app.command()
def run(
    source: Annotated[
        str | None, typer.Argument(help="Video file, image folder, or glob of images (quote it).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="ONNX file, .pt checkpoint, or name like yolo11n.")
    ] = None,
    imgsz: Annotated[int | None, typer.Option(help="Inference size (default: the model's).")] = None,
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
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, errors only.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")] = 0,
) -> None:
    """Detect, track and count in a video file or image folder; write outputs to --out."""
    _setup_logging(verbose, quiet)
    try:
        start = parse_start_time(start_time)
        overrides: dict[str, Any] = {
            "source": source,
            "model.path": model,
            "model.imgsz": imgsz,
            "model.conf": conf,
            "model.backend": backend,
            "model.precision": precision,
            "classes": _split_classes(classes),
            "counting.lines": [lc.model_dump() for lc in lines_from_flags(line)] if line else None,
            "counting.zones": [zc.model_dump() for zc in zones_from_flags(zone)] if zone else None,
            "tracker.type": tracker,
            "stride": stride,
            "fps": fps,
            "start_time": start,
            "output.dir": str(out_dir) if out_dir is not None else None,
            "output.video": False if no_video else None,
            "privacy.blur": _split_classes(blur, "--blur"),
            "store": store,
            "run_id": run_id,
            "timezone": tz,
            "subclasses": subclasses,
        }
        cfg = build_run_config(config, overrides)
        _run(cfg, quiet=quiet)
    except VtrackError as e:
        _fail(str(e))


def _run(cfg: RunConfig, *, quiet: bool) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from vtrack.job import run_job

    show = not quiet and err.is_terminal
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>6.1f} FPS"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=not show,
        transient=False,
    )
    task_id = None

    def on_start(src: Any) -> None:
        nonlocal task_id
        task_id = progress.add_task(src.name, total=src.frame_count, fps=0.0)

    def on_frame(_res: Any) -> None:
        if task_id is not None:
            progress.advance(task_id)
            t = progress.tasks[0]
            progress.update(task_id, fps=t.speed or 0.0)

    with _stop_on_signals() as stop, progress:
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
        table = Table("line", "class", "in", "out", title="crossings")
        for line_name, per in s["lines"].items():
            for cls, c in per.items():
                table.add_row(line_name, cls, str(c["in"]), str(c["out"]))
        out.print(table)
    if s["classes"]:
        out.print("tracks: " + ", ".join(f"{c}={n}" for c, n in s["classes"].items()), highlight=False)


@app.command("validate-config")
def validate_config(
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
        print_error(e, "invalid")
        raise typer.Exit(EXIT_USER_ERROR) from None
    out.print(f"{file}: OK ({'a vtrack serve deployment' if deployment else 'a vtrack run config'})")


@app.command()
def export(
    model: Annotated[
        Path, typer.Argument(help="Ultralytics .pt checkpoint (or an .onnx export with --int8).")
    ],
    imgsz: Annotated[int, typer.Option(help="Input size.")] = 640,
    half: Annotated[bool, typer.Option(help="FP16 weights (GPU inference).")] = False,
    dynamic: Annotated[bool, typer.Option(help="Dynamic batch/height/width axes.")] = False,
    nms: Annotated[bool, typer.Option(help="End-to-end export with NMS inside the graph.")] = False,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Also quantize to int8 (OpenVINO IR <stem>-int8.xml, 'int8' extra): "
                     "run it with --precision int8."),
    ] = False,
    calib: Annotated[
        Path | None,
        typer.Option("--calib", help="--int8: video or image folder of the camera to calibrate on."),
    ] = None,
    calib_frames: Annotated[
        int, typer.Option("--calib-frames", min=1, help="--int8: frames to calibrate on.")
    ] = 120,
    min_agreement: Annotated[
        float,
        typer.Option(
            "--min-agreement", min=0.0, max=1.0,
            help="--int8: least recall and precision vs fp32 on held-out frames to write the model.",
        ),
    ] = 0.9,
    force: Annotated[
        bool, typer.Option("--force", help="--int8: write it below --min-agreement too.")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the .onnx.")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Export an Ultralytics .pt checkpoint to ONNX (needs the 'export' extra); --int8 also quantizes it."""
    _setup_logging(verbose, False)
    from vtrack.detectors.export import export_model

    try:
        if calib is not None and not int8:
            raise ConfigError("--calib goes with --int8")
        if model.suffix.lower() == ".onnx" and not int8:
            raise ConfigError(f"{model} is already ONNX; add --int8 --calib VIDEO to quantize it")
        if int8 and calib is None:
            raise ConfigError("--int8 needs --calib VIDEO_OR_DIR: frames of the camera to calibrate on")
        if model.suffix.lower() == ".onnx":
            path = model
        else:
            path = export_model(model, imgsz=imgsz, half=half, dynamic=dynamic, nms=nms, out_dir=out_dir)
            out.print(f"wrote {path}")
        if int8:
            assert calib is not None
            from vtrack.detectors.backend import int8_sibling
            from vtrack.detectors.quantize import quantize_int8

            dest = int8_sibling(out_dir / path.name if out_dir is not None else path)
            path, score = quantize_int8(
                path, calib, calib_frames=calib_frames, min_agreement=min_agreement, force=force, out=dest
            )
            out.print(
                f"int8 vs fp32 on {score.frames} held-out frames of {calib}: recall {score.recall:.3f}, "
                f"precision {score.precision:.3f} ({score.reference} vs {score.other} boxes)",
                highlight=False,
            )
            out.print(f"wrote {path}")
    except VtrackError as e:
        _fail(str(e))


from vtrack.cli_eval import eval_command, eval_counts_command  # noqa: E402

app.command("eval")(eval_command)
app.command("eval-counts")(eval_counts_command)


from vtrack.cli_batch import batch as batch_command  # noqa: E402

app.command("batch")(batch_command)


from vtrack.cli_counts import counts_command  # noqa: E402

app.command("counts")(counts_command)


from vtrack.cli_serve import serve_command  # noqa: E402

app.command("serve")(serve_command)


from vtrack.cli_bench import bench_command  # noqa: E402

app.command("bench")(bench_command)


from vtrack.cli_subclasses import crops_command, export_embedder_command, learn_command  # noqa: E402

app.command("crops")(crops_command)
app.command("learn")(learn_command)
app.command("export-embedder")(export_embedder_command)


from vtrack.docs_gen import docs_config_command  # noqa: E402

app.command("docs-config")(docs_config_command)


def main() -> None:
    """Console-script entry point."""
    tune_malloc()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except VtrackError as e:  # in case a command forgot to catch
        err.print(f"error: {e}", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except OSError as e:  # the machine's, not ours: a full disk, a folder that cannot be written
        where = f" ({e.filename})" if e.filename else ""
        err.print(f"error: {e.strerror or e}{where}", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except Exception as e:
        log.debug("internal error", exc_info=True)
        err.print(
            f"internal error: {type(e).__name__}: {e} (run with -vv for details; please report it)",
            highlight=False,
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
