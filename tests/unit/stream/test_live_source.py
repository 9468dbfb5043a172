"""LiveSource state machine driven by a fake backend; URL redaction; one real looped file."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vtrack.errors import ConfigError, SourceError
from vtrack.stream.live import LiveSource, StreamState, backoff_delay, is_live_spec, redact_url

SECRET = "S3cr3t-pw"
URL = f"rtsp://admin:{SECRET}@cam.local:554/stream1"


class FakeCapture:
    """A scripted connection: ``"frame"``, ``"none"`` (no frame yet), ``"eof"`` or an exception."""

    def __init__(self, script: list[object], fps: float = 30.0) -> None:
        self.fps = fps
        self._script = list(script)
        self.closed = False
        self.served = 0

    def read(self) -> np.ndarray | None:
        step = self._script.pop(0) if self._script else "none"
        if step == "frame":
            self.served += 1
            return np.full((4, 6, 3), self.served % 256, np.uint8)
        if step == "none":
            time.sleep(0.005)
            return None
        if step == "eof":
            raise EOFError
        assert isinstance(step, BaseException)
        raise step

    def close(self) -> None:
        self.closed = True


class FakeOpener:
    """Hands out scripted connections; an exception in the list is raised by that open."""

    def __init__(self, connections: list[list[object] | BaseException], fps: float = 30.0) -> None:
        self.connections = list(connections)
        self.fps = fps
        self.calls = 0
        self.opened: list[FakeCapture] = []

    def __call__(self, spec: str, timeout: float) -> FakeCapture:
        self.calls += 1
        item = self.connections.pop(0) if self.connections else ConnectionError("camera offline")
        if isinstance(item, BaseException):
            raise item
        cap = FakeCapture(item, fps=self.fps)
        self.opened.append(cap)
        return cap


class NoJitter:
    def random(self) -> float:
        return 0.5


def make_source(opener: FakeOpener, spec: str = URL, **kwargs: object) -> LiveSource:
    params: dict[str, object] = {"stall_timeout": 0.3, "backoff_initial": 0.01, "backoff_max": 0.04}
    params.update(kwargs)
    src = LiveSource(spec, name="cam", **params)  # type: ignore[arg-type]
    src._opener = opener
    src._rng = NoJitter()  # type: ignore[assignment]
    return src


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://user:pass@host/x", "rtsp://user:***@host/x"),
        ("rtsp://user:p%40ss@10.0.0.2:554/a/b?c=1", "rtsp://user:***@10.0.0.2:554/a/b?c=1"),
        ("rtsps://u:@host/x", "rtsps://u:***@host/x"),
        ("https://TOKEN123@host/mjpeg", "https://***@host/mjpeg"),
        ("http://host/video?token=abc&res=hd", "http://host/video?token=***&res=hd"),
        ("rtmp://host/live/key", "rtmp://host/live/key"),
        ("rtsp://host:554/x", "rtsp://host:554/x"),
        ("/videos/clip.mp4", "/videos/clip.mp4"),
        ("0", "0"),
        ("", ""),
        ("rtsp://a:b@[::1/x", "rtsp://a:***@[::1/x"),  # malformed IPv6: urlsplit raises, regex fallback
    ],
)
def test_redact_url_table(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_never_raises_on_odd_input() -> None:
    assert redact_url(None) == "None"  # type: ignore[arg-type]
    assert "pw" not in redact_url("see rtsp://u:pw@h/x and http://v:pw@g/y")


@pytest.mark.parametrize(
    ("spec", "live"),
    [
        ("rtsp://h/x", True),
        ("RTSPS://h/x", True),
        ("rtmp://h/app/key", True),
        ("http://h/mjpeg", True),
        ("https://h/x.m3u8", True),
        ("0", True),
        ("12", True),
        ("/dev/video0", True),
        ("/dev/video", False),
        ("clip.mp4", False),
        ("/data/cam/0.mp4", False),
        ("file:///tmp/x.mp4", False),
    ],
)
def test_is_live_spec_table(spec: str, live: bool) -> None:
    assert is_live_spec(spec) is live


@pytest.mark.parametrize(
    ("attempt", "u", "expected"),
    [(0, 0.5, 1.0), (1, 0.5, 2.0), (2, 0.5, 4.0), (4, 0.5, 16.0), (5, 0.5, 30.0), (60, 0.5, 30.0),
     (0, 0.0, 0.8), (0, 0.999999, 1.2), (5, 0.0, 25.6), (1000, 0.0, 30.0)],
)  # fmt: skip
def test_backoff_delay_doubles_with_jitter_and_cap(attempt: int, u: float, expected: float) -> None:
    assert backoff_delay(attempt, 1.0, 30.0, u) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stall_timeout": 0}, "stall_timeout"),
        ({"backoff_initial": -1}, "backoff_initial"),
        ({"backoff_initial": 5, "backoff_max": 1}, "backoff_max"),
        ({"max_fps": 0}, "max_fps"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LiveSource(URL, name="cam", **kwargs)  # type: ignore[arg-type]


def test_states_and_reconnect_keep_counting_frames() -> None:
    opener = FakeOpener(
        [["frame"] * 3 + [OSError("connection reset")], ConnectionError("refused"), ["frame"] * 3]
    )
    src = make_source(opener)
    assert src.state is StreamState.CONNECTING
    assert src.fps == 0.0 and src.width == 0
    seen_states: list[StreamState] = []
    set_state = src._set_state

    def record(state: StreamState) -> None:
        if not seen_states or seen_states[-1] != state:
            seen_states.append(state)
        set_state(state)

    src._set_state = record  # type: ignore[method-assign]
    frames = []
    src.start()
    src.start()  # idempotent
    try:
        deadline = time.monotonic() + 5
        while len(frames) < 2 and time.monotonic() < deadline:
            f = src.read(timeout=0.05)
            if f is not None:
                frames.append(f)
        assert wait_for(lambda: src.frames_read == 6)
        assert wait_for(lambda: src.reconnects >= 3)  # refused, then the third connection stalls
    finally:
        src.stop()
        src.stop()  # idempotent
    assert src.state is StreamState.STOPPED
    running, reconnecting = StreamState.RUNNING, StreamState.RECONNECTING
    assert seen_states[:4] == [running, reconnecting, running, reconnecting]
    assert src.fps == 30.0 and (src.width, src.height) == (6, 4)
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert all(f.source_id == "cam" for f in frames)
    assert all(c.closed for c in opener.opened)
    assert src.last_error is not None


def test_backoff_schedule_resets_after_frames() -> None:
    opener = FakeOpener([ConnectionError("x")] * 4 + [["frame"], ConnectionError("y"), ConnectionError("z")])
    src = make_source(opener, backoff_initial=1.0, backoff_max=4.0)
    waits: list[float] = []
    done = threading.Event()

    def fake_wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) >= 8:
            done.set()
            return True  # acts as a stop
        return False

    src._wait = fake_wait  # type: ignore[method-assign]
    src.start()
    assert done.wait(5)
    src.stop()
    # 4 failed opens: 1, 2, 4, 4 (capped); then a connection gives a frame and stalls, so the
    # schedule starts again at 1 for the failures after it.
    assert waits == [1.0, 2.0, 4.0, 4.0, 1.0, 2.0, 4.0, 4.0]
    assert src.reconnects == 7


def test_stall_triggers_reconnect() -> None:
    opener = FakeOpener([["frame"], ["frame"]])  # each connection then goes silent
    src = make_source(opener, stall_timeout=0.15)
    t0 = time.monotonic()
    with src:
        assert wait_for(lambda: opener.calls >= 2, timeout=3)
        elapsed = time.monotonic() - t0
        assert wait_for(lambda: src.last_error is not None and "stalled" in src.last_error)
    assert elapsed >= 0.15
    assert src.reconnects >= 1


def test_slow_consumer_gets_newest_frame_and_drops_are_counted() -> None:
    opener = FakeOpener([["frame"] * 10])
    src = make_source(opener, stall_timeout=5.0)
    with src:
        assert wait_for(lambda: src.frames_read == 10)
        frame = src.read(timeout=1)
        assert frame is not None and frame.index == 9
        assert src.read(timeout=0.05) is None  # nothing newer
        assert src.frames_dropped == 9
        assert src.last_frame_monotonic is not None
        assert frame.pts == pytest.approx(src.last_frame_monotonic - src.stream_start_monotonic)


def test_keep_hands_on_the_oldest_frames_in_order_and_drops_beyond() -> None:
    """``keep=N``: a consumer that reads every frame gets them in order while at most N behind."""
    opener = FakeOpener([["frame"] * 10])
    src = make_source(opener, stall_timeout=5.0, keep=4)
    with src:
        assert wait_for(lambda: src.frames_read == 10)
        assert src.pending == 4
        got = [f.index for _ in range(4) if (f := src.read(timeout=1)) is not None]
        assert got == [6, 7, 8, 9] and src.pending == 0
        assert src.frames_dropped == 6


def test_file_not_realtime_delivers_every_frame_then_stops() -> None:
    opener = FakeOpener([["frame"] * 20 + ["eof"]])
    src = make_source(opener, spec="clip.mp4", realtime=False)
    got = []
    with src:
        while (f := src.read(timeout=2)) is not None:
            got.append(f.index)
            time.sleep(0.002)
    assert got == list(range(20))
    assert src.frames_dropped == 0
    assert src.state is StreamState.STOPPED
    assert src.reconnects == 0


def test_missing_file_fails_without_retry() -> None:
    opener = FakeOpener([SourceError("video file not found: /x.mp4")])
    src = make_source(opener, spec="/x.mp4")
    with src:
        assert wait_for(lambda: src.state is StreamState.FAILED)
        assert src.read(timeout=2) is None
    assert src.state is StreamState.FAILED
    assert opener.calls == 1 and src.reconnects == 0
    assert src.last_error is not None and "not found" in src.last_error


def test_real_missing_file_fails(tmp_path: Path) -> None:
    src = LiveSource(str(tmp_path / "gone.mp4"), name="gone")
    with src:
        assert wait_for(lambda: src.state is StreamState.FAILED)
    assert src.last_error is not None and "gone.mp4" in src.last_error


def test_max_fps_skips_frames() -> None:
    opener = FakeOpener([["frame"] * 50], fps=1000.0)
    src = make_source(opener, max_fps=5.0, stall_timeout=5.0)
    with src:
        assert wait_for(lambda: src.frames_read == 50)
    assert src.frames_skipped >= 45
    assert src.fps == 5.0


def test_password_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    opener = FakeOpener([
        OSError(f"Connection refused: '{URL}'"),
        ConnectionError(f"401 for admin:{SECRET} at rtsp://cam.local"),
        [RuntimeError(f"decoder lost {URL}")],
    ])  # fmt: skip
    src = make_source(opener)
    with src:
        assert wait_for(lambda: opener.calls >= 4)
        errors = [src.last_error]
    assert SECRET not in src.safe_url and src.safe_url == "rtsp://admin:***@cam.local:554/stream1"
    assert all(e is not None and SECRET not in e for e in errors)
    assert SECRET not in repr(src)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Connection refused" in m for m in messages)
    assert not [m for m in messages if SECRET in m]


def test_real_file_loops_in_realtime(h264_clip: Path) -> None:
    """30 frames at 25 fps, looped: indices go past 30, pacing follows the file's rate."""
    src = LiveSource(str(h264_clip), name="demo", loop=True, realtime=True)
    with src:
        assert wait_for(lambda: src.frames_read > 35, timeout=10)
        t0, n0 = time.monotonic(), src.frames_read
        time.sleep(0.4)
        rate = (src.frames_read - n0) / (time.monotonic() - t0)
        frame = src.read(timeout=1)
    assert src.fps == pytest.approx(25.0)
    assert src.reconnects == 0 and src.state is StreamState.STOPPED
    assert frame is not None and frame.image.shape == (64, 96, 3)
    assert 10 < rate < 40  # 25 fps paced; wide band: shared, noisy 2-core machine


def test_unreachable_host_password_never_leaks(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Real PyAV backend, 127.0.0.1 on a closed port: refused, retried, never shows the password."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    caplog.set_level(logging.DEBUG)
    src = LiveSource(
        f"rtsp://admin:{SECRET}@127.0.0.1:{port}/live", name="cam", backoff_initial=0.05, backoff_max=0.1
    )
    with src:
        assert wait_for(lambda: src.reconnects >= 2, timeout=10)
        assert src.state in (StreamState.RECONNECTING, StreamState.CONNECTING)
        assert src.read(timeout=0.05) is None
    out, err = capfd.readouterr()
    assert src.last_error is not None and "refused" in src.last_error.lower()
    texts = [src.safe_url, src.last_error, repr(src), out, err, *(r.getMessage() for r in caplog.records)]
    assert not [t for t in texts if SECRET in t]
    assert any("admin:***@127.0.0.1" in r.getMessage() for r in caplog.records)
