"""``vtrack eval``: tracking quality (HOTA, DetA, AssA, IDF1, MOTA, IDSW) on MOTChallenge sequences.

The logic lives in :mod:`vtrack.evaluation`; this module only parses flags and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vtrack.cli.common import fail, parse_params, setup_logging, write_json
from vtrack.cli.options import BackendOption, ImgszOption, PrecisionOption, VerboseOption
from vtrack.cli.output import out
from vtrack.config import DEFAULT_MODEL
from vtrack.errors import ConfigError, VtrackError
from vtrack.evaluation import (
    HEADLINE,
    EvalReport,
    Evaluator,
    find_sequences,
    make_detector_factory,
    score_files,
)
from vtrack.trackers import DEFAULT_TRACKER
from vtrack.trackers.bytetrack import DEFAULT_LOST_TRACK_SECONDS

DEFAULT_EVAL_CLASSES = "person"
"""MOTChallenge ground truth is pedestrians."""


def format_metric(name: str, value: float | int) -> str:
    """The table's text for one figure: percentages with 2 decimals, counts as integers."""
    return str(int(value)) if name == "IDSW" else f"{value:.2f}"


def report_table(report: EvalReport, title: str | None = None) -> Table:
    """A rich table: one row per sequence, then ``COMBINED`` (only with several sequences)."""
    table = Table("sequence", *HEADLINE, title=title)
    for col in table.columns[1:]:
        col.justify = "right"
    rows = list(report.sequences)
    if len(rows) > 1:
        rows.append(report.combined)
    for s in rows:
        figures = s.headline()
        table.add_row(s.name, *(format_metric(k, figures[k]) for k in HEADLINE))
    return table


def eval_command(
    sequences: Annotated[
        list[Path] | None,
        typer.Argument(
            help="MOTChallenge sequence folders (img1/, gt/gt.txt, seqinfo.ini) or folders of them."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="ONNX file, .pt checkpoint, or name like yolo11n.")
    ] = DEFAULT_MODEL,
    tracker: Annotated[str, typer.Option(help="bytetrack, botsort or ocsort.")] = DEFAULT_TRACKER,
    detections: Annotated[
        str, typer.Option(help="own: run --model; public: the sequence's det/det.txt.")
    ] = "own",
    tracks: Annotated[
        Path | None, typer.Option(help="Score this MOTChallenge tracks file instead (with --gt).")
    ] = None,
    gt: Annotated[
        Path | None, typer.Option(help="Ground truth for --tracks (MOT15 or MOT17 layout).")
    ] = None,
    classes: Annotated[
        str, typer.Option(help="Comma-separated class names the detector keeps.")
    ] = DEFAULT_EVAL_CLASSES,
    conf: Annotated[float, typer.Option(help="Minimum detection confidence.")] = 0.25,
    imgsz: ImgszOption = None,
    backend: BackendOption = None,
    precision: PrecisionOption = None,
    lost_track_seconds: Annotated[
        float, typer.Option(help="Lost-track buffer in seconds.")
    ] = DEFAULT_LOST_TRACK_SECONDS,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Tracker parameter KEY=VALUE (e.g. min_iou=0.3); repeatable."),
    ] = None,
    subclasses: Annotated[
        Path | None,
        typer.Option("--subclasses", help="A .vtc file from `vtrack learn`: also report the tracks of each "
                     "sequence per label (e.g. person:pedestrian=7); scores are unchanged."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only (JSON still written).")] = False,
    verbose: VerboseOption = 0,
) -> None:
    """Score tracking on MOTChallenge sequences: HOTA, DetA, AssA, IDF1, MOTA, ID switches."""
    setup_logging(verbose, quiet)
    try:
        report = _evaluate(
            sequences or [],
            model=model,
            tracker=tracker,
            detections=detections,
            tracks=tracks,
            gt=gt,
            classes=classes,
            conf=conf,
            imgsz=imgsz,
            backend=backend,
            precision=precision,
            lost_track_seconds=lost_track_seconds,
            params=parse_params(param),
            subclasses=subclasses,
        )
        if json_out is not None:
            write_json(json_out, report.to_dict())
    except VtrackError as e:
        fail(e)
    if not quiet:
        s = report.settings
        title = (
            f"tracks {s['tracks']}"
            if "tracks" in s
            else f"{s['tracker']} on {s['detections']} detections"
            + (f" ({s.get('model')})" if s["detections"] == "own" else "")
        )
        out.print(report_table(report, title=title))
        for seq, per in report.settings.get("subclasses", {}).get("tracks", {}).items():
            out.print(f"{seq}: " + ", ".join(f"{c}={n}" for c, n in per.items()), highlight=False)
        if json_out is not None:
            out.print(f"wrote {json_out}", highlight=False)


def _evaluate(
    sequences: list[Path],
    *,
    model: str,
    tracker: str,
    detections: str,
    tracks: Path | None,
    gt: Path | None,
    classes: str,
    conf: float,
    imgsz: int | None,
    lost_track_seconds: float,
    params: dict[str, Any],
    backend: str | None = None,
    precision: str | None = None,
    subclasses: Path | None = None,
) -> EvalReport:
    if tracks is not None or gt is not None:
        if tracks is None or gt is None:
            raise ConfigError("--tracks and --gt go together: give both to score a tracks file")
        if sequences:
            raise ConfigError("give either sequence folders or --tracks/--gt, not both")
        return score_files(gt, tracks)
    if not sequences:
        raise ConfigError("nothing to evaluate: give sequence folders, or --tracks FILE --gt FILE")
    if detections not in ("own", "public"):
        raise ConfigError(f"--detections {detections!r}: expected 'own' or 'public'")
    if not 0.0 <= conf < 1.0:
        raise ConfigError(f"--conf must be in [0, 1), got {conf}")
    names = [c.strip() for c in classes.split(",") if c.strip()]
    if subclasses is not None:  # person:cyclist → the detector's person
        from vtrack.subclasses.runtime import detector_classes

        names = detector_classes(names, subclasses=True) or []
    seqs = find_sequences(sequences)
    evaluator = Evaluator(
        detections="own" if detections == "own" else "public",
        detector_factory=make_detector_factory(
            model, conf=conf, imgsz=imgsz, classes=names or None, backend=backend or "auto",
            precision=precision or "auto",
        ),
        settings=(
            {"model": model, "classes": names, "conf": conf, "imgsz": imgsz} if detections == "own" else {}
        ),
    )
    stage = None
    if subclasses is not None:
        from vtrack.subclasses.runtime import open_stage

        stage = open_stage(subclasses, kept_classes=names or None)
    report = evaluator.evaluate(
        seqs, tracker=tracker, lost_track_seconds=lost_track_seconds, tracker_params=params
    )
    if stage is not None:
        from vtrack.evaluation import _read_images
        from vtrack.subclasses.runtime import label_tracks

        per_seq = {
            seq.name: label_tracks(
                evaluator.detections_for(seq)[0], _read_images(seq), stage, tracker=tracker, fps=seq.fps,
                lost_track_seconds=lost_track_seconds, tracker_params=params,
            )
            for seq in seqs
        }
        report.settings["subclasses"] = {"file": str(subclasses), "tracks": per_seq}
    return report
