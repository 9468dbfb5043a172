"""Helpers of the live-source tests against real servers on loopback (HTTP, HTTPS, RTMP, USB).

Servers run as subprocesses that print one ``READY ...`` line once they serve; a test kills
(SIGKILL: the camera loses power) and restarts them at will.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from vtrack.stream.live import LiveSource

HERE = Path(__file__).parent
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 90.0  # a server's start (JPEG encoding, GStreamer init) on a loaded 2-core machine


def assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


def missing(what: str) -> None:
    """Skip the test because ``what`` is not installed; fail instead under ``VTRACK_REQUIRE_ASSETS=1``."""
    msg = f"{what} (see .ci/system-packages.txt)"
    if assets_required():
        pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass; the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return cond()


class ServerProcess:
    """A subprocess that prints ``READY ...`` on stdout once it serves; start/kill at will.

    Args:
        cmd: the command line.
        ready: whether to wait for the ``READY`` line (``False`` for a server that prints none).
        log: file that receives the process's stderr (and stdout after ``READY``).
    """

    def __init__(self, cmd: list[str], log: Path, *, ready: bool = True) -> None:
        self.cmd, self.log, self.ready = cmd, log, ready
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""

    def start(self) -> None:
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        if not self.ready:
            return
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def pump() -> None:  # keeps draining stdout so the server never blocks on a full pipe
            for line in stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        try:
            line = lines.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            line = "(nothing)"
        if not line.startswith("READY"):
            self.kill()
            tail = self.log.read_text(errors="replace")[-1500:]
            pytest.fail(f"{Path(self.cmd[1]).name} did not start: {line!r}; stderr: {tail}")
        self.ready_line = line.strip()

    def kill(self) -> None:
        """SIGKILL and reap (the sockets close at once, as when a camera loses power)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 made with the ``openssl`` CLI: ``(cert.pem, key.pem)``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("the openssl command is not installed (Debian package 'openssl')")
    cert, key = folder / "cert.pem", folder / "key.pem"
    cmd = [
        str(openssl), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, f"openssl failed: {r.stderr[-500:]}"
    return cert, key


def gst_available(*elements: str) -> bool:
    """Whether ``/usr/bin/python3`` imports GStreamer (python3-gi) and has all ``elements``."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = (
        "import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); "
        "sys.exit(0 if all(Gst.ElementFactory.find(e) for e in sys.argv[1:]) else 3)"
    )
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe, *elements], capture_output=True, timeout=60, check=False)
    return r.returncode == 0


class ErrorLog:
    """Every distinct ``last_error`` a source showed, sampled by :meth:`poll` (bounded)."""

    MAX = 100

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self.seen: list[str] = []

    def poll(self) -> None:
        err = self.source.last_error
        if err is not None and err not in self.seen and len(self.seen) < self.MAX:
            self.seen.append(err)


def leaks(secret: str, texts: Iterable[str | None]) -> list[str]:
    """The texts that contain ``secret`` (raw or percent-encoded): should be none."""
    from urllib.parse import quote

    forms = {secret, quote(secret, safe="")}
    return [t for t in texts if t and any(f in t for f in forms)]


def log_texts(records: Iterable[object]) -> list[str]:
    """Message and formatted traceback of each captured ``logging.LogRecord``."""
    import logging

    out: list[str] = []
    for rec in records:
        assert isinstance(rec, logging.LogRecord)
        out.append(rec.getMessage())
        if rec.exc_info:
            out.append(logging.Formatter().formatException(rec.exc_info))
    return out


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def gst_rtsp_available() -> bool:
    """Whether ``/usr/bin/python3`` imports GStreamer's RTSP server (gir1.2-gst-rtsp-server-1.0)."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60, check=False)
    return r.returncode == 0
