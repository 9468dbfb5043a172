"""LiveSource against a real HTTP(S) camera stand-in on loopback: MJPEG and progressive MP4.

The server is ``http_media_server.py`` (standard library ``ThreadingHTTPServer``, Basic
authentication, TLS from a throwaway self-signed certificate) run as a subprocess, so it can be
killed and restarted like a camera losing power.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
import pytest
from live_servers import (
    HERE,
    ErrorLog,
    ServerProcess,
    free_port,
    leaks,
    log_texts,
    self_signed_cert,
    wait_for,
)

from vtrack.stream.live import LiveSource, StreamState

CLIP = "media/video/dashcam_freeway_dusk_360p.mp4"  # 640x360 H.264, 30 fps, 414 frames, 13.8 s
SHAPE = (360, 640, 3)
CLIP_FRAMES = 414
CLIP_FPS = 30.0
USER = "viewer"
PASSWORD = "hunter2-http"
WRONG_PASSWORD = "n0t-the-pw-7"
TOKEN = "tok-9f3e1d"
STALL_TIMEOUT = 4.0
BACKOFF_INITIAL, BACKOFF_MAX = 0.3, 1.0
START_TIMEOUT = 45.0  # open + first frame on a loaded 2-core machine; generous, not a speed claim
MJPEG_FRAMES = 60  # the server's MJPEG loop (encoded once at start: keep the start short)


def http_server(clip: Path, folder: Path, *, tls: tuple[Path, Path] | None = None) -> ServerProcess:
    port = free_port()
    cmd = [
        sys.executable, str(HERE / "http_media_server.py"), "--port", str(port), "--clip", str(clip),
        "--max-frames", str(MJPEG_FRAMES), "--user", USER, "--password", PASSWORD,
    ]  # fmt: skip
    if tls is not None:
        cmd += ["--cert", str(tls[0]), "--key", str(tls[1])]
    server = ServerProcess(cmd, folder / f"http-{port}.log")
    server.port = port  # type: ignore[attr-defined]
    return server


def base_url(server: ServerProcess) -> str:
    """``http(s)://127.0.0.1:PORT`` from the server's READY line."""
    return server.ready_line.split()[1]


def with_auth(url: str, password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{password}@{rest}"


def make_source(url: str, **kwargs: object) -> LiveSource:
    params: dict[str, object] = {
        "stall_timeout": STALL_TIMEOUT, "backoff_initial": BACKOFF_INITIAL, "backoff_max": BACKOFF_MAX,
    }  # fmt: skip
    params.update(kwargs)
    return LiveSource(url, name="cam", **params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def http_cam(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One HTTP server (Basic auth) for the module's tests that do not kill it."""
    server = http_server(shared / CLIP, tmp_path_factory.mktemp("http"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def https_cam(
    shared: Path, tmp_path_factory: pytest.TempPathFactory, tls_pair: tuple[Path, Path]
) -> Iterator[ServerProcess]:
    """The same over TLS with a self-signed certificate."""
    server = http_server(shared / CLIP, tmp_path_factory.mktemp("https"), tls=tls_pair)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_mjpeg_camera_killed_and_restarted(shared: Path, tmp_path: Path) -> None:
    """MJPEG (multipart/x-mixed-replace): running, clip-sized frames, two outages survived."""
    server = http_server(shared / CLIP, tmp_path)
    server.start()
    source = make_source(with_auth(base_url(server) + "/video.mjpg"))
    try:
        with source:
            assert wait_for(lambda: source.state is StreamState.RUNNING, START_TIMEOUT), source.last_error
            frame = source.read(timeout=10)
            assert frame is not None and frame.image.shape == SHAPE and frame.image.dtype.name == "uint8"
            for _ in range(2):
                before_reconnects, before_frames = source.reconnects, source.frames_read
                server.kill()
                assert wait_for(lambda: source.state is not StreamState.RUNNING, STALL_TIMEOUT + 15)
                # the camera stays down: refused opens are retried (and counted) until it is back
                retried = before_reconnects + 2
                assert wait_for(lambda: source.reconnects >= retried, 30), source.state  # noqa: B023
                assert source.state is StreamState.RECONNECTING
                assert source.last_error is not None and "refused" in source.last_error.lower()
                server.start()
                assert wait_for(
                    lambda: source.state is StreamState.RUNNING and source.frames_read > before_frames,  # noqa: B023
                    START_TIMEOUT,
                ), (source.state, source.last_error)
                frame = source.read(timeout=10)
                assert frame is not None and frame.image.shape == SHAPE
                assert frame.index >= before_frames  # indices keep counting across the gap
    finally:
        server.kill()
    assert source.state is StreamState.STOPPED
    assert source.width == SHAPE[1] and source.height == SHAPE[0]
    print(f"mjpeg: reconnects {source.reconnects}, frames {source.frames_read}, fps {source.fps}")


@pytest.mark.parametrize("loop", [False, True])
def test_progressive_mp4_is_read_whole_then_reopened(http_cam: ServerProcess, loop: bool) -> None:
    """An MP4 served over HTTP is a live URL: every frame is read, the end reopens it whatever ``loop``."""
    source = make_source(with_auth(base_url(http_cam) + "/clip.mp4"), loop=loop)
    errors = ErrorLog(source)
    with source:
        assert wait_for(lambda: source.state is StreamState.RUNNING, START_TIMEOUT), source.last_error
        frame = source.read(timeout=10)
        assert frame is not None and frame.image.shape == SHAPE
        assert source.fps == pytest.approx(CLIP_FPS)

        def reopened() -> bool:
            errors.poll()
            return source.reconnects >= 1

        assert wait_for(reopened, 60), (source.state, source.frames_read)
        frames_at_reopen = source.frames_read
        assert wait_for(
            lambda: source.state is StreamState.RUNNING and source.frames_read > frames_at_reopen,
            START_TIMEOUT,
        ), (source.state, source.last_error)
    assert frames_at_reopen >= CLIP_FRAMES  # the whole file went through before the reopen
    assert "read failed: the stream ended" in errors.seen


def test_https_self_signed_is_accepted(https_cam: ServerProcess) -> None:
    """FFmpeg does not verify TLS certificates unless told (``tls_verify=1``): a self-signed
    camera works, and so would a man in the middle. See docs/deployment.md."""
    for path in ("/video.mjpg", "/clip.mp4"):
        source = make_source(with_auth(base_url(https_cam) + path))
        with source:
            assert wait_for(lambda: source.state is StreamState.RUNNING, START_TIMEOUT), source.last_error  # noqa: B023
            frame = source.read(timeout=10)
            assert frame is not None and frame.image.shape == SHAPE, path


def test_https_verification_is_an_ffmpeg_option(
    https_cam: ServerProcess, tls_pair: tuple[Path, Path]
) -> None:
    """What a ``tls_verify`` setting would do (LiveSource does not pass one): the backend rejects the
    unknown issuer when asked to verify, and accepts it with the certificate as ``ca_file``."""
    url = with_auth(base_url(https_cam) + "/clip.mp4")
    with pytest.raises(av.error.FFmpegError):
        av.open(url, options={"tls_verify": "1"}, timeout=(20, 20)).close()
    with av.open(url, options={"tls_verify": "1", "ca_file": str(tls_pair[0])}, timeout=(20, 20)) as c:
        assert c.streams.video[0].codec_context.width == SHAPE[1]


CASES = ["accepted", "rejected", "down"]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("case", CASES)
def test_password_never_leaks(
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    scheme: str,
    case: str,
) -> None:
    """user:password and ?token= stay out of state, errors, safe_url, logs and stdout/stderr."""
    caplog.set_level(logging.DEBUG)
    if case == "down":
        password, url = PASSWORD, f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/video.mjpg"
    else:
        server: ServerProcess = request.getfixturevalue(f"{scheme}_cam")
        password = PASSWORD if case == "accepted" else WRONG_PASSWORD
        url = with_auth(base_url(server) + "/video.mjpg", password)
    url += f"?token={TOKEN}"
    source = make_source(url)
    errors = ErrorLog(source)
    states: set[str] = set()

    def watch(cond: object) -> bool:
        errors.poll()
        states.add(source.state.value)
        return bool(cond())  # type: ignore[operator]

    with source:
        if case == "accepted":
            assert wait_for(lambda: watch(lambda: source.state is StreamState.RUNNING), START_TIMEOUT)
            assert source.read(timeout=10) is not None
        else:
            assert wait_for(lambda: watch(lambda: source.reconnects >= 2), 30), source.state
            assert source.state in (StreamState.RECONNECTING, StreamState.CONNECTING)
            expected = "401" if case == "rejected" else "refused"
            assert any(expected in e.lower() for e in errors.seen), errors.seen
    out, err = capfd.readouterr()
    logs = log_texts(caplog.records)
    texts = [source.safe_url, repr(source), *errors.seen, *states, *logs, out, err]
    for secret in (password, TOKEN):
        assert not leaks(secret, texts), (secret, leaks(secret, texts))
    assert f"{USER}:***@127.0.0.1" in source.safe_url and "token=***" in source.safe_url
    assert any(f"{USER}:***@" in t for t in logs)  # the URL is logged, redacted
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_local_file_gives_every_frame(shared: Path) -> None:
    """The baseline of the HTTP test: the same clip as a local file, not paced, is read whole,
    the frames the decoder still holds at the end included."""
    source = LiveSource(str(shared / CLIP), name="file", realtime=False)
    got = 0
    with source:
        while (frame := source.read(timeout=20)) is not None:
            assert frame.image.shape == SHAPE
            got += 1
    assert source.state is StreamState.STOPPED and source.last_error is None
    assert got == source.frames_read == CLIP_FRAMES
