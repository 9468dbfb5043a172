"""``vtrack eval-counts``: line counts against truth per line × class × direction, optionally over
detector strides.

The logic lives in :mod:`vtrack.evaluation_counts`; this module only parses flags and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vtrack.cli.common import fail, run_config_from_flags, setup_logging, write_json
from vtrack.cli.options import ImgszOption, ModelOption, QuietOption, VerboseOption
from vtrack.cli.output import err, out
from vtrack.errors import ConfigError, VtrackError
from vtrack.evaluation import find_sequences, load_mot_rows
from vtrack.evaluation_counts import (
    DEFAULT_SEGMENTS,
    CountEvent,
    CountReport,
    load_events,
    predict_run,
    score_counts,
    sweep,
    truth_from_gt,
)

COUNT_FORMATS = ("table", "json", "csv")


def parse_strides(text: str | None) -> list[int]:
    """``--strides 1,2,3`` → ``[1, 2, 3]`` (``None`` → ``[1]``).

    Raises:
        ConfigError: an item that is not an integer >= 1.
    """
    if text is None or not text.strip():
        return [1]
    strides: list[int] = []
    for item in text.split(","):
        try:
            s = int(item.strip())
        except ValueError:
            raise ConfigError(
                f"--strides {text!r}: expected comma-separated integers, e.g. 1,2,3,4,6"
            ) from None
        if s < 1:
            raise ConfigError(f"--strides {text!r}: every stride must be >= 1")
        strides.append(s)
    return strides


def _fmt_rel(rel: float | None) -> str:
    return "–" if rel is None else f"{100 * rel:+.0f}%"


def count_rows_table(report: CountReport, title: str | None = None) -> Table:
    """One prediction: a row per line × class × direction."""
    table = Table(
        "line", "class", "dir", "truth", "predicted", "abs err", "rel err", "1-nwRMSE", title=title
    )
    for col in table.columns[3:]:
        col.justify = "right"
    for r in report.rows:
        table.add_row(
            r.line, r.class_name, r.direction, str(r.truth), str(r.predicted), f"{r.abs_error:+d}",
            _fmt_rel(r.rel_error), f"{r.effectiveness:.3f}",
        )
    return table


def count_sweep_table(reports: list[CountReport], title: str | None = None) -> Table:
    """Several strides: a row per stride, a column per line × class × direction (predicted, error)."""
    keys = [(r.line, r.class_name, r.direction) for r in reports[0].rows] if reports else []
    truth = {(r.line, r.class_name, r.direction): r.truth for r in reports[0].rows} if reports else {}
    headers = [f"{ln} {c} {d} (truth {truth[(ln, c, d)]})" for ln, c, d in keys]
    table = Table("stride", "detector FPS", *headers, "Σ|err|", "1-nwRMSE", title=title)
    for col in table.columns[1:]:
        col.justify = "right"
    for rep in reports:
        by_key = {(r.line, r.class_name, r.direction): r for r in rep.rows}
        cells = []
        for k in keys:
            row = by_key.get(k)
            cells.append("–" if row is None else f"{row.predicted} ({_fmt_rel(row.rel_error)})"
                         if row.rel_error is not None else f"{row.predicted} ({row.abs_error:+d})")
        fps = rep.info.get("detector_fps")
        table.add_row(
            str(rep.stride), "–" if fps is None else f"{fps:g}", *cells, str(rep.total_abs_error),
            f"{rep.effectiveness:.3f}",
        )
    return table


def count_csv(reports: list[CountReport]) -> str:
    """One CSV row per stride × line × class × direction."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["stride", "line", "class", "direction", "truth", "predicted", "abs_error", "rel_error",
                "wrmse", "nwrmse", "effectiveness"])  # fmt: skip
    for rep in reports:
        for r in rep.rows:
            d = r.to_dict()
            w.writerow(["" if rep.stride is None else rep.stride, r.line, r.class_name, r.direction,
                        r.truth, r.predicted, r.abs_error, "" if d["rel_error"] is None else d["rel_error"],
                        d["wrmse"], d["nwrmse"], d["effectiveness"]])  # fmt: skip
    return buf.getvalue()


def eval_counts_command(
    source: Annotated[
        str | None,
        typer.Argument(
            help="Video file, image folder, or MOTChallenge sequence folder (its gt is the truth)."
        ),
    ] = None,
    line: Annotated[
        list[str] | None,
        typer.Option("--line", help="Counting line NAME=x1,y1,x2,y2 (as in vtrack run); repeatable."),
    ] = None,
    classes: Annotated[
        str | None, typer.Option(help="Comma-separated class names to detect and count.")
    ] = None,
    gt: Annotated[
        Path | None,
        typer.Option(help="Truth from this MOTChallenge gt.txt (default for a sequence folder: gt/gt.txt)."),
    ] = None,
    gt_class: Annotated[
        str | None, typer.Option(help="Class the gt identities count as (default: the first of --classes).")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Truth from a hand-made events file (events.jsonl shape).")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Score this events.jsonl instead of running vtrack.")
    ] = None,
    strides: Annotated[
        str | None, typer.Option(help="Run at each detector stride, e.g. 1,2,3,4,6 (default 1).")
    ] = None,
    segments: Annotated[int, typer.Option(help="Time segments of the weighted error.")] = DEFAULT_SEGMENTS,
    length: Annotated[
        int | None, typer.Option(help="Frames of the video (default: the source's, else the last event).")
    ] = None,
    model: ModelOption = None,
    conf: Annotated[float | None, typer.Option(help="Minimum detection confidence.")] = None,
    imgsz: ImgszOption = None,
    tracker: Annotated[str | None, typer.Option(help="bytetrack (default), botsort, ocsort or auto.")] = None,
    min_frames: Annotated[
        int | None, typer.Option(help="Observations on the new side before a crossing counts.")
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate of an image folder.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML run config.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv (on stdout).")] = "table",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Score line counts against truth per line × class × direction, optionally over detector strides."""
    setup_logging(verbose, quiet)
    try:
        if fmt not in COUNT_FORMATS:
            raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(COUNT_FORMATS)}")
        result = _eval_counts(
            source, lines=line, classes=classes, gt=gt, gt_class=gt_class, truth=truth, events=events,
            strides=parse_strides(strides), segments=segments, length=length, model=model, conf=conf,
            imgsz=imgsz, tracker=tracker, min_frames=min_frames, fps=fps, config=config,
            progress=not quiet and fmt == "table",
        )
        reports: list[CountReport] = result.pop("_reports")
        record = result
        if json_out is not None:
            write_json(json_out, record)
    except VtrackError as e:
        fail(e)
    if fmt == "json":
        out.print_json(json.dumps(record))
    elif fmt == "csv":
        out.file.write(count_csv(reports))
    elif not quiet:
        title = f"counts vs {record['truth']}"
        if len(reports) == 1:
            out.print(count_rows_table(reports[0], title=title))
        else:
            out.print(count_sweep_table(reports, title=title))
        if json_out is not None:
            out.print(f"wrote {json_out}", highlight=False)


def _eval_counts(
    source: str | None,
    *,
    lines: list[str] | None,
    classes: str | None,
    gt: Path | None,
    gt_class: str | None,
    truth: Path | None,
    events: Path | None,
    strides: list[int],
    segments: int,
    length: int | None,
    model: str | None,
    conf: float | None,
    imgsz: int | None,
    tracker: str | None,
    min_frames: int | None,
    fps: float | None,
    config: Path | None,
    progress: bool,
) -> dict[str, Any]:
    from vtrack.stream.sources import open_source

    if segments < 1:
        raise ConfigError(f"--segments must be >= 1, got {segments}")
    if gt is not None and truth is not None:
        raise ConfigError("give the truth either as --gt or as --truth, not both")
    if events is not None and len(strides) > 1:
        raise ConfigError("--events scores one events file: --strides needs a SOURCE to run")
    is_seq = source is not None and Path(source).is_dir() and (Path(source) / "gt" / "gt.txt").is_file()
    if events is not None and gt is None and truth is None and not is_seq:
        raise ConfigError("--events needs a truth to compare with: --gt FILE or --truth FILE")
    src_path = source
    if is_seq:
        seq = find_sequences([Path(str(source))])[0]
        src_path = str(seq.image_dir)
        fps = fps or seq.fps
        if gt is None and truth is None:
            gt = seq.gt_path
        length = length or seq.length
    cfg = run_config_from_flags(
        config, source=src_path, model=model, imgsz=imgsz, conf=conf, classes=classes, line=lines,
        min_frames=min_frames, tracker=tracker, fps=fps,
    )
    if not cfg.counting.lines and truth is None:
        raise ConfigError("no counting line: give --line NAME=x1,y1,x2,y2 (or lines in --config)")
    if events is None and not cfg.source:
        raise ConfigError("nothing to score: give a SOURCE to run, or --events FILE")

    resolved: list[Any] = []
    if cfg.source:
        probe = open_source(cfg.source, fps=cfg.fps)
        try:
            resolved = [lc.spec().resolve(probe.width, probe.height) for lc in cfg.counting.lines]
            length = length or probe.frame_count or 0
        finally:
            probe.close()
    elif gt is not None:
        raise ConfigError("--gt needs the SOURCE (to place the lines in its pixels)")

    cls_names = cfg.classes or []
    truth_events: list[CountEvent] | None = None
    truth_label = "truth"
    if gt is not None:
        gt_cls = gt_class or (cls_names[0] if cls_names else "person")
        truth_events = truth_from_gt(
            load_mot_rows(gt, "ground truth"), resolved, class_name=gt_cls,
            anchor=cfg.counting.anchor, min_frames=cfg.counting.min_frames, length=length,
        )
        truth_label = f"truth from {gt} (class {gt_cls})"
    elif truth is not None:
        truth_events = load_events(truth, "truth events")
        truth_label = f"truth from {truth}"
    expected = [(lc.name, c) for lc in cfg.counting.lines for c in cls_names]

    if events is not None:
        predicted = load_events(events)
        if truth_events is None:  # pragma: no cover - checked above
            raise ConfigError("--events needs a truth to compare with: --gt FILE or --truth FILE")
        n = max(length or 0, 1)
        rows = score_counts(truth_events, predicted, length=n, segments=segments, expected=expected)
        reports = [CountReport(stride=None, rows=rows, length=n, segments=segments,
                               info={"events": str(events)})]  # fmt: skip
    else:
        reports, label = _run_sweep(cfg, strides, truth_events, length or 0, segments, expected, progress)
        truth_label = truth_label if truth_events is not None else label
    return {
        "truth": truth_label,
        "source": cfg.source,
        "settings": {
            "classes": cls_names,
            "lines": [lc.model_dump(mode="json") for lc in cfg.counting.lines],
            "min_frames": cfg.counting.min_frames,
            "tracker": cfg.tracker.type,
            "model": cfg.model.path,
            "conf": cfg.model.conf,
        },
        "reports": [r.to_dict() for r in reports],
        "_reports": reports,
    }


def _run_sweep(
    cfg: Any,
    strides: list[int],
    truth_events: list[CountEvent] | None,
    length: int,
    segments: int,
    expected: list[tuple[str, str]],
    progress: bool,
) -> tuple[list[CountReport], str]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=not (progress and err.is_terminal), transient=True,
    )
    task: list[Any] = []

    def predict(stride: int) -> tuple[list[CountEvent], dict[str, Any]]:
        def on_start(src: Any) -> None:
            task.append(bar.add_task(f"stride {stride}", total=src.frame_count))

        def on_frame(_res: Any) -> None:
            if task:
                bar.advance(task[-1])

        return predict_run(cfg, stride, on_start=on_start, on_frame=on_frame)

    with bar:
        return sweep(
            strides, predict, truth=truth_events, length=length, segments=segments, expected=expected
        )
