"""LiveSource against a real RTMP server on loopback: nginx with libnginx-mod-rtmp, fed by GStreamer.

nginx (Debian's ``nginx-light`` + ``libnginx-mod-rtmp``) runs in the foreground as one process with
its own config, pid and logs in a temp folder, on a free loopback port; no system config is read
or touched. ``rtmp_publisher.py`` (``/usr/bin/python3`` + python3-gi: ``flvmux ! rtmp2sink``)
pushes a ../shared clip, re-encoded as a camera sends it (H.264, 1 s GOP, no B-frames), so a
player that joins waits at most a second for a key frame.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest
from live_servers import (
    HERE,
    SYSTEM_PYTHON,
    ErrorLog,
    ServerProcess,
    free_port,
    gst_available,
    leaks,
    log_texts,
    missing,
    port_open,
    wait_for,
)

from vtrack.stream.live import LiveSource, StreamState

CLIP = "media/video/dashcam_freeway_dusk_360p.mp4"  # 640x360 H.264, 30 fps
SHAPE = (360, 640, 3)
CLIP_SECONDS = 10  # of the clip re-encoded for the publisher (each publisher start replays it)
USER, PASSWORD = "viewer", "hunter2-rtmp"
STALL_TIMEOUT = 4.0  # > the clip's 1 s key-frame interval: a joining player waits for a key frame
BACKOFF_INITIAL, BACKOFF_MAX = 0.3, 1.0
START_TIMEOUT = 45.0  # open + first frame on a loaded 2-core machine; generous, not a speed claim
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
GST_ELEMENTS = ("filesrc", "qtdemux", "h264parse", "flvmux", "rtmp2sink")
NGINX_CONF = """\
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
load_module {module};
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
            record off;
            allow publish 127.0.0.1;
            deny publish all;
            allow play all;
        }}
        application closed {{
            live on;
            record off;
            deny play all;
        }}
    }}
}}
"""


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )


def camera_clip(src: Path, dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``src`` as an IP camera encodes: H.264, 1 s GOP, no B-frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        rate = s_in.average_rate or Fraction(30)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = s_in.width, s_in.height, "yuv420p"
        stream.codec_context.gop_size = round(float(rate))
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i, frame in enumerate(inp.decode(s_in)):
            if i >= seconds * float(rate):
                break
            out_frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
            out_frame.pts, out_frame.time_base = i, 1 / rate
            for packet in stream.encode(out_frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


class Rtmp:
    """The nginx-rtmp server of the module and a way to start publishers on it."""

    def __init__(self, port: int, clip: Path, folder: Path) -> None:
        self.port, self.clip, self.folder = port, clip, folder

    def url(self, app: str = "live", stream: str = "cam", password: str = PASSWORD) -> str:
        return f"rtmp://{USER}:{password}@127.0.0.1:{self.port}/{app}/{stream}"

    def publisher(self, stream: str = "cam") -> ServerProcess:
        target = f"rtmp://127.0.0.1:{self.port}/live/{stream}"
        cmd = [SYSTEM_PYTHON, str(HERE / "rtmp_publisher.py"), "--file", str(self.clip), "--url", target]
        return ServerProcess(cmd, self.folder / f"publisher-{stream}.log")


@pytest.fixture(scope="module")
def rtmp(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rtmp]:
    nginx = _nginx()
    if nginx is None or not RTMP_MODULE.exists():
        missing("nginx with the RTMP module is not installed (Debian: nginx-light libnginx-mod-rtmp)")
    if not gst_available(*GST_ELEMENTS):
        missing(f"GStreamer for /usr/bin/python3 lacks one of {GST_ELEMENTS} (python3-gi, plugins-bad)")
    folder = tmp_path_factory.mktemp("rtmp")
    clip = camera_clip(shared / CLIP, folder / "camera.mp4", CLIP_SECONDS)
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, module=RTMP_MODULE, port=port))
    server = ServerProcess(
        [str(nginx), "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
        folder / "nginx.stderr",
        ready=False,
    )
    server.start()
    try:
        if not wait_for(lambda: port_open(port) or not server.alive(), 30) or not server.alive():
            pytest.fail(f"nginx did not start: {(folder / 'error.log').read_text(errors='replace')[-1500:]}")
        yield Rtmp(port, clip, folder)
    finally:
        server.kill()


def make_source(url: str) -> LiveSource:
    return LiveSource(
        url,
        name="rtmp",
        stall_timeout=STALL_TIMEOUT,
        backoff_initial=BACKOFF_INITIAL,
        backoff_max=BACKOFF_MAX,
    )


def test_rtmp_publisher_lost_and_back(
    rtmp: Rtmp, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Running with clip-sized frames; the camera (publisher) dies: the source stalls, retries
    while nothing is published, and runs again once a publisher is back. No password anywhere."""
    caplog.set_level(logging.DEBUG)
    publisher = rtmp.publisher()
    publisher.start()
    source = make_source(rtmp.url())
    errors = ErrorLog(source)

    def watch(cond: object) -> bool:
        errors.poll()
        return bool(cond())  # type: ignore[operator]

    try:
        with source:
            assert wait_for(lambda: watch(lambda: source.state is StreamState.RUNNING), START_TIMEOUT), (
                source.last_error
            )
            frame = source.read(timeout=10)
            assert frame is not None and frame.image.shape == SHAPE
            assert source.fps == pytest.approx(30.0)
            first = source.frames_read
            assert wait_for(lambda: source.frames_read >= first + 30, 30), source.frames_read  # it streams
            before_reconnects, before_frames = source.reconnects, source.frames_read
            publisher.kill()
            assert wait_for(
                lambda: watch(lambda: source.state is not StreamState.RUNNING), STALL_TIMEOUT + 20
            )
            # nothing published: each open waits up to stall_timeout for data, then is retried
            assert wait_for(lambda: watch(lambda: source.reconnects >= before_reconnects + 2), 40)
            assert source.state in (StreamState.RECONNECTING, StreamState.CONNECTING)
            publisher.start()
            assert wait_for(
                lambda: watch(
                    lambda: source.state is StreamState.RUNNING and source.frames_read > before_frames
                ),
                START_TIMEOUT,
            ), (source.state, source.last_error)
            frame = source.read(timeout=10)
            assert frame is not None and frame.image.shape == SHAPE
    finally:
        publisher.kill()
    assert source.state is StreamState.STOPPED
    out, err = capfd.readouterr()
    logs = log_texts(caplog.records)
    texts = [source.safe_url, repr(source), *errors.seen, *logs, out, err]
    assert not leaks(PASSWORD, texts), leaks(PASSWORD, texts)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    print(f"rtmp: errors seen {errors.seen}, reconnects {source.reconnects}, frames {source.frames_read}")


@pytest.mark.parametrize("case", ["rejected", "down"])
def test_rtmp_refused_password_never_leaks(
    rtmp: Rtmp, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], case: str
) -> None:
    """``deny play`` on the server, or no server: retried, one clear line, no password anywhere."""
    caplog.set_level(logging.DEBUG)
    if case == "rejected":
        url = rtmp.url(app="closed")
    else:
        url = f"rtmp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/live/cam"
    source = make_source(url)
    errors = ErrorLog(source)
    with source:
        assert wait_for(lambda: errors.poll() or source.reconnects >= 2, 40), source.state  # type: ignore[func-returns-value]
        assert source.state in (StreamState.RECONNECTING, StreamState.CONNECTING)
        assert source.read(timeout=0.05) is None
        errors.poll()
    assert errors.seen and all(e.startswith("cannot open: ") for e in errors.seen), errors.seen
    if case == "down":
        assert any("refused" in e.lower() for e in errors.seen), errors.seen
    out, err = capfd.readouterr()
    texts = [source.safe_url, repr(source), *errors.seen, *log_texts(caplog.records), out, err]
    assert not leaks(PASSWORD, texts), leaks(PASSWORD, texts)
    assert f"{USER}:***@127.0.0.1" in source.safe_url
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
