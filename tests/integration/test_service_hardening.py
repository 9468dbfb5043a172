"""The red-team findings of issue 17 against a real uvicorn (``vtrack serve``'s settings) on loopback.

Source policy on ``POST /api/streams``, half-sent request heads (header timeout, ``/healthz`` kept
alive), Host header check and cross-origin writes without a token, extreme ``from``/``to``, no token in
the access log. Real sockets on 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from vtrack.config import DeploymentConfig
from vtrack.service.app import create_app
from vtrack.service.server import uvicorn_config

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TOKEN = "hardening-token-1234"
HEADER_TIMEOUT_S = 1.0
HALF_OPEN = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):  # the test's client, not the server
            return
        self.lines.append(record.getMessage() + (f" {record.exc_text}" if record.exc_text else ""))
        if record.exc_info:
            self.lines.append("TRACEBACK")


class Served:
    """``create_app(cfg)`` under ``uvicorn_config`` (the serve command's settings) in a thread."""

    def __init__(self, cfg: DeploymentConfig, *, access_log: bool = False) -> None:
        cfg.server.port = _free_port()
        self.app = create_app(cfg)
        self.base = f"http://127.0.0.1:{cfg.server.port}"
        self.port = cfg.server.port
        self.server = uvicorn.Server(uvicorn_config(self.app, cfg.server, access_log=access_log))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn exited at start-up"
            assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.app.state.stopping.set()
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "uvicorn did not stop within 30 s"


def _cfg(shared: Path, tmp_path: Path, **server: object) -> DeploymentConfig:
    videos = tmp_path / "videos"
    videos.mkdir(exist_ok=True)
    return DeploymentConfig.model_validate(
        {
            "server": {
                "header_timeout_s": HEADER_TIMEOUT_S,
                "allow_sources": {"file_roots": [str(videos)]},
                **server,
            },
            "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
            "store": f"sqlite:///{tmp_path / 'counts.db'}",
            "streams": [{"id": "off", "source": "rtsp://127.0.0.1:9/x", "enabled": False}],
        }
    )


@pytest.fixture(scope="module")
def logs() -> Iterator[_Lines]:
    handler = _Lines()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@pytest.fixture(scope="module")
def open_server(shared: Path, tmp_path_factory: pytest.TempPathFactory, logs: _Lines) -> Iterator[Served]:
    """No token, on loopback (the default deployment), access log on."""
    tmp = tmp_path_factory.mktemp("open")
    with Served(_cfg(shared, tmp), access_log=True) as s:
        s.tmp = tmp  # type: ignore[attr-defined]
        yield s


def test_api_sources_follow_the_policy(open_server: Served) -> None:
    videos = open_server.tmp / "videos"  # type: ignore[attr-defined]
    clip = videos / "clip.mp4"
    clip.write_bytes(b"not really a video")
    with httpx.Client(base_url=open_server.base, timeout=30) as c:
        refused = {
            "/etc/passwd": "file_roots",
            "/no/such/file.mp4": "file_roots",
            str(videos / ".." / "counts.db"): "file_roots",
            "tcp://127.0.0.1:9999?listen=1": "listen",
            "concat:/etc/passwd|/etc/hosts": "FFmpeg protocol",
            "udp://127.0.0.1:1234": "schemes",
            "0": "cameras",
        }
        for i, (source, needle) in enumerate(refused.items()):
            r = c.post("/api/streams", json={"id": f"x{i}", "source": source})
            assert r.status_code == 422, (source, r.text)
            assert needle in r.json()["detail"], (source, r.text)
        assert [s["id"] for s in c.get("/api/streams").json()] == ["off"]  # nothing was added
        r = c.post("/api/streams", json={"id": "inroot", "source": str(clip)})
        assert r.status_code == 201, r.text
        assert c.delete("/api/streams/inroot").status_code == 204
    with socket.socket() as probe:  # and nothing listens where the listen=1 source pointed
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", 9999)) != 0


def _half_open(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
        socks.append(s)
    return socks


def test_half_sent_heads_neither_starve_healthz_nor_stay_open(open_server: Served) -> None:
    socks = _half_open(open_server.port, HALF_OPEN)
    try:
        with httpx.Client(base_url=open_server.base, timeout=5) as c:
            t0 = time.monotonic()
            r = c.get("/healthz")
            assert r.status_code == 200, r.text
            assert c.get("/api/streams").status_code == 200
            assert time.monotonic() - t0 < HEADER_TIMEOUT_S  # answered while all of them are open
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed = 0
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 10
        while closed < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    closed += 1
        sel.close()
        assert closed == len(socks), f"{len(socks) - closed} half-open connection(s) still open"
    finally:
        for s in socks:
            s.close()


def test_other_host_headers_are_refused_without_a_token(open_server: Served) -> None:
    with httpx.Client(base_url=open_server.base, timeout=10) as c:
        assert c.get("/api/streams", headers={"Host": "attacker.example"}).status_code == 421
        rebound = {"Host": f"rebind.example:{open_server.port}"}
        assert c.get("/api/streams", headers=rebound).status_code == 421
        assert c.get("/api/streams", headers={"Host": f"localhost:{open_server.port}"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "probe.internal"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://attacker.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
     {"Origin": "http://127.0.0.1:1"}],
)
def test_cross_origin_writes_are_refused(open_server: Served, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=open_server.base, timeout=10) as c:
        for method, path in (("POST", "/api/streams/off/restart"), ("DELETE", "/api/streams/off")):
            assert c.request(method, path, headers=headers).status_code == 403
        assert c.get("/api/streams/off", headers=headers).status_code == 200  # reads are not refused
        same = {"Origin": open_server.base}
        assert c.post("/api/streams/off/restart", headers=same).status_code == 409  # got through: not enabled


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01"},
        {"to": "0001-01-01T00:30"},
        {"from": "9999-12-31", "to": "9999-12-31T23:59:59"},
        {"to": "9999-12-31T23:59:59+14:00"},
        {"from": "1970-01-01T00:00+14:00", "tz": "Pacific/Kiritimati"},
        {"from": "2026-01-02", "to": "2026-01-01"},
    ],
)
def test_extreme_times_are_422_not_500(open_server: Served, logs: _Lines, query: dict[str, str]) -> None:
    before = len(logs.lines)
    with httpx.Client(base_url=open_server.base, timeout=10) as c:
        for route in ("counts", "zones"):
            r = c.get(f"/api/streams/off/{route}", params=query)
            assert r.status_code == 422, (route, query, r.text)
            assert "'from'" in r.json()["detail"]
    assert not [ln for ln in logs.lines[before:] if "TRACEBACK" in ln or "Exception" in ln]


def test_the_access_log_never_shows_the_token(shared: Path, tmp_path: Path, logs: _Lines) -> None:
    cfg = _cfg(shared, tmp_path, token=TOKEN)
    with Served(cfg, access_log=True) as s, httpx.Client(base_url=s.base, timeout=10) as c:
        before = len(logs.lines)
        assert c.get("/", params={"token": TOKEN}).status_code == 303
        c.cookies.clear()  # the redirect set the cookie
        assert c.get("/api/streams", params={"token": TOKEN, "x": "1"}).status_code == 401
        deadline = time.monotonic() + 5
        while not any("GET /api/streams" in ln for ln in logs.lines[before:]) and time.monotonic() < deadline:
            time.sleep(0.05)
        access = [ln for ln in logs.lines[before:] if '"GET /' in ln]
        assert len(access) >= 2, logs.lines[before:]
        assert all(TOKEN not in ln for ln in logs.lines[before:])
        assert any("token=***" in ln for ln in access)
        # with a token, other Host names are served (behind a proxy, on a LAN name)
        auth = {"Host": "vtrack.lan", "Authorization": f"Bearer {TOKEN}"}
        assert c.get("/api/streams", headers=auth).status_code == 200


def test_requests_in_flight_are_limited_but_never_healthz(shared: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared, tmp_path, max_requests=1)
    cfg.streams.append(type(cfg.streams[0]).model_validate({"id": "door", "source": "rtsp://127.0.0.1:9/x"}))
    with Served(cfg) as s, httpx.Client(base_url=s.base, timeout=30) as c:
        for _attempt in range(5):  # the slow request must take the one slot first
            slow: list[httpx.Response] = []
            # a camera that never answers: the snapshot waits 3 s for a frame, holding the slot
            t = threading.Thread(target=lambda out=slow: out.append(c.get("/streams/door/snapshot.jpg")))
            t.start()
            time.sleep(0.8)
            busy = c.get("/api/streams")
            healthz = c.get("/healthz").status_code
            t.join(30)
            if "too many requests" not in slow[0].text:
                break
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        assert healthz == 200  # while the slot is taken
        assert slow[0].status_code == 503 and "no frame" in slow[0].text  # the camera's own answer
        assert c.get("/api/streams").status_code == 200  # the slot is free again
