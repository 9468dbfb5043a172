"""Live sources: RTSP/RTMP/HTTP(S) streams, USB cameras, and video files replayed as live.

Public API::

    StreamState                      connecting | running | reconnecting | stopped | failed
    redact_url(url) -> str           rtsp://user:pass@host/x -> rtsp://user:***@host/x (never raises)
    is_live_spec(spec) -> bool       stream URL, camera index ("0") or /dev/videoN
    LiveSource(spec, *, name, loop=False, realtime=True, stall_timeout=10.0,
               backoff_initial=1.0, backoff_max=30.0, max_fps=None)
        .start()  .read(timeout=1.0) -> Frame | None  .stop()

How it works (the Frigate pattern): a capture thread reads frames continuously and puts each one in
a one-frame slot; :meth:`LiveSource.read` takes the newest frame. A frame still in the slot when the
next one arrives is replaced, and counted in ``frames_dropped``: when the consumer is slower than the
camera the latency stays at most one frame interval plus one processing time, instead of growing.
Memory is one frame in the slot plus what the decoder holds. With ``keep=N`` the slot holds the
``N`` oldest frames not yet read (a consumer that detects on some frames and carries its tracks over
the others reads every frame; :attr:`pending` tells it how far behind it is); the oldest is dropped
when an ``N+1``-th arrives.

Watchdog: a failed open, a failed read, or no frame for ``stall_timeout`` seconds closes the
connection and opens it again after an exponential backoff (``backoff_initial`` doubling to
``backoff_max``, +-20 % jitter), forever. Only a non-retryable error (a local file that does not
exist or is not a video) ends in ``FAILED``. The consumer keeps its own state (tracker, counters)
across the gap; frame ``index`` keeps counting and ``pts`` keeps following the monotonic clock.

Backends (the opener, injectable as ``LiveSource._opener`` for tests):

* URLs and files: PyAV (FFmpeg). ``av.open(..., timeout=(open_s, read_s))`` installs FFmpeg's
  interrupt callback, so a dead server or a silent stream makes the blocking call return after
  ``stall_timeout`` whatever the protocol; RTSP also gets ``rtsp_transport=tcp`` (no UDP loss, goes
  through NAT). Every URL gets the socket ``timeout`` option (microseconds, FFmpeg >= 5), except
  RTMP, where FFmpeg's ``timeout`` means "listen as a server": it gets ``rw_timeout``. Live URLs
  other than HTTP(S) get ``fflags=nobuffer`` (the packets read while probing are dropped, not
  replayed); an HTTP URL may be a whole file, whose first seconds that would cut. ``cv2.VideoCapture``
  offers ``CAP_PROP_OPEN/READ_TIMEOUT_MSEC`` too, but reports a refused connection only as
  ``isOpened() == False`` with no reason, and prints FFmpeg messages (with the URL) to stderr.
* Camera indices and ``/dev/video*`` paths: ``cv2.VideoCapture`` (V4L2 on Linux). A device node
  that does not exist (``/dev/videoN`` for index N) is reported as such without asking OpenCV, and
  retried like any camera error: a USB camera may be plugged in later.

Credentials: ``safe_url``, ``last_error`` and every log line use :func:`redact_url`, and error
texts from the backends (FFmpeg puts the URL in them) are scrubbed of the URL and its password.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Final, Protocol

import numpy as np

from vtrack.errors import ConfigError, SourceError
from vtrack.redact import REDACTED, redact_url
from vtrack.redact import url_secrets as _url_secrets
from vtrack.stream.spec import is_camera as _is_camera
from vtrack.stream.spec import is_index as _is_index
from vtrack.stream.spec import is_live_spec
from vtrack.types import Frame

logger = logging.getLogger(__name__)


BACKOFF_JITTER: Final = 0.2
"""Each backoff delay is multiplied by a uniform factor in ``[1 - j, 1 + j]`` (then capped)."""

MAX_CATCHUP_S: Final = 1.0
"""Realtime file replay: when decoding falls this far behind the wall clock, the clock is reset
instead of replaying the backlog as fast as possible."""

MAX_ERROR_CHARS: Final = 300
"""``last_error`` is cut to this many characters."""

LIVE_ANALYZE_S: Final = 1.0
"""Live URLs: at most this much of the stream (seconds, and at most half of ``stall_timeout``) is
analysed when opening. FFmpeg's default, 5 s, is 5 s of waiting on every (re)connect to a
real-time stream whose container announces no streams up front (FLV over RTMP, MPEG-TS); and an
open longer than ``stall_timeout`` is interrupted, mid-packet for RTMP, so it never succeeded."""

DECODE_ERRORS_BEFORE_RECONNECT: Final = 50
"""Consecutive undecodable packets after which a connection is treated as broken."""



class StreamState(str, Enum):
    """Life cycle of a live source."""

    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


# --------------------------------------------------------------------------- URLs


def backoff_delay(attempt: int, initial: float, maximum: float, u: float = 0.5) -> float:
    """Delay before reconnect attempt number ``attempt`` (0 = first retry after a failure).

    Args:
        attempt: consecutive failures before this retry, >= 0.
        initial: delay of the first retry in seconds.
        maximum: cap in seconds.
        u: uniform random number in ``[0, 1)`` for the jitter; 0.5 gives no jitter.

    Returns:
        ``min(maximum, initial * 2**attempt * (1 + BACKOFF_JITTER * (2u - 1)))`` seconds.
    """
    base = initial * (2.0 ** min(attempt, 62))
    return max(0.0, min(maximum, base * (1.0 + BACKOFF_JITTER * (2.0 * u - 1.0))))


# --------------------------------------------------------------------------- backends


class Capture(Protocol):
    """One open connection to a source (what an opener returns).

    Attributes:
        fps: nominal frame rate, ``0.0`` when unknown.
    """

    fps: float

    def read(self) -> np.ndarray | None:
        """Next frame: BGR ``uint8`` of shape ``(H, W, 3)``; ``None`` when no frame is ready yet.

        Raises:
            EOFError: the end of a file.
            Exception: any other error means the connection is broken (it is reopened).
        """
        ...

    def close(self) -> None: ...


Opener = Callable[[str, float], Capture]
"""``opener(spec, timeout_s) -> Capture``; raises :class:`SourceError` for a non-retryable error,
anything else for a retryable one."""


class _PyAVCapture:
    """A URL or a file decoded by PyAV; BGR frames."""

    def __init__(self, spec: str, timeout: float) -> None:
        import av
        import av.error

        self._av_error = av.error.FFmpegError
        self._av_exit = av.error.ExitError  # FFmpeg's interrupt callback fired: the timeout
        self._timeout = timeout
        options: dict[str, str] = {}
        live = is_live_spec(spec)
        scheme = spec.partition("://")[0].lower()
        if scheme in {"rtsp", "rtsps"}:
            options["rtsp_transport"] = "tcp"
        if live:
            # socket I/O timeout, microseconds. FFmpeg's RTMP protocol reads its own ``timeout``
            # option as "listen for an incoming publisher for N seconds" (it would bind the
            # camera's address and fail), so RTMP gets the generic ``rw_timeout`` instead.
            key = "rw_timeout" if scheme.startswith("rtmp") else "timeout"
            options[key] = str(int(timeout * 1_000_000))
            if scheme not in {"http", "https"}:
                # drop what stream analysis read instead of replaying it. Not over HTTP: there it
                # may be a whole file (progressive MP4), and the first seconds would be lost
                options["fflags"] = "nobuffer"
            options["flags"] = "low_delay"
            analyze_s = min(LIVE_ANALYZE_S, timeout / 2)
            options["analyzeduration"] = str(int(analyze_s * 1_000_000))  # microseconds
        if not live:
            path = Path(spec).expanduser()
            if not path.is_file():
                what = "not found" if not path.exists() else "not a regular file"
                raise SourceError(f"video file {what}: {path}")
        try:
            self._container = av.open(spec, mode="r", options=options, timeout=(timeout, timeout))
        except av.error.ExitError as e:  # "Immediate exit requested" says nothing to a user
            raise TimeoutError(f"no answer within {timeout:g} s (timed out)") from e
        try:
            if not self._container.streams.video:
                raise SourceError(f"no video stream in {redact_url(spec)}")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            rate = self._stream.average_rate or self._stream.guessed_rate
            self.fps = float(rate) if rate is not None and 0 < float(rate) <= 240 else 0.0
            self._packets = self._container.demux(self._stream)
        except BaseException:
            self._container.close()
            raise
        self._pending: deque[object] = deque()
        self._bad_packets = 0

    def read(self) -> np.ndarray | None:
        while not self._pending:
            try:
                packet = next(self._packets)
            except StopIteration:
                raise EOFError("end of stream") from None
            except self._av_exit as e:
                raise TimeoutError(f"no data for {self._timeout:g} s (timed out)") from e
            if packet.size == 0:  # the flush packet at the end: take the frames the decoder holds
                try:
                    self._pending.extend(packet.decode())
                except self._av_error as e:  # nothing more to take; the text may name the URL
                    logger.debug("decoder flush at the end of the stream failed (%s)", type(e).__name__)
                continue
            try:
                self._pending.extend(packet.decode())
                self._bad_packets = 0
            except self._av_error as e:
                self._bad_packets += 1
                if self._bad_packets >= DECODE_ERRORS_BEFORE_RECONNECT:
                    raise ConnectionError(
                        f"{self._bad_packets} packets in a row failed to decode: {e}"
                    ) from e
                continue
        frame = self._pending.popleft()
        return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))  # type: ignore[attr-defined]

    def close(self) -> None:
        self._pending.clear()
        self._container.close()


class _Cv2CameraCapture:
    """A USB camera (index or ``/dev/videoN``) read by OpenCV."""

    def __init__(self, spec: str, timeout: float) -> None:
        import cv2

        text = spec.strip()
        device = f"/dev/video{int(text)}" if _is_index(text) else text
        if sys.platform.startswith("linux") and not Path(device).exists():
            # say why, and spare the log OpenCV's two stderr warnings on every retry
            raise ConnectionError(f"cannot open camera {text}: {device} does not exist")
        target: int | str = int(text) if _is_index(text) else text
        self._cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            self._cap.release()
            raise ConnectionError(f"cannot open camera {text}")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps <= 240 else 0.0

    def read(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise ConnectionError("camera read failed")
        return np.ascontiguousarray(image)

    def close(self) -> None:
        self._cap.release()


def open_capture(spec: str, timeout: float) -> Capture:
    """The default opener: OpenCV for cameras, PyAV for URLs and files.

    Args:
        spec: URL, camera index/path or video file.
        timeout: seconds an open or a read may block before it fails.

    Returns:
        An open :class:`Capture`.

    Raises:
        SourceError: a file that does not exist, is not a file, or has no video stream (not retried).
        Exception: anything else (network, decoder): retried by :class:`LiveSource`.
    """
    if _is_camera(spec):
        return _Cv2CameraCapture(spec, timeout)
    if not is_live_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            what = "not found" if not path.exists() else "not a regular file"
            raise SourceError(f"video file {what}: {path}")
        try:
            return _PyAVCapture(spec, timeout)
        except SourceError:
            raise
        except Exception as e:  # a local file that FFmpeg cannot read will not get better
            raise SourceError(f"cannot open video {path}: {_one_line(e)}") from e
    return _PyAVCapture(spec, timeout)


def _one_line(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


class _Stall(Exception):
    """No frame within ``stall_timeout``."""


# --------------------------------------------------------------------------- the source


class LiveSource:
    """A live stream, camera or file read on a capture thread; the consumer gets the newest frame.

    Args:
        spec: live URL (``rtsp://``, ``rtmp://``, ``http(s)://``...), camera index (``"0"``) or
            ``/dev/videoN``, or a video file (replayed as a live feed; see ``loop``/``realtime``).
        name: stream name, used as ``Frame.source_id`` and in log lines.
        loop: files only: start again at the end instead of stopping.
        realtime: files only: deliver frames at the file's frame rate (a camera replay, frames
            dropped when the consumer is slower); ``False``: as fast as the consumer takes them,
            none dropped. Live sources always run in real time.
        stall_timeout: seconds without a frame after which the connection is reopened (> 0).
        backoff_initial: first reconnect delay in seconds (> 0); doubles on each failure in a row.
        backoff_max: longest reconnect delay in seconds (>= ``backoff_initial``).
        max_fps: deliver at most this many frames per second (the others are skipped, counted in
            ``frames_skipped``); ``None`` for no limit.
        keep: frames held for the consumer (>= 1): 1 hands on the newest frame only; more hands on
            every frame in order while the consumer is at most ``keep`` frames behind.

    Attributes:
        name: the stream name.
        safe_url: ``spec`` with credentials redacted (:func:`redact_url`).
        fps: nominal frame rate (capped by ``max_fps``), ``0.0`` until known.
        width, height: size of the newest frame, ``0`` until the first frame.
        state: :class:`StreamState`.
        last_error: the last error, one redacted line, or ``None``.
        reconnects: reopen attempts after a failure or stall (every attempt counts).
        frames_read: frames captured from the backend (``Frame.index`` of the next one).
        frames_dropped: captured frames replaced in the slot before the consumer read them.
        frames_skipped: frames left out by ``max_fps``.
        last_frame_monotonic: ``time.monotonic()`` when the newest frame was captured, or ``None``.
        stream_start_monotonic: the captured time of a frame is ``stream_start_monotonic + pts``.

    Raises:
        ConfigError: an empty ``spec`` or name, or an invalid timeout/backoff/``max_fps``.
    """

    def __init__(
        self,
        spec: str,
        *,
        name: str,
        loop: bool = False,
        realtime: bool = True,
        stall_timeout: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        max_fps: float | None = None,
        keep: int = 1,
    ) -> None:
        if not str(spec).strip():
            raise ConfigError("live source: empty spec (expected a URL, camera index or video file)")
        if not name:
            raise ConfigError("live source: a name is required")
        if not stall_timeout > 0:
            raise ConfigError(f"stall_timeout must be > 0 seconds, got {stall_timeout}")
        if not backoff_initial > 0:
            raise ConfigError(f"backoff_initial must be > 0 seconds, got {backoff_initial}")
        if not backoff_max >= backoff_initial:
            raise ConfigError(
                f"backoff_max must be >= backoff_initial ({backoff_initial}), got {backoff_max}"
            )
        if max_fps is not None and not max_fps > 0:
            raise ConfigError(f"max_fps must be > 0 or None, got {max_fps}")
        if keep < 1:
            raise ConfigError(f"keep must be >= 1 frame, got {keep}")
        self._spec = str(spec).strip()
        self._secrets = _url_secrets(self._spec)
        self.name = name
        self.safe_url = redact_url(self._spec)
        self.live = is_live_spec(self._spec)
        self.loop = bool(loop)
        self.realtime = bool(realtime) or self.live
        self.stall_timeout = float(stall_timeout)
        self.backoff_initial = float(backoff_initial)
        self.backoff_max = float(backoff_max)
        self.max_fps = None if max_fps is None else float(max_fps)
        self.fps = 0.0
        self.width = 0
        self.height = 0
        self.state = StreamState.CONNECTING
        self.last_error: str | None = None
        self.reconnects = 0
        self.frames_read = 0
        self.frames_dropped = 0
        self.frames_skipped = 0
        self.last_frame_monotonic: float | None = None
        self.stream_start_monotonic = time.monotonic()
        self._opener: Opener = open_capture
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.keep = int(keep)
        self._slot: deque[Frame] = deque()  # frames waiting for the consumer, oldest first (<= keep)
        self._thread: threading.Thread | None = None
        self._last_delivered = -1.0e9  # monotonic time of the last frame put in the slot (max_fps)
        self._had_frames = False  # the current connection delivered a frame

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Start the capture thread (a second call does nothing)."""
        with self._cond:
            if self._thread is not None or self._stop.is_set():
                return
            logger.info("%s: starting %s", self.name, self.safe_url)
            self.stream_start_monotonic = time.monotonic()
            self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> int:
        """Frames captured and waiting to be read (0 or 1 with ``keep=1``)."""
        return len(self._slot)

    def read(self, timeout: float = 1.0) -> Frame | None:
        """Take the newest frame not yet returned (with ``keep > 1``: the oldest one waiting).

        Args:
            timeout: seconds to wait for a frame.

        Returns:
            The frame, or ``None`` when none came within ``timeout`` or the source has ended
            (``state`` is ``STOPPED`` or ``FAILED``).
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while not self._slot:
                if self.state in (StreamState.STOPPED, StreamState.FAILED):
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            frame = self._slot.popleft()
            self._cond.notify_all()
            return frame

    def stop(self) -> None:
        """Stop the capture thread and set ``STOPPED`` (idempotent; ``FAILED`` stays ``FAILED``)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.stall_timeout + 5.0)
            if thread.is_alive():
                logger.warning("%s: the capture thread did not end (a backend call is blocked)", self.name)
        with self._cond:
            self._slot.clear()
            if self.state != StreamState.FAILED:
                self.state = StreamState.STOPPED
            self._cond.notify_all()

    def __enter__(self) -> LiveSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LiveSource(name={self.name!r}, url={self.safe_url!r}, state={self.state.value})"

    # ------------------------------------------------------------------ internals
    def _scrub(self, text: str) -> str:
        """``text`` with the raw URL, its secrets and any ``user:pass@`` replaced; one line, bounded."""
        out = " ".join(str(text).split())
        out = out.replace(self._spec, self.safe_url)
        for secret in self._secrets:
            out = out.replace(secret, REDACTED)
        out = redact_url(out) if "://" in out else out
        return out[:MAX_ERROR_CHARS]

    def _set_state(self, state: StreamState) -> None:
        with self._cond:
            if self.state != state:
                logger.info("%s: %s -> %s", self.name, self.state.value, state.value)
                self.state = state
            self._cond.notify_all()

    def _fail(self, err: BaseException, *, what: str) -> str:
        message = self._scrub(f"{what}: {_one_line(err)}")
        self.last_error = message
        return message

    def _run(self) -> None:
        attempt = 0  # failures in a row
        first = True
        while not self._stop.is_set():
            if not first:
                delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max, self._rng.random())
                attempt += 1
                self._set_state(StreamState.RECONNECTING)
                logger.info("%s: reconnecting in %.2f s (attempt %d)", self.name, delay, attempt)
                if self._wait(delay):
                    break
                self.reconnects += 1
            first = False
            try:
                capture = self._opener(self._spec, self.stall_timeout)
            except SourceError as e:
                message = self._fail(e, what="cannot open")
                logger.error("%s: %s (not retried)", self.name, message)
                self._set_state(StreamState.FAILED)
                return
            except Exception as e:
                logger.warning("%s: %s", self.name, self._fail(e, what="cannot open"))
                continue
            outcome = "error"
            try:
                if capture.fps > 0:
                    self.fps = min(capture.fps, self.max_fps) if self.max_fps else capture.fps
                outcome = self._pump(capture)
            except _Stall:
                logger.warning(
                    "%s: %s",
                    self.name,
                    self._fail(_Stall(f"no frame for {self.stall_timeout:g} s"), what="stalled"),
                )
            except Exception as e:
                logger.warning("%s: %s", self.name, self._fail(e, what="read failed"))
            finally:
                try:
                    capture.close()
                except Exception as e:
                    logger.debug("%s: close failed: %s", self.name, self._scrub(str(e)))
            if self._had_frames:
                attempt = 0
            if outcome == "eof":
                logger.info("%s: end of %s", self.name, self.safe_url)
                break
            if outcome == "reopen":  # end of a looped file: start again at once
                if not self._had_frames:
                    self._fail(SourceError("no frame decoded"), what=f"cannot loop {self.safe_url}")
                    logger.error("%s: %s (not retried)", self.name, self.last_error)
                    self._set_state(StreamState.FAILED)
                    return
                first = True
        with self._cond:
            if self.state != StreamState.FAILED:
                self.state = StreamState.STOPPED
            self._cond.notify_all()

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped; ``True`` when stopped."""
        return self._stop.wait(seconds)

    def _pump(self, capture: Capture) -> str:
        """Read frames from one connection until it ends, fails or stalls.

        Returns:
            ``"eof"`` (file done), ``"reopen"`` (looped file done), ``"stopped"``.

        Raises:
            _Stall: no frame for ``stall_timeout``.
            Exception: the backend's error.
        """
        self._had_frames = False
        last_progress = time.monotonic()
        interval = 1.0 / capture.fps if capture.fps > 0 else 0.0
        pace_origin: float | None = None
        paced = 0
        while not self._stop.is_set():
            try:
                image = capture.read()
            except EOFError:
                if self.live:
                    raise ConnectionError("the stream ended") from None
                return "reopen" if self.loop else "eof"
            now = time.monotonic()
            if image is None:
                if now - last_progress > self.stall_timeout:
                    raise _Stall
                continue
            if not self.live and self.realtime and interval > 0:
                if pace_origin is None or now - (pace_origin + paced * interval) > MAX_CATCHUP_S:
                    pace_origin, paced = now, 0
                due = pace_origin + paced * interval
                paced += 1
                if due > now and self._wait(due - now):
                    break
                now = time.monotonic()
            last_progress = now
            if not self._had_frames:
                self._had_frames = True
                self._set_state(StreamState.RUNNING)
            self._publish(image, now)
        return "stopped"

    def _publish(self, image: np.ndarray, captured: float) -> None:
        index = self.frames_read
        self.frames_read += 1
        self.last_frame_monotonic = captured
        self.height, self.width = int(image.shape[0]), int(image.shape[1])
        if self.max_fps is not None and captured - self._last_delivered < 1.0 / self.max_fps:
            self.frames_skipped += 1
            return
        self._last_delivered = captured
        frame = Frame(
            image=image, index=index, pts=captured - self.stream_start_monotonic, source_id=self.name
        )
        with self._cond:
            if not self.realtime:  # a file read as fast as the consumer goes: wait, drop nothing
                while len(self._slot) >= self.keep and not self._stop.is_set():
                    self._cond.wait(0.1)
            if len(self._slot) >= self.keep:
                self._slot.popleft()
                self.frames_dropped += 1
            self._slot.append(frame)
            self._cond.notify_all()
