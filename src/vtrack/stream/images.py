"""Folders (or lists) of still images played as a video, MOTChallenge ``img1/`` folders included."""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from vtrack.errors import SourceError
from vtrack.stream._common import (
    DEFAULT_FPS,
    FileSourceBase,
    check_fps,
    check_stride,
    folder_source_name,
    natural_sort_key,
    strided_count,
)
from vtrack.types import Frame

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: Final = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".pbm", ".pgm", ".ppm",
     ".pnm", ".jp2"}
)  # fmt: skip
"""File name endings (lower case) read as images; matched case-insensitively."""

SEQINFO_NAME: Final = "seqinfo.ini"


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether the name of ``path`` ends in an image extension (case-insensitive); the file is not read."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), hidden files left out, in natural order.

    Args:
        folder: an existing folder.

    Returns:
        Paths of the image files, sorted by :func:`natural_sort_key` of their names.
    """
    with os.scandir(folder) as entries:
        names = [
            e.name for e in entries if not e.name.startswith(".") and is_image_file(e.name) and e.is_file()
        ]
    return [folder / n for n in sorted(names, key=natural_sort_key)]


def _read_seqinfo(ini: Path) -> configparser.SectionProxy | None:
    """The ``[Sequence]`` section (any case) of a MOTChallenge ``seqinfo.ini``, or ``None``."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise SourceError(f"cannot parse {ini}: {str(e).splitlines()[0]}") from e
    for section in parser.sections():
        if section.lower() == "sequence":
            return parser[section]
    return None


def read_seqinfo_fps(folder: Path) -> tuple[float, Path] | None:
    """Frame rate of the MOTChallenge sequence an image folder belongs to.

    Looks for ``seqinfo.ini`` inside ``folder``, then beside it (``../seqinfo.ini`` of an ``img1/``
    folder; used only when its ``imDir``, if stated, names ``folder``).

    Args:
        folder: the image folder.

    Returns:
        ``(frameRate, ini_path)``, or ``None`` when no ``seqinfo.ini`` states a frame rate.

    Raises:
        SourceError: a ``seqinfo.ini`` is unreadable or its ``frameRate`` is not a number > 0.
    """
    for ini in (folder / SEQINFO_NAME, folder.parent / SEQINFO_NAME):
        if not ini.is_file():
            continue
        section = _read_seqinfo(ini)
        if section is None:
            continue
        im_dir = section.get("imDir")
        if ini.parent != folder and im_dir and im_dir.strip().strip("/") != folder.name:
            continue
        raw = section.get("frameRate")
        if raw is None:
            continue
        try:
            rate = float(raw)
        except ValueError as e:
            raise SourceError(f"frameRate in {ini} must be a number > 0, got {raw!r}") from e
        if not rate > 0 or rate == float("inf"):
            raise SourceError(f"frameRate in {ini} must be a number > 0, got {raw!r}")
        return rate, ini
    return None


def read_image(path: Path) -> np.ndarray | None:
    """Read an image as BGR ``uint8``, shape ``(H, W, 3)``, upright per its EXIF orientation.

    Grey images are expanded to 3 channels, alpha is dropped and 16-bit images are scaled to 8 bits
    (``cv2.IMREAD_COLOR``). Returns ``None`` when the file cannot be read or decoded.
    """
    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    return image


class ImageFolderSource(FileSourceBase):
    """Still images played as a video, one frame per file, in natural order of the file names.

    ``frame.index`` is the position of the file in that order and ``frame.pts`` is
    ``index / native_fps``; ``frame.path`` is the file. The frame rate is the ``fps`` argument, else
    the ``frameRate`` of a MOTChallenge ``seqinfo.ini`` in or beside the folder, else 30.

    Images are yielded at their own size, never resized: ``width``/``height`` describe the first
    readable image only, and a warning is logged (once per pass) when a later image differs.
    An image that cannot be read is skipped (its index is not reused), counted in
    ``decode_failures``, described in ``errors`` and logged; the pass goes on.

    Attributes:
        name: folder name (the sequence name for a MOT ``img1`` folder) unless given.
        path: the folder (for :meth:`from_files`, the folder of the first file).
        files: the image files, in the order they are played.
        stride: every ``stride``-th file is read and yielded (indices ``0, stride, ...``).
        native_fps: frame rate of the sequence.
        fps_origin: where ``native_fps`` came from: ``"argument"``, the ``seqinfo.ini`` path, or
            ``"default"``.
        fps: ``native_fps / stride``.
        width, height: size of the first readable image.
        frame_count: files one pass visits (after stride); unreadable ones are skipped, so a pass
            may yield fewer.
        errors: problems met in the last (or current) pass.
        decode_failures: number of images skipped in the last (or current) pass.
    """

    files: list[Path]
    fps_origin: str

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | None = None,
        stride: int = 1,
        name: str | None = None,
    ) -> None:
        """List the images of a folder and read the first one.

        Args:
            path: folder holding the images (not searched recursively).
            fps: frame rate; when ``None``, from ``seqinfo.ini`` or 30.
            stride: yield every ``stride``-th image, >= 1.
            name: source name; defaults to the folder name (the parent's for ``img1``).

        Raises:
            SourceError: the folder is missing, not a folder, holds no image, none of its images can
                be read, or its ``seqinfo.ini`` is invalid.
            ConfigError: ``fps`` or ``stride`` is invalid.
        """
        super().__init__()
        folder = Path(path).expanduser()
        if not folder.exists():
            raise SourceError(f"image folder not found: {folder}")
        if not folder.is_dir():
            raise SourceError(f"expected a folder of images, got a file: {folder}")
        files = list_images(folder)
        if not files:
            raise SourceError(
                f"no images in folder {folder} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        self._setup(folder, files, fps=fps, stride=stride, name=name or folder_source_name(folder))

    @classmethod
    def from_files(
        cls,
        files: Iterable[str | os.PathLike[str]],
        *,
        fps: float | None = None,
        stride: int = 1,
        name: str | None = None,
    ) -> ImageFolderSource:
        """Play a given list of image files, in the order given.

        Args:
            files: image files (at least one).
            fps: frame rate; when ``None``, from a ``seqinfo.ini`` in or beside the first file's
                folder, else 30.
            stride: yield every ``stride``-th image, >= 1.
            name: source name; defaults to the file stem for one file, else the folder name of the
                first file (the parent's for ``img1``).

        Returns:
            The source.

        Raises:
            SourceError: ``files`` is empty, a file is missing, or none can be read.
            ConfigError: ``fps`` or ``stride`` is invalid.
        """
        paths = [Path(f).expanduser() for f in files]
        if not paths:
            raise SourceError("no image files given")
        missing = [p for p in paths if not p.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise SourceError(f"image file not found: {missing[0]}{more}")
        folder = paths[0].parent
        default_name = paths[0].stem if len(paths) == 1 else folder_source_name(folder)
        source = cls.__new__(cls)
        FileSourceBase.__init__(source)
        source._setup(folder, paths, fps=fps, stride=stride, name=name or default_name)
        return source

    def _setup(self, folder: Path, files: list[Path], *, fps: float | None, stride: int, name: str) -> None:
        self.path = folder
        self.files = files
        self.name = name
        self.stride = check_stride(stride)
        given = check_fps(fps)
        if given is not None:
            self.native_fps, self.fps_origin = given, "argument"
        elif (seqinfo := read_seqinfo_fps(folder)) is not None:
            self.native_fps, self.fps_origin = seqinfo[0], str(seqinfo[1])
        else:
            self.native_fps, self.fps_origin = DEFAULT_FPS, "default"
        self.fps = self.native_fps / self.stride
        self.frame_count = strided_count(len(files), self.stride)
        first = self._first_readable()
        self.height, self.width = int(first.shape[0]), int(first.shape[1])
        logger.debug("%r: frame rate from %s", self, self.fps_origin)

    def _first_readable(self) -> np.ndarray:
        for file in self.files:
            image = read_image(file)
            if image is not None:
                return image
        raise SourceError(
            f"none of the {len(self.files)} image(s) in {self.path} can be read (first: {self.files[0].name})"
        )

    def _frames(self) -> Generator[Frame, None, None]:
        self._reset_errors()
        size_warned = False
        yielded = 0
        for index in range(0, len(self.files), self.stride):
            if self._closed:
                return
            file = self.files[index]
            image = read_image(file)
            if image is None:
                self._record_error(f"cannot read image {file}; skipped (frame {index})")
                continue
            if not size_warned and (image.shape[1], image.shape[0]) != (self.width, self.height):
                size_warned = True
                logger.warning(
                    "%s: image %s is %dx%d but the first image is %dx%d; frames keep their own size",
                    self.name,
                    file.name,
                    image.shape[1],
                    image.shape[0],
                    self.width,
                    self.height,
                )
            yielded += 1
            pts = index / self.native_fps
            yield Frame(image=image, index=index, pts=pts, source_id=self.name, path=str(file))
        if yielded == 0 and not self._closed:
            raise SourceError(f"none of the images in {self.path} could be read this pass: {self.errors[0]}")
