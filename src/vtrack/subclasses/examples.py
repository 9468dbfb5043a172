"""Rebuild an example set of labelled crops from its manifest and the source footage.

The example sets under ``examples/subclasses/<set>/`` ship no pixels: the clips they were cut from may
not be redistributed. Each set has ``parent.txt`` and ``manifest.csv``, one row per crop::

    file,label,source,frame,x1,y1,x2,y2
    bicycle_tracking_sample_t0002_f00022_q36,cyclist,media/video/bicycle_tracking_sample.mp4,22,804,308,854,409

``source`` is relative to the assets folder (``../shared``: ``$VTRACK_SHARED`` or ``--shared``),
``frame`` the 0-based frame index as ``vtrack crops`` counts it, and ``x1, y1, x2, y2`` the cut
rectangle in source pixels (the detection box with its context, as ``vtrack crops`` cut it). ``build``
decodes those frames (no detector), cuts the rectangles, shrinks them as ``vtrack crops`` does and
writes ``OUT/<label>/<file>.jpg`` plus ``OUT/parent.txt``, ready for ``vtrack learn OUT``::

    python -m vtrack.subclasses.examples build examples/subclasses/cyclist-pedestrian/manifest.csv \\
        examples/subclasses/cyclist-pedestrian

(the label folders are git-ignored). ``file`` keeps the ``<source>_t<track>_f<frame>`` names that
``learn`` groups by track.

A new set starts with ``vtrack crops`` (which records every crop in ``crops.csv``); once the crops are
sorted into label folders, ``manifest`` writes the set's ``manifest.csv`` from that record and from
where each file now lies (crops left in ``unsorted/`` or deleted are left out; sources under
``--shared`` are written relative to it)::

    python -m vtrack.subclasses.examples manifest OUT --shared ../shared \\
        --out examples/subclasses/<set>/manifest.csv
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vtrack.errors import ConfigError, ExportError, VtrackError
from vtrack.stream.sources import open_source
from vtrack.subclasses.crops import CROPS_COLUMNS, CROPS_FILE, JPEG_QUALITY, _shrink
from vtrack.subclasses.learn import PARENT_FILE, UNSORTED, label_folders

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = CROPS_COLUMNS  # a crops.csv is a manifest whose crops are not sorted yet


@dataclass(frozen=True)
class ManifestRow:
    """One crop of a manifest: where it is cut from and where it is written."""

    file: str
    label: str
    source: str
    frame: int
    box: tuple[int, int, int, int]


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of ``manifest.csv``.

    Raises:
        ConfigError: missing file, wrong header, or a bad row (with its line number).
    """
    rows = _read_rows(Path(path), labelled=True)
    if not rows:
        raise ConfigError(f"{path}: no rows")
    return rows


def _read_rows(path: Path, *, labelled: bool) -> list[ManifestRow]:
    """The rows of a manifest (``labelled``) or of a ``crops.csv`` (label ``unsorted`` allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read manifest {path}: {e}") from e
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
        raise ConfigError(f"{path}: expected the header {','.join(MANIFEST_COLUMNS)}")
    rows: list[ManifestRow] = []
    for n, r in enumerate(reader, start=2):
        try:
            box = (int(r["x1"]), int(r["y1"]), int(r["x2"]), int(r["y2"]))
            row = ManifestRow(
                r["file"].strip(), r["label"].strip(), r["source"].strip(), int(r["frame"]), box
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}:{n}: bad row ({e})") from e
        bad_name = not row.file or "/" in row.file or "\\" in row.file
        bad_label = not row.label or row.label.startswith(".") or "/" in row.label
        bad_label |= labelled and row.label == UNSORTED
        if bad_name or bad_label or not row.source or row.frame < 0 or box[2] <= box[0] or box[3] <= box[1]:
            raise ConfigError(f"{path}:{n}: bad row (empty name, label or source, or an empty box)")
        rows.append(row)
    return rows


def build(manifest: str | Path, out_dir: str | Path, shared: str | Path) -> list[Path]:
    """Cut every crop of ``manifest`` from the footage under ``shared`` into ``out_dir``.

    Writes ``out_dir/<label>/<file>.jpg`` and copies ``parent.txt`` from the manifest's folder.

    Returns:
        The paths written, in manifest order.

    Raises:
        ConfigError: a bad manifest, a missing source, a frame past the end, a box outside the frame.
        ExportError: a file cannot be written.
        VtrackError: a source cannot be read.
    """
    manifest, out_dir, shared = Path(manifest), Path(out_dir), Path(shared)
    rows = read_manifest(manifest)
    by_source: dict[str, dict[int, list[int]]] = {}
    for i, r in enumerate(rows):
        by_source.setdefault(r.source, {}).setdefault(r.frame, []).append(i)
    written: list[Path | None] = [None] * len(rows)
    try:
        for label in sorted({r.label for r in rows}):
            (out_dir / label).mkdir(parents=True, exist_ok=True)
        parent = manifest.parent / PARENT_FILE
        if parent.is_file():
            shutil.copyfile(parent, out_dir / PARENT_FILE)
    except OSError as e:
        raise ExportError(f"cannot write examples to {out_dir}: {e}") from e
    for source, frames in by_source.items():
        path = shared / source
        if not path.exists():
            raise ConfigError(f"{manifest}: source {source} not found under {shared} (set --shared)")
        src = open_source(path)
        try:
            for frame in src:  # decode in order (no seeking): the frames vtrack crops saw
                for i in frames.pop(frame.index, []):
                    written[i] = _write(rows[i], frame.image, out_dir, manifest)
                if not frames:
                    break
        finally:
            src.close()
        if frames:
            raise ConfigError(f"{manifest}: {source} has no frame {min(frames)}")
    return [p for p in written if p is not None]


def _write(row: ManifestRow, image: np.ndarray, out_dir: Path, manifest: Path) -> Path:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = row.box
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
        raise ConfigError(f"{manifest}: {row.file}: box {row.box} outside the {w}x{h} frame of {row.source}")
    path = out_dir / row.label / f"{row.file}.jpg"
    if not cv2.imwrite(str(path), _shrink(image[y1:y2, x1:x2]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise ExportError(f"cannot write crop {path}")
    return path


def manifest_rows(folder: str | Path, shared: str | Path | None = None) -> list[ManifestRow]:
    """The manifest of a folder of sorted crops, from its ``crops.csv`` (see ``vtrack crops``).

    Args:
        folder: holds ``crops.csv`` and the label folders the crops were sorted into.
        shared: sources under this folder are written relative to it.

    Returns:
        One row per crop found in a label folder, in ``crops.csv`` order (a crop listed twice: its
        last row).

    Raises:
        ConfigError: no ``crops.csv``, a crop in two label folders, or no sorted crop at all.
    """
    folder = Path(folder)
    record = folder / CROPS_FILE
    if not record.is_file():
        raise ConfigError(f"{folder}: no {CROPS_FILE} (cut the crops with `vtrack crops`)")
    cut = {r.file: r for r in _read_rows(record, labelled=False)}
    where: dict[str, str] = {}
    for label, files in label_folders(folder).items():
        for f in files:
            if f.stem in where:
                raise ConfigError(f"{folder}: {f.name} is in both {where[f.stem]}/ and {label}/")
            where[f.stem] = label
    root = Path(shared).resolve() if shared is not None else None
    rows = []
    for r in cut.values():
        sorted_into = where.get(r.file)
        if sorted_into is None:
            continue
        source = r.source
        if root is not None:
            try:
                source = Path(source).resolve().relative_to(root).as_posix()
            except ValueError:
                pass
        rows.append(ManifestRow(r.file, sorted_into, source, r.frame, r.box))
    if not rows:
        raise ConfigError(f"{folder}: none of the crops in {CROPS_FILE} is in a label folder yet")
    return rows


def write_manifest(rows: list[ManifestRow], path: str | Path) -> None:
    """Write ``rows`` as a ``manifest.csv``.

    Raises:
        ExportError: the file cannot be written.
    """
    try:
        with Path(path).open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(MANIFEST_COLUMNS)
            w.writerows((r.file, r.label, r.source, r.frame, *r.box) for r in rows)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e}") from e


def default_shared() -> Path:
    """``$VTRACK_SHARED``, else ``../shared`` (beside the repository when run from its root)."""
    env = os.environ.get("VTRACK_SHARED")
    return Path(env) if env else Path("..") / "shared"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m vtrack.subclasses.examples",
        description="Rebuild an example set from its manifest, or write the manifest of sorted crops.",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="cut the crops of a manifest from the footage into OUT_DIR/<label>/")
    b.add_argument("manifest", type=Path)
    b.add_argument("out_dir", type=Path)
    b.add_argument(
        "--shared", type=Path, default=None, help="assets folder (default: $VTRACK_SHARED or ../shared)"
    )
    m = sub.add_parser("manifest", help="write the manifest of a folder of crops sorted into label folders")
    m.add_argument("folder", type=Path, help="the `vtrack crops` output, sorted into label folders")
    m.add_argument("--out", type=Path, default=None, help="manifest to write (default: FOLDER/manifest.csv)")
    m.add_argument(
        "--shared", type=Path, default=None, help="sources under it are written relative to it (default: "
        "$VTRACK_SHARED or ../shared)"
    )
    args = ap.parse_args(argv)
    # this tool's own lines on stderr, whatever the root logger is configured to do
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        if args.command == "manifest":
            rows = manifest_rows(args.folder, args.shared or default_shared())
            out = args.out or args.folder / "manifest.csv"
            write_manifest(rows, out)
            labels = Counter(r.label for r in rows)
            log.info("wrote %s: %s", out, ", ".join(f"{n} {label}" for label, n in sorted(labels.items())))
        else:
            written = build(args.manifest, args.out_dir, args.shared or default_shared())
            log.info("wrote %d crops to %s", len(written), args.out_dir)
    except VtrackError as e:
        log.error("error: %s", e)
        return 2
    finally:
        log.removeHandler(handler)
        log.propagate = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
