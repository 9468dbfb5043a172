"""Small file helpers shared by the exporters: parent folders, atomic writes, the export error."""

from __future__ import annotations

import contextlib
import os
import secrets
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


FILE_MODE = 0o666
"""Mode of every file written, less the process umask (as ``open()`` gives: usually ``0644``)."""
_TMP_TRIES = 100
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, fsync, ``os.replace``.

    A reader (or a crash at any moment) sees either the old file or the complete new one. The file
    gets :data:`FILE_MODE` less the umask, like every other output (``tempfile`` would make it
    ``0600``).

    Raises:
        ExportError: if the file cannot be written.
    """
    p = prepare_path(path)
    tmp: Path | None = None
    try:
        fd = -1
        for _ in range(_TMP_TRIES):
            tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, _TMP_FLAGS, FILE_MODE)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free temporary name beside {p}")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise ExportError(f"cannot write {p}: {e.strerror or e}") from e
    return p
