"""File-based frame sources and the factory that picks one from a path or pattern.

Public API::

    open_source(spec, *, stride=1, fps=None) -> VideoFileSource | ImageFolderSource
    VideoFileSource(path, *, stride=1, name=None)
    ImageFolderSource(path, *, fps=None, stride=1, name=None)
    ImageFolderSource.from_files(files, *, fps=None, stride=1, name=None)
    probe_start_time(path) -> (datetime, "creation_time" | "file_mtime")

Each source satisfies :class:`vtrack.stream.base.Source`, has ``errors``/``decode_failures`` and
is a context manager (``with open_source(p) as src: ...`` closes it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from vtrack.errors import SourceError
from vtrack.stream._common import (
    DEFAULT_FPS,
    MAX_ERRORS_KEPT,
    folder_source_name,
    glob_files,
    is_glob,
    natural_sort_key,
)
from vtrack.stream.images import (
    IMAGE_EXTENSIONS,
    ImageFolderSource,
    is_image_file,
    list_images,
    read_seqinfo_fps,
)
from vtrack.stream.video import VideoFileSource, parse_creation_time, probe_start_time

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_EXTENSIONS",
    "MAX_ERRORS_KEPT",
    "VIDEO_EXTENSIONS",
    "ImageFolderSource",
    "VideoFileSource",
    "folder_source_name",
    "is_image_file",
    "list_images",
    "natural_sort_key",
    "open_source",
    "parse_creation_time",
    "probe_start_time",
    "read_seqinfo_fps",
]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: Final = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".wmv",
     ".flv", ".3gp", ".ogv", ".h264", ".264", ".h265", ".265", ".hevc", ".mjpeg", ".y4m"}
)  # fmt: skip
"""Endings taken as video files when a glob pattern matches them (``open_source`` refuses those)."""


def _looks_like_url(spec: str) -> bool:
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.isalpha()


def _open_glob(pattern: str, *, stride: int, fps: float | None) -> ImageFolderSource:
    files = glob_files(pattern)
    if not files:
        raise SourceError(f"no file matches the pattern {pattern!r}")
    videos = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
    if videos:
        raise SourceError(
            f"the pattern {pattern!r} matches {len(videos)} video file(s) (e.g. {videos[0].name}); "
            "a pattern selects images only - give one video file, or use `vtrack batch` for many videos"
        )
    images = [f for f in files if is_image_file(f)]
    if not images:
        raise SourceError(
            f"the pattern {pattern!r} matches {len(files)} file(s) but no image "
            f"(e.g. {files[0].name}; images end in {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    if len(images) < len(files):
        logger.info("pattern %r: %d file(s) that are not images left out", pattern, len(files) - len(images))
    return ImageFolderSource.from_files(images, fps=fps, stride=stride)


def open_source(
    spec: str | os.PathLike[str], *, stride: int = 1, fps: float | None = None
) -> VideoFileSource | ImageFolderSource:
    """Open a video file, an image folder, a single image or a glob pattern of images.

    Args:
        spec: what to read:

            * a video file (``clip.mp4``) -> :class:`VideoFileSource`, named after the file stem;
            * a folder of images (``TUD-Campus/img1``) -> :class:`ImageFolderSource`, named after
              the folder (the sequence folder for a MOT ``img1``);
            * one image file (``photo.jpg``) -> a one-frame :class:`ImageFolderSource`;
            * a glob pattern (``"frames/*.jpg"``, ``**`` allowed) -> the matching images in natural
              order of their paths, named after the first image's folder.
        stride: yield every ``stride``-th frame, >= 1.
        fps: frame rate of image sources (default: ``seqinfo.ini``, else 30). Videos have their own
            rate; a value given for a video is ignored with a warning.

    Returns:
        The opened source.

    Raises:
        SourceError: the path does not exist, cannot be read, holds no images, or the pattern
            matches nothing or matches non-image files (videos: use ``vtrack batch``).
        ConfigError: ``stride`` or ``fps`` is invalid.
    """
    text = os.fspath(spec)
    if not text.strip():
        raise SourceError("no source given (empty path)")
    if _looks_like_url(text):
        from vtrack.stream.live import redact_url  # live imports this module's helpers

        raise SourceError(
            f"stream URLs are not read by open_source: {redact_url(text)} (give a file, folder or pattern)"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps=fps, stride=stride)
    if path.is_file():
        if is_image_file(path):
            return ImageFolderSource.from_files([path], fps=fps, stride=stride)
        if fps is not None:
            logger.warning("fps=%s is ignored for the video %s: a video has its own frame rate", fps, path)
        return VideoFileSource(path, stride=stride)
    if path.exists():
        raise SourceError(f"not a file or folder: {path}")
    if is_glob(text):
        return _open_glob(text, stride=stride, fps=fps)
    raise SourceError(f"source not found: {path}")
