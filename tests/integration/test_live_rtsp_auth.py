"""RTSP passwords against a real camera that checks them (gst-rtsp-server with Basic auth).

``test_live_rtsp.py`` covers outages; this covers credentials: accepted, rejected (401) and no
server, the password never shown in the state, ``last_error``, ``safe_url``, logs or stdout/stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_servers import (
    HERE,
    SYSTEM_PYTHON,
    ErrorLog,
    ServerProcess,
    free_port,
    gst_rtsp_available,
    leaks,
    log_texts,
    missing,
    wait_for,
)

from vtrack.stream.live import LiveSource, StreamState

CLIP = "media/video/dashcam_freeway_dusk_360p.mp4"  # 640x360 H.264, key frame at 0
SHAPE = (360, 640, 3)
USER, PASSWORD, WRONG_PASSWORD = "viewer", "hunter2-rtsp-auth", "n0t-it-rtsp"
START_TIMEOUT = 45.0  # generous: a loaded 2-core machine, not a speed claim


@pytest.fixture(scope="module")
def rtsp_cam(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of an RTSP server that wants USER:PASSWORD."""
    if not gst_rtsp_available():
        missing("GStreamer RTSP server not importable by /usr/bin/python3")
    port = free_port()
    cmd = [
        SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), "--port", str(port), "--file", str(shared / CLIP),
        "--user", USER, "--password", PASSWORD, "--no-shared",
    ]  # fmt: skip
    server = ServerProcess(cmd, tmp_path_factory.mktemp("rtsp-auth") / "server.log")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.kill()


@pytest.mark.parametrize("case", ["accepted", "rejected", "down"])
def test_rtsp_password_never_leaks(
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = WRONG_PASSWORD if case == "rejected" else PASSWORD
    host = f"127.0.0.1:{free_port()}" if case == "down" else request.getfixturevalue("rtsp_cam")
    source = LiveSource(
        f"rtsp://{USER}:{password}@{host}/cam",
        name="rtsp",
        stall_timeout=5.0,
        backoff_initial=0.3,
        backoff_max=1.0,
    )
    errors = ErrorLog(source)

    def watch(cond: object) -> bool:
        errors.poll()
        return bool(cond())  # type: ignore[operator]

    with source:
        if case == "accepted":
            assert wait_for(lambda: watch(lambda: source.state is StreamState.RUNNING), START_TIMEOUT), (
                source.last_error
            )
            frame = source.read(timeout=10)
            assert frame is not None and frame.image.shape == SHAPE
        else:
            assert wait_for(lambda: watch(lambda: source.reconnects >= 2), 30), source.state
            assert source.state in (StreamState.RECONNECTING, StreamState.CONNECTING)
            expected = "401 unauthorized" if case == "rejected" else "refused"
            assert any(expected in e.lower() for e in errors.seen), errors.seen
    out, err = capfd.readouterr()
    logs = log_texts(caplog.records)
    texts = [source.safe_url, repr(source), *errors.seen, *logs, out, err]
    assert not leaks(password, texts), leaks(password, texts)
    assert f"{USER}:***@127.0.0.1" in source.safe_url
    assert any(f"{USER}:***@" in t for t in logs)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
