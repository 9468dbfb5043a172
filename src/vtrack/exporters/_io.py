"""Small file helpers shared by the exporters: parent folders, atomic writes, the export error."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from vtrack.errors import ExportError

__all__ = ["ExportError", "atomic_write_text", "prepare_path"]


def prepare_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a ``Path`` after creating its parent folders.

    Raises:
        ExportError: if the parent folder cannot be created.
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the folder for {p}: {e}") from e
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, fsync, ``os.replace``.

    A reader (or a crash at any moment) sees either the old file or the complete new one.

    Raises:
        ExportError: if the file cannot be written.
    """
    p = prepare_path(path)
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", newline="", dir=p.parent, prefix=f".{p.name}.", suffix=".tmp", delete=False
        ) as f:
            tmp_name = f.name
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, p)
    except OSError as e:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        raise ExportError(f"cannot write {p}: {e}") from e
    return p
