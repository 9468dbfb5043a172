"""Turn the ``INPUT...`` of ``vtrack batch`` into work items.

An input is:

* a video file -> one ``video`` item (any file that is not an image counts as a video when named
  explicitly; a corrupt one fails in its worker and is reported);
* an image file -> grouped with the other explicitly named images of its folder into one ``photos`` item;
* a folder -> searched recursively: each video in it is one ``video`` item and each folder that directly
  holds images is one ``photos`` item (photo-folder mode); other files are ignored;
* a glob pattern (``"drives/**/*.mp4"``) -> its matches, as above;
* ``@list.txt`` -> one input per line (blank lines and ``#`` comments skipped; relative paths are taken
  relative to the list file's folder).

Each item gets an output name, its folder under ``--out``: the file stem (videos) or the folder name
(photos); names that collide within one batch get ``-<8 hex digits of the path's hash>`` appended, so the
same inputs always map to the same folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from vtrack.errors import ConfigError
from vtrack.stream._common import glob_files, is_glob, natural_sort_key
from vtrack.stream.images import is_image_file
from vtrack.stream.sources import VIDEO_EXTENSIONS

logger = logging.getLogger(__name__)

ItemKind = Literal["video", "photos"]

MAX_LIST_DEPTH: Final = 8
"""``@list`` files may name other list files, this deep at most (guards against cycles)."""

_UNSAFE_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_.\-]+")
_NAME_HASH_CHARS: Final = 8


@dataclass(frozen=True)
class BatchItem:
    """One unit of work: a video file, or the images of one folder.

    Attributes:
        kind: ``"video"`` or ``"photos"``.
        path: the video file, or the folder of the images (absolute).
        name: output folder name under ``--out`` (unique within the batch).
        images: the images of a ``photos`` item in natural order (absolute); empty for videos.
    """

    kind: ItemKind
    path: Path
    name: str
    images: tuple[Path, ...] = ()

    @property
    def key(self) -> str:
        """Identity of the item in the manifest: kind and absolute path."""
        return f"{self.kind}:{self.path}"


def is_video_file(path: Path) -> bool:
    """Whether ``path`` ends like a video (see :data:`vtrack.stream.sources.VIDEO_EXTENSIONS`)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def _safe_name(text: str) -> str:
    cleaned = _UNSAFE_NAME_CHARS.sub("_", text).strip("._")
    return cleaned or "input"


def _read_list_file(list_path: Path) -> list[str]:
    try:
        text = list_path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"list file not found: {list_path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read list file {list_path}: {e}") from e
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        entries.append(line if p.is_absolute() else str(list_path.parent / line))
    return entries


class _Collector:
    """Gathers videos and images (by folder) in first-seen order, without duplicates."""

    def __init__(self) -> None:
        self.videos: dict[Path, None] = {}
        self.photos: dict[Path, dict[Path, None]] = {}

    def add_file(self, path: Path, *, explicit: bool) -> None:
        p = path.resolve()
        if is_image_file(p):
            self.photos.setdefault(p.parent, {})[p] = None
        elif explicit or is_video_file(p):
            self.videos[p] = None
        else:
            logger.debug("ignored (neither video nor image): %s", p)

    def add_dir(self, folder: Path) -> None:
        for root, dirs, files in os.walk(folder):
            dirs.sort(key=natural_sort_key)
            for f in sorted(files, key=natural_sort_key):
                if not f.startswith("."):
                    self.add_file(Path(root) / f, explicit=False)


def _expand_one(spec: str, col: _Collector, depth: int) -> None:
    if spec.startswith("@"):
        if depth >= MAX_LIST_DEPTH:
            raise ConfigError(f"list files nested deeper than {MAX_LIST_DEPTH} (a cycle?): {spec}")
        for entry in _read_list_file(Path(spec[1:]).expanduser()):
            _expand_one(entry, col, depth + 1)
        return
    path = Path(spec).expanduser()
    if path.is_dir():
        col.add_dir(path)
    elif path.is_file():
        col.add_file(path, explicit=True)
    elif is_glob(spec):
        matches = glob_files(spec)
        dirs = sorted((Path(m) for m in _glob_dirs(spec)), key=lambda p: natural_sort_key(str(p)))
        if not matches and not dirs:
            raise ConfigError(f"no file matches the pattern {spec!r}")
        for m in matches:
            col.add_file(m, explicit=False)
        for d in dirs:
            col.add_dir(d)
    else:
        raise ConfigError(f"input not found: {spec}")


def _glob_dirs(pattern: str) -> list[str]:
    import glob

    return [m for m in glob.glob(os.path.expanduser(pattern), recursive=True) if Path(m).is_dir()]


def _assign_names(candidates: list[tuple[ItemKind, Path, str, tuple[Path, ...]]]) -> list[BatchItem]:
    counts = Counter(base.casefold() for _, _, base, _ in candidates)
    items = []
    for kind, path, base, images in candidates:
        name = base
        if counts[base.casefold()] > 1:
            digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()
            name = f"{base}-{digest[:_NAME_HASH_CHARS]}"
        items.append(BatchItem(kind=kind, path=path, name=name, images=images))
    return items


def expand_inputs(inputs: list[str]) -> list[BatchItem]:
    """Expand ``vtrack batch`` inputs into work items, videos first then photo folders, in input order.

    Args:
        inputs: files, folders, glob patterns and ``@list`` files, as given on the command line.

    Returns:
        The items, each path once, with unique output names.

    Raises:
        ConfigError: an input does not exist, a pattern matches nothing, a list file cannot be read,
            or nothing to process is found at all.
    """
    if not inputs:
        raise ConfigError("no input given: pass video files, folders, patterns or @list files")
    col = _Collector()
    for spec in inputs:
        if not spec.strip():
            raise ConfigError("an input is an empty string")
        _expand_one(spec, col, 0)
    candidates: list[tuple[ItemKind, Path, str, tuple[Path, ...]]] = [
        ("video", v, _safe_name(v.stem), ()) for v in col.videos
    ]
    candidates += [
        (
            "photos",
            folder,
            _safe_name(folder.name),
            tuple(sorted(imgs, key=lambda p: natural_sort_key(p.name))),
        )
        for folder, imgs in col.photos.items()
    ]
    if not candidates:
        raise ConfigError(f"no video or image found in {', '.join(inputs)}")
    return _assign_names(candidates)
