"""The merged ``summary.csv`` and ``summary.json`` of a batch, built from each item's own outputs.

Built from the files on disk (each finished item's ``counts.csv`` and ``summary.json``), never from
in-memory results, so a batch that was killed and resumed merges to exactly what an uninterrupted
batch merges to.

``summary.csv``: ``file,kind,hour_start,line,class,direction,count``

* videos: the rows of the item's ``counts.csv`` (crossings per hour, line, class and direction);
* photo folders: one row per class with the number of detections, ``hour_start``/``line``/``direction``
  empty.

``summary.json``: ``files`` (one entry per item: status, error, frames, start time, crossings per line,
tracks per class, detections per class for photos, the count store's run id and stream with
``--store``), ``totals`` (files done/failed, frames, images,
crossings per line/class/direction, crossings per UTC hour, tracks and detections per class) and ``run``
(this invocation: processed, skipped, wall time, files per minute — the only part that differs
between runs).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

logger = logging.getLogger(__name__)

SUMMARY_CSV_HEADER: Final = ("file", "kind", "hour_start", "line", "class", "direction", "count")


@dataclass(frozen=True)
class MergeEntry:
    """One item of the batch as the merge sees it.

    Attributes:
        name: output folder name (``DIR/<name>``).
        kind: ``"video"`` or ``"photos"``.
        input: the input path.
        status: ``"done"`` (outputs in ``DIR/<name>``) or ``"failed"``.
        error: one line, for failed items.
    """

    name: str
    kind: str
    input: str
    status: str
    error: str | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        logger.warning("cannot read %s: %s", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def _read_counts(path: Path) -> list[tuple[str, str, str, str, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        logger.warning("cannot read %s: %s", path, e)
        return []
    rows = []
    for rec in csv.DictReader(io.StringIO(text)):
        try:
            rows.append((rec["hour_start"], rec["line"], rec["class"], rec["direction"], int(rec["count"])))
        except (KeyError, ValueError, TypeError):
            logger.warning("%s: malformed row skipped: %s", path, rec)
    return rows


def _utc_hour(text: str) -> str:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return text
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat()


def merge_batch(out_dir: Path, entries: list[MergeEntry]) -> tuple[str, dict[str, Any]]:
    """Merge the outputs of a batch's items.

    Args:
        out_dir: the batch folder (items' outputs in ``out_dir/<name>``).
        entries: every item of the batch, in order.

    Returns:
        ``(summary.csv text, summary.json content without "run")``.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_CSV_HEADER)
    files: list[dict[str, Any]] = []
    lines: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"in": 0, "out": 0})
    )
    hourly: dict[tuple[str, str, str, str], int] = defaultdict(int)
    tracks: dict[str, int] = defaultdict(int)
    detections: dict[str, int] = defaultdict(int)
    frames = images = done = failed = 0
    video_seconds = 0.0
    for e in entries:
        rec: dict[str, Any] = {"file": e.name, "kind": e.kind, "input": e.input, "status": e.status}
        if e.status != "done":
            failed += 1
            rec["error"] = e.error
            files.append(rec)
            continue
        done += 1
        folder = out_dir / e.name
        s = _read_json(folder / "summary.json")
        if e.kind == "video":
            for hour, line, cls, direction, n in _read_counts(folder / "counts.csv"):
                w.writerow((e.name, e.kind, hour, line, cls, direction, n))
                hourly[(_utc_hour(hour), line, cls, direction)] += n
            for line_name, per in (s.get("lines") or {}).items():
                line_counts = lines[line_name]  # a line with no crossing still appears
                for cls, c in per.items():
                    for d in ("in", "out"):
                        line_counts[cls][d] += int(c.get(d, 0))
            for cls, n in (s.get("classes") or {}).items():
                tracks[cls] += int(n)
            frames += int(s.get("frames", 0))
            video_seconds += float(s.get("seconds", 0.0))
            rec.update(
                frames=s.get("frames"),
                seconds=s.get("seconds"),
                fps=s.get("fps"),
                start_time=s.get("start_time"),
                start_time_source=s.get("start_time_source"),
                lines=s.get("lines", {}),
                tracks=s.get("classes", {}),
            )
            if s.get("decode_errors"):
                rec["decode_errors"] = len(s["decode_errors"])
            if s.get("store"):
                rec["store"] = s["store"]  # url (no password), run_id, stream, timezone
        else:
            per_class = s.get("detections") or {}
            for cls, n in per_class.items():
                w.writerow((e.name, e.kind, "", "", cls, "", n))
                detections[cls] += int(n)
            images += int(s.get("images", 0))
            rec.update(
                images=s.get("images"),
                unreadable_images=s.get("unreadable_images", 0),
                detections=per_class,
            )
        files.append(rec)
    summary = {
        "files": files,
        "totals": {
            "files": len(entries),
            "done": done,
            "failed": failed,
            "frames": frames,
            "video_seconds": round(video_seconds, 3),
            "images": images,
            "lines": {ln: {c: dict(v) for c, v in sorted(per.items())} for ln, per in sorted(lines.items())},
            "hourly_utc": [
                {"hour_start": h, "line": ln, "class": c, "direction": d, "count": n}
                for (h, ln, c, d), n in sorted(hourly.items())
            ],
            "tracks": dict(sorted(tracks.items())),
            "detections": dict(sorted(detections.items())),
        },
    }
    return buf.getvalue(), summary
