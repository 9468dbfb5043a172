"""Video files decoded with PyAV, and the start-time probe of a recording.

Why PyAV (``thread_type="AUTO"``) and not ``cv2.VideoCapture``: both give bit-identical BGR pixels
on the shared clips, but only PyAV gives

* correct presentation timestamps for every frame (OpenCV reports 0.0 s for the frame(s)
  flushed from the decoder at the end of AVI/MPEG-PS files with B-frames);
* the frame count the container stores (OpenCV guesses ``duration * fps``: 32 for a 10-frame MKV);
* a signal when a file is damaged (decoder exceptions, corrupt flags); OpenCV just stops early;
* container metadata (``creation_time``) for :func:`probe_start_time`.

Speed, 2-core dev box, every frame to BGR, consumer holding the previous frame, median of 7:
cv2 367 / 180 fps at 720p / 1080p, this source 287 / 148 fps with the default glibc allocator,
385 / 188 fps (cv2 340 / 172) with ``MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TRIM_THRESHOLD_=134217728`` in the environment. The gap is page faults: glibc hands
FFmpeg's per-frame output buffer fresh pages from ``mmap`` (about 450 faults per 720p frame).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from vtrack.errors import SourceError
from vtrack.stream._common import (
    DEFAULT_FPS,
    FileSourceBase,
    check_stride,
    glob_files,
    is_glob,
    strided_count,
)
from vtrack.stream.images import list_images
from vtrack.types import Frame

logger = logging.getLogger(__name__)

THREAD_TYPE: Final = "AUTO"
"""PyAV decoder threading: frame and slice threads, as many as the codec supports."""

SCALER_THREADS: Final = 1
"""Threads of the YUV->BGR conversion (swscale). One thread cost 5-10 % less CPU per frame than
automatic threading on the 2-core dev box at 720p and 1080p, at the same decode rate: the decoder
threads already keep the cores busy."""

MAX_PROBE_PACKETS: Final = 500
"""``__init__`` reads at most this many packets looking for the first decodable frame."""

END_TOLERANCE_S: Final = 0.5
"""A video whose last frame ends more than this (plus two frame intervals) before the duration the
container states is reported as cut short (only checked when the container has no frame count)."""

INVALID_CREATION_YEARS: Final = frozenset({1904, 1970})
"""Epochs of MP4/QuickTime (1904) and Unix (1970): a ``creation_time`` there means "not set"."""

_MP4_HEAD_BYTES: Final = 8
_MP4_BOX_TYPES: Final = frozenset({b"ftyp", b"mdat", b"moov", b"free", b"wide", b"skip"})


def _err_text(err: BaseException) -> str:
    """Short text of a PyAV/OS error without the ``[Errno n]`` prefix and file name."""
    text = getattr(err, "strerror", None)
    return str(text) if text else str(err)


def _check_video_path(path: Path) -> None:
    """Raise :class:`SourceError` unless ``path`` is a non-empty regular file."""
    if not path.exists():
        raise SourceError(f"video file not found: {path}")
    if path.is_dir():
        raise SourceError(f"expected a video file, got a folder: {path} (a folder must hold images)")
    if not path.is_file():
        raise SourceError(f"expected a video file, got something else (device, socket?): {path}")
    if path.stat().st_size == 0:
        raise SourceError(f"video file is empty (0 bytes): {path}")


def _has_mp4_header(path: Path) -> bool:
    """Whether the file starts like an ISO-BMFF/QuickTime file (an ``ftyp`` box or similar)."""
    try:
        with path.open("rb") as f:
            head = f.read(_MP4_HEAD_BYTES)
    except OSError:
        return False
    return head[4:8] in _MP4_BOX_TYPES


def _open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning every failure into a one-line :class:`SourceError`."""
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        if isinstance(e, av.error.InvalidDataError) and _has_mp4_header(path):
            raise SourceError(
                f"cannot open video {path}: the MP4/MOV file has no index (moov atom); "
                f"the recording was probably cut short: {_err_text(e)}"
            ) from e
        raise SourceError(f"cannot open video {path}: not a video file or damaged: {_err_text(e)}") from e
    except OSError as e:
        raise SourceError(f"cannot open video {path}: {_err_text(e)}") from e


def _video_stream(container: av.container.InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise SourceError(f"no video stream in {path} (streams found: {kinds})")
    return container.streams.video[0]


def _stream_fps(stream: VideoStream) -> float | None:
    """Average frame rate the container states, else FFmpeg's guess; ``None`` when neither is usable."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None


def _stream_duration_s(container: av.container.InputContainer, stream: VideoStream) -> float | None:
    """Duration of the video stream in seconds, from the stream, else from a one-stream container."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0 and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def rotate_ccw(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate an image counterclockwise by a multiple of 90 degrees (display-matrix rotation).

    Args:
        image: image of shape ``(H, W, C)``, any dtype.
        degrees: counterclockwise angle; rounded to the nearest multiple of 90.

    Returns:
        The rotated image, shape ``(W, H, C)`` for +-90 degrees, else ``(H, W, C)``; ``image`` itself
        when no rotation is needed.
    """
    quarter = round(degrees / 90) % 4
    if quarter == 0:
        return image
    code = (cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE)[quarter - 1]
    return cv2.rotate(image, code)


class VideoFileSource(FileSourceBase):
    """Frames of one video file, decoded by PyAV (FFmpeg) with threaded decoding.

    Every frame is decoded (inter-frame codecs need them all), but only every ``stride``-th one is
    converted to BGR and yielded. Frames are rotated upright when the file carries a display-matrix
    rotation (phone recordings), as OpenCV and players do.

    A damaged file does not stop the caller: every frame that decodes is yielded; each problem
    (packet the decoder rejects, frame flagged corrupt, stream ending before the frame count or
    duration the container states) is counted in ``decode_failures``, described in ``errors`` and
    logged as a warning. Only when no frame decodes at all is :class:`SourceError` raised.

    Attributes:
        name: file stem unless given.
        path: the video file.
        stride: every ``stride``-th frame is yielded (indices ``0, stride, 2*stride, ...``).
        native_fps: average frame rate of the video stream.
        fps: ``native_fps / stride``.
        width, height: frame size in pixels after rotation.
        frame_count: frames one pass yields (after stride), from the count the container stores;
            ``None`` when it stores none (MKV, WebM, MPEG-TS). A damaged file yields fewer.
        errors: problems met in the last (or current) pass, one line each.
        decode_failures: number of problems met in the last (or current) pass.
    """

    def __init__(self, path: str | os.PathLike[str], *, stride: int = 1, name: str | None = None) -> None:
        """Open and check the file, read its metadata and decode its first frame.

        Args:
            path: video file (any container/codec FFmpeg reads).
            stride: yield every ``stride``-th frame, >= 1.
            name: source name; defaults to the file stem.

        Raises:
            SourceError: the file is missing, a folder, empty, not a video, has no video stream,
                or no frame of it can be decoded.
            ConfigError: ``stride`` is not an integer >= 1.
        """
        super().__init__()
        self.path = Path(path).expanduser()
        self.stride = check_stride(stride)
        self.name = name or self.path.stem
        _check_video_path(self.path)
        container = _open_container(self.path)
        try:
            stream = _video_stream(container, self.path)
            fps = _stream_fps(stream)
            if fps is None:
                logger.warning("%s: the video states no frame rate; assuming %g fps", self.path, DEFAULT_FPS)
                fps = DEFAULT_FPS
            self.native_fps = fps
            self.fps = fps / self.stride
            self.codec = stream.codec_context.name
            self._start_pts: int | None = stream.start_time
            self._stated_frames: int | None = stream.frames if stream.frames > 0 else None
            self._duration_s = _stream_duration_s(container, stream)
            self.frame_count = strided_count(self._stated_frames, self.stride)
            self.width = stream.codec_context.width
            self.height = stream.codec_context.height
            self._probe_first_frame(container, stream)
        finally:
            container.close()

    def _probe_first_frame(self, container: av.container.InputContainer, stream: VideoStream) -> None:
        """Decode the first frame: proves the codec works and gives the size after rotation."""
        problem = "no frame decoded"
        try:
            for n_packets, packet in enumerate(container.demux(stream)):
                if n_packets >= MAX_PROBE_PACKETS:
                    return  # keep going at iteration time; the stream may start mid-GOP
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    problem = _err_text(e)
                    continue
                if frames:
                    height, width = frames[0].height, frames[0].width
                    if round(frames[0].rotation / 90) % 2:
                        width, height = height, width
                    self.width, self.height = width, height
                    return
        except av.error.FFmpegError as e:
            problem = _err_text(e)
        raise SourceError(f"no frame could be decoded from video {self.path} ({self.codec}): {problem}")

    def _frames(self) -> Generator[Frame, None, None]:
        self._reset_errors()
        if self._closed:
            return
        container = _open_container(self.path)
        try:
            yield from self._decode(container)
        finally:
            container.close()

    def _decode(self, container: av.container.InputContainer) -> Generator[Frame, None, None]:
        stream = _video_stream(container, self.path)
        stream.thread_type = THREAD_TYPE
        reformatter = VideoReformatter()
        start_pts = self._start_pts
        time_base = stream.time_base
        index = 0  # frames decoded so far = index of the next frame
        last_pts: float | None = None
        packets = container.demux(stream)
        while not self._closed:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as e:
                self._record_error(f"reading stopped after frame {index}: {_err_text(e)}")
                break
            if packet.is_corrupt:
                self._record_error(f"corrupt packet near frame {index} (pts {packet.pts})")
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                self._record_error(f"could not decode a packet near frame {index}: {_err_text(e)}")
                continue
            for frame in frames:
                if frame.is_corrupt:
                    self._record_error(f"frame {index} is damaged (decoded with concealment)")
                frame_tb = frame.time_base or time_base
                if frame.pts is None or frame_tb is None:  # raw streams (.h264) carry no timestamps
                    pts = index / self.native_fps
                else:
                    if start_pts is None:
                        start_pts = frame.pts
                    pts = float((frame.pts - start_pts) * frame_tb)
                last_pts = pts
                if index % self.stride == 0:
                    image = reformatter.reformat(frame, format="bgr24", threads=SCALER_THREADS).to_ndarray()
                    image = np.ascontiguousarray(rotate_ccw(image, frame.rotation))
                    yield Frame(image=image, index=index, pts=pts, source_id=self.name, path=str(self.path))
                index += 1
                if self._closed:
                    return
        if not self._closed:  # a pass stopped by close() is not checked for completeness
            self._check_end(index, last_pts)

    def _check_end(self, decoded: int, last_pts: float | None) -> None:
        """After a full pass: raise when nothing decoded, record a stream that ended early."""
        if decoded == 0:
            detail = f": {self.errors[0]}" if self.errors else ""
            raise SourceError(f"no frame could be decoded from video {self.path}{detail}")
        ended_early = False
        end = None
        if self._duration_s is not None and last_pts is not None:
            end = last_pts + 1.0 / self.native_fps
            ended_early = end + END_TOLERANCE_S + 2.0 / self.native_fps < self._duration_s
        short = self._stated_frames is not None and decoded < self._stated_frames
        # An MP4 trimmed with an edit list lists more frames than it plays, so a short count alone is
        # not proof of damage when the frames reach the stated duration.
        if short and (self._duration_s is None or ended_early):
            self._record_error(
                f"decoded {decoded} of the {self._stated_frames} frames the container lists; "
                "the file looks truncated or damaged"
            )
        elif ended_early:
            self._record_error(
                f"video ends at {end:.2f} s but the container says {self._duration_s:.2f} s; "
                "the file looks truncated or damaged"
            )
        elif short:
            logger.info(
                "%s: %d of %d listed frames decoded (edit list?)", self.name, decoded, self._stated_frames
            )
        if self.decode_failures:
            logger.warning(
                "%s: %d read problem(s) in %s; %d frame(s) decoded",
                self.name,
                self.decode_failures,
                self.path,
                decoded,
            )


_FRACTION_RE: Final = re.compile(r"\.(\d+)")


def parse_creation_time(value: str | None) -> datetime | None:
    """Parse a container ``creation_time`` tag.

    Args:
        value: ISO-8601 text as FFmpeg reports it, e.g. ``"2021-06-01T06:52:00.000000Z"``; a value
            without a zone is taken as UTC.

    Returns:
        The time as a timezone-aware UTC ``datetime``, or ``None`` when ``value`` is missing,
        unparsable, or in 1904/1970 (the "not set" epochs of QuickTime and Unix).
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat wants exactly 6 fraction digits.
    text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if parsed.year in INVALID_CREATION_YEARS:
        return None
    return parsed


def _container_creation_time(path: Path) -> datetime | None:
    """``creation_time`` of the container (else of its first video stream), or ``None``."""
    try:
        with av.open(str(path), mode="r") as container:
            tags = [container.metadata]
            tags += [s.metadata for s in container.streams.video[:1]]
    except (av.error.FFmpegError, OSError):
        return None
    for tag in tags:
        parsed = parse_creation_time(tag.get("creation_time"))
        if parsed is not None:
            return parsed
    return None


def probe_start_time(path: str | os.PathLike[str]) -> tuple[datetime, str]:
    """Wall-clock time at which a recording started.

    Args:
        path: video file, image file, image folder, or glob pattern (its first match is used).

    Returns:
        ``(start, how)``: ``start`` is timezone-aware UTC; ``how`` is ``"creation_time"`` when it
        comes from the container's ``creation_time`` tag (PyAV ``container.metadata``, else the video
        stream's), or ``"file_mtime"`` when it is the file's modification time (for a folder, the
        modification time of its first image in natural order, else of the folder). A
        ``creation_time`` in 1904/1970 or unparsable is ignored.

        The modification time of a camera file is usually when recording *ended*, and copying a
        file without preserving times resets it: treat ``"file_mtime"`` as a rough guess.

    Raises:
        SourceError: ``path`` does not exist.
    """
    target = Path(path).expanduser()
    if not target.exists() and is_glob(str(path)):
        matches = glob_files(str(path))
        if matches:
            target = matches[0]
    if not target.exists():
        raise SourceError(f"cannot read the start time, path not found: {target}")
    if target.is_file() and target.stat().st_size > 0:
        created = _container_creation_time(target)
        if created is not None:
            return created, "creation_time"
    if target.is_dir():
        images = list_images(target)
        if images:
            target = images[0]
    return datetime.fromtimestamp(target.stat().st_mtime, tz=timezone.utc), "file_mtime"
