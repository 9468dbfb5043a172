"""The batch manifest: which items are finished, for which content and which settings.

``DIR/manifest.jsonl`` is append-only: one JSON object per line, written with a single ``write`` on a
file opened with ``O_APPEND`` and ``fsync``-ed, so a crash leaves at most one torn last line (skipped
when read). The last record of an item wins. A record::

    {"key": "video:/abs/clip.mp4", "name": "clip", "status": "done", "content_hash": "...",
     "settings_hash": "...", "finished_at": "2026-05-01T10:00:00+00:00", "frames": 300, "seconds": 12.3}

An item is skipped on a rerun when its last record says ``done`` with the same content hash and the
same settings hash, and its output folder still exists; otherwise it is processed again.

Content hash (fast, never reads whole videos): SHA-256 over the file size, the modification time in
nanoseconds and the first and last MiB of the file. For a photo folder: over the name, size and
modification time of each image (no image is read). Touching or copying a file therefore counts as a
change; editing bytes in the middle of a large video without changing its size or mtime does not.

Settings hash: SHA-256 of the run settings as canonical JSON (everything but the source, the output
folder and the ONNX thread count) plus the content hash of the model file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from vtrack.batch.inputs import BatchItem
from vtrack.errors import ExportError

logger = logging.getLogger(__name__)

MANIFEST_NAME: Final = "manifest.jsonl"
HASH_EDGE_BYTES: Final = 1 << 20
"""Bytes hashed at each end of a file (1 MiB)."""

STATUS_DONE: Final = "done"
STATUS_FAILED: Final = "failed"


def file_fingerprint(path: Path, edge_bytes: int = HASH_EDGE_BYTES) -> str:
    """Fast content hash of a file: size, mtime (ns), first and last ``edge_bytes``.

    Raises:
        OSError: the file cannot be read.
    """
    st = path.stat()
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:".encode())
    with path.open("rb") as f:
        h.update(f.read(edge_bytes))
        if st.st_size > edge_bytes:
            f.seek(max(edge_bytes, st.st_size - edge_bytes))
            h.update(f.read(edge_bytes))
    return h.hexdigest()


def item_fingerprint(item: BatchItem) -> str:
    """Content hash of an item (see the module docs).

    Raises:
        OSError: a file cannot be read or stat-ed.
    """
    if item.kind == "video":
        return file_fingerprint(item.path)
    h = hashlib.sha256()
    for img in item.images:
        st = img.stat()
        h.update(f"{img.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """SHA-256 of ``settings`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ManifestRecord:
    """The last known state of one item."""

    key: str
    name: str
    status: str
    content_hash: str
    settings_hash: str
    raw: dict[str, Any]


class Manifest:
    """The append-only ``manifest.jsonl`` of a batch output folder.

    Args:
        out_dir: the batch output folder (created if needed).
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.records: dict[str, ManifestRecord] = {}
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as e:
            raise ExportError(f"cannot read the manifest {self.path}: {e}") from e
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self.records[rec["key"]] = ManifestRecord(
                    key=rec["key"],
                    name=rec["name"],
                    status=rec["status"],
                    content_hash=rec["content_hash"],
                    settings_hash=rec["settings_hash"],
                    raw=rec,
                )
            except (ValueError, KeyError, TypeError):
                logger.warning("%s:%d: unreadable manifest line skipped (torn by a crash?)", self.path, n)

    def is_done(self, item: BatchItem, content_hash: str, settings_hash: str, out_dir: Path) -> bool:
        """Whether ``item`` finished before with this content and these settings, its outputs still there."""
        rec = self.records.get(item.key)
        return (
            rec is not None
            and rec.status == STATUS_DONE
            and rec.name == item.name
            and rec.content_hash == content_hash
            and rec.settings_hash == settings_hash
            and (out_dir / item.name).is_dir()
        )

    def append(self, record: dict[str, Any]) -> None:
        """Append one record (must hold ``key``, ``name``, ``status``, ``content_hash``, ``settings_hash``).

        ``finished_at`` is added (UTC, ISO 8601). The line is written with one ``write`` on an
        ``O_APPEND`` descriptor and ``fsync``-ed.

        Raises:
            ExportError: the manifest cannot be written.
        """
        rec = {**record, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        data = (json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise ExportError(f"cannot append to the manifest {self.path}: {e}") from e
        self.records[rec["key"]] = ManifestRecord(
            key=rec["key"],
            name=rec["name"],
            status=rec["status"],
            content_hash=rec["content_hash"],
            settings_hash=rec["settings_hash"],
            raw=rec,
        )
