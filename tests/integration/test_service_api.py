"""`vtrack serve`'s HTTP API against a real uvicorn on loopback, real model, real looping live sources.

Every route with the token on, the same with it off, unknown ids (404), bad bodies (422), body limit
(413), and that no response nor any log line carries a URL password.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from vtrack.config import DeploymentConfig
from vtrack.metrics import METRIC_NAMES
from vtrack.service.app import create_app

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TOKEN = "integration-token-123"
PASSWORD = "s3cretPW-xyz"
CLIP = "media/video/intel_car_detection_parking_topdown.mp4"
DEAD_CAMERA = f"rtsp://admin:{PASSWORD}@127.0.0.1:9/cam"  # port 9 (discard): refused, reconnects


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Capture(logging.Handler):
    """Every log record of the process, formatted (with arguments) and with any exception text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Server:
    """A real uvicorn serving ``create_app(cfg)`` on a free loopback port, in a thread."""

    def __init__(self, cfg: DeploymentConfig) -> None:
        cfg.server.port = _free_port()
        self.app = create_app(cfg)
        self.base = f"http://127.0.0.1:{cfg.server.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=cfg.server.port, log_config=None, timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
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


def _cfg(shared: Path, *, token: str | None, metrics_auth: bool = True) -> DeploymentConfig:
    return DeploymentConfig.model_validate(
        {
            "server": {
                "token": token,
                "metrics_auth": metrics_auth,
                "max_request_bytes": 4096,
                "allow_sources": {"file_roots": [str(shared / "media")]},
            },
            "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
            "streams": [
                {
                    "id": "parking",
                    "source": str(shared / CLIP),
                    "loop": True,
                    "max_fps": 5,
                    "classes": ["car", "person"],
                    "lines": [{"name": "aisle", "points": [0, 0.5, 1, 0.5]}],
                    "zones": [{"name": "bay", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
                },
                {"id": "door", "source": DEAD_CAMERA, "max_fps": 5},
            ],
        }
    )


def _wait(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def logs() -> Iterator[_Capture]:
    handler = _Capture()
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
def served(shared: Path, logs: _Capture) -> Iterator[Server]:
    with Server(_cfg(shared, token=TOKEN)) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(served: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20) as c:
        _wait(lambda: c.get("/api/streams/parking").json()["state"] == "running", what="parking running")
        yield c


@pytest.fixture(scope="module")
def anon(served: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, timeout=20) as c:
        yield c


ROUTES = [
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/streams"),
    ("GET", "/api/streams/parking"),
    ("POST", "/api/streams"),
    ("DELETE", "/api/streams/parking"),
    ("GET", "/api/streams/parking/counts"),
    ("GET", "/api/streams/parking/zones"),
    ("POST", "/api/streams/parking/restart"),
    ("GET", "/streams/parking/mjpeg"),
    ("GET", "/streams/parking/snapshot.jpg"),
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/docs"),
    ("GET", "/docs-assets/swagger-ui.css"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_but_healthz_needs_the_token(anon: httpx.Client, method: str, path: str) -> None:
    r = anon.request(method, path, json={"id": "x", "source": "y"} if method == "POST" else None)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    wrong = anon.request(method, path, headers={"Authorization": "Bearer wrong-token-456"})
    assert wrong.status_code == 401


def test_healthz_is_open(anon: httpx.Client) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}


def test_readyz_and_stream_status(api: httpx.Client) -> None:
    r = api.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True and r.json()["model_loaded"] is True
    s = api.get("/api/streams/parking").json()
    assert s["state"] == "running"
    assert s["source_fps"] == 12.5 and s["width"] == 768 and s["height"] == 432
    _wait(lambda: api.get("/api/streams/parking").json()["fps"] > 0, what="processing fps")
    s = api.get("/api/streams/parking").json()
    assert 0 <= s["last_frame_age_seconds"] < 5
    assert {"reconnects", "frames_dropped", "frames_processed", "counts", "last_error"} <= set(s)
    assert s["lines"] == ["aisle"] and "aisle" in s["counts"]
    assert s["zones"] == ["bay"] and set(s["occupancy"]) == {"bay"}
    assert s["restarts"] == 0


def test_dead_camera_reconnects_and_never_shows_its_password(api: httpx.Client) -> None:
    _wait(lambda: api.get("/api/streams/door").json()["reconnects"] >= 1, what="a reconnect attempt")
    s = api.get("/api/streams/door").json()
    assert s["state"] in ("connecting", "reconnecting")
    assert s["source"] == "rtsp://admin:***@127.0.0.1:9/cam"
    assert s["last_error"] and PASSWORD not in s["last_error"]
    listing = api.get("/api/streams")
    assert {x["id"] for x in listing.json()} == {"parking", "door"}
    assert PASSWORD not in listing.text


def test_metrics_text(api: httpx.Client) -> None:
    _wait(
        lambda: 'vtrack_frame_latency_seconds_count{stream="parking"}' in api.get("/metrics").text,
        what="a processed frame in the metrics",
    )
    r = api.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    names = {
        line.split("{")[0].split(" ")[0] for line in r.text.splitlines() if line and not line.startswith("#")
    }
    assert names == METRIC_NAMES  # crossing series exist at 0 for the configured classes
    assert 'vtrack_line_crossings_total{class="car",direction="in",line="aisle",stream="parking"}' in r.text
    assert 'vtrack_zone_occupancy{class="person",stream="parking",zone="bay"}' in r.text
    assert 'vtrack_stream_up{stream="parking"} 1.0' in r.text
    assert 'vtrack_stream_up{stream="door"} 0.0' in r.text
    assert PASSWORD not in r.text


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/streams/nope"),
        ("DELETE", "/api/streams/nope"),
        ("GET", "/api/streams/nope/counts"),
        ("GET", "/api/streams/nope/zones"),
        ("POST", "/api/streams/nope/restart"),
        ("GET", "/streams/nope/mjpeg"),
        ("GET", "/streams/nope/snapshot.jpg"),
    ]:
        r = api.request(method, path)
        assert r.status_code == 404, (method, path, r.text)
        assert "nope" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"id": "cam2"}, "source"),
        ({"id": "Bad Id!", "source": f"rtsp://u:{PASSWORD}@h/x"}, "id"),
        ({"id": "cam2", "source": f"rtsp://u:{PASSWORD}@h/x", "colour": "red"}, "colour"),
        ({"id": "cam2", "source": f"rtsp://u:{PASSWORD}@h/x", "max_fps": -1}, "max_fps"),
        ({"id": "cam2", "source": "x", "lines": [{"name": "a", "points": [0, 0, 1]}]}, "lines"),
        ({"id": "cam2", "source": f"rtsp://u:{PASSWORD}@h/x", "classes": ["unicorn"]}, "unicorn"),
    ],
)
def test_bad_bodies_are_422_with_a_clear_message(
    api: httpx.Client, body: dict[str, object], where: str
) -> None:
    r = api.post("/api/streams", json=body)
    assert r.status_code == 422, r.text
    assert where in r.json()["detail"]
    assert PASSWORD not in r.text
    assert not api.get("/api/streams/cam2").is_success


def test_not_json_and_too_large_bodies(api: httpx.Client) -> None:
    r = api.post("/api/streams", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    big = {"id": "big", "source": "x" * 5000}
    assert api.post("/api/streams", json=big).status_code == 413


def test_add_and_remove_a_stream_at_run_time(api: httpx.Client, shared: Path) -> None:
    body = {"id": "extra", "source": str(shared / CLIP), "loop": True, "max_fps": 2}
    r = api.post("/api/streams", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "extra"
    assert api.post("/api/streams", json=body).status_code == 409
    assert "extra" in {s["id"] for s in api.get("/api/streams").json()}
    _wait(lambda: api.get("/api/streams/extra").json()["frames_processed"] > 0, what="extra processing")
    assert api.delete("/api/streams/extra").status_code == 204
    assert api.get("/api/streams/extra").status_code == 404
    assert 'stream="extra"' not in api.get("/metrics").text


def test_snapshot_is_a_jpeg(api: httpx.Client) -> None:
    r = api.get("/streams/parking/snapshot.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8" and len(r.content) > 5000


def test_mjpeg_streams_jpeg_parts(api: httpx.Client) -> None:
    with api.stream("GET", "/streams/parking/mjpeg") as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        data = b""
        for chunk in r.iter_bytes():
            data += chunk
            if data.count(b"--frame\r\n") >= 3:
                break
    part = data.split(b"--frame\r\n")[1]
    head, _, body = part.partition(b"\r\n\r\n")
    assert b"Content-Type: image/jpeg" in head and body[:2] == b"\xff\xd8"


def test_counts(api: httpx.Client) -> None:
    r = api.get("/api/streams/parking/counts")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["stream"] == "parking" and c["bucket"] == "hour" and c["source"] == "memory"
    assert isinstance(c["rows"], list)
    assert c["timezone"] == "UTC"
    r = api.get(
        "/api/streams/parking/counts",
        params={"from": "2026-01-01T00:00", "to": "2026-01-02", "tz": "Europe/Amsterdam", "bucket": "day"},
    )
    assert r.status_code == 200 and r.json()["from"].startswith("2026-01-01T00:00:00+01:00")
    for params, word in [
        ({"bucket": "week"}, "bucket"),
        ({"bucket": "15min"}, "store"),
        ({"from": "yesterday"}, "ISO 8601"),
        ({"tz": "Mars/Olympus"}, "time zone"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "before"),
    ]:
        r = api.get("/api/streams/parking/counts", params=params)
        assert r.status_code == 422, (params, r.text)
        assert word in r.json()["detail"], r.text


def test_docs_page_and_static_files_only(api: httpx.Client) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", docs.text)
    assert "/docs-assets/swagger-ui-bundle.js" in urls and "/docs-assets/swagger-ui.css" in urls
    assert not [u for u in urls if not u.startswith("/")], urls  # no CDN: every asset is local
    assert not re.search(r"(?:https?:)?//[\w.-]+", docs.text), "an external host in /docs"
    for asset, media in [
        ("swagger-ui-bundle.js", "application/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon.png", "image/png"),
    ]:
        r = api.get(f"/docs-assets/{asset}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), asset
        assert len(r.content) > 1000
    assert api.get("/docs-assets/index.html").status_code == 404
    assert api.get("/redoc").status_code == 404  # ReDoc would need a CDN
    spec = api.get("/openapi.json").json()
    assert {"/api/streams", "/api/streams/{stream_id}", "/api/streams/{stream_id}/counts"} <= set(
        spec["paths"]
    )
    page = api.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert api.get("/static/style.css").headers["content-type"].startswith("text/css")
    for path in [
        "/static/index.html",
        "/static/..%2f..%2fpyproject.toml",
        "/static/../app.py",
        "/etc/passwd",
    ]:
        assert api.get(path).status_code == 404, path


def test_browser_token_cookie(served: Server) -> None:
    with httpx.Client(base_url=served.base, timeout=20) as browser:
        assert browser.get("/?token=wrong-token-789").status_code == 401
        r = browser.get("/", params={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert r.cookies.get("vtrack_token") == TOKEN
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        assert "httponly" in r.headers["set-cookie"].lower()
        assert browser.get("/api/streams").status_code == 200  # the cookie now authorises
        browser.get("/?token=wrong-token-789")  # a wrong token never replaces the cookie
        assert browser.cookies.get("vtrack_token") == TOKEN


def test_zz_no_log_line_has_the_password(api: httpx.Client, logs: _Capture) -> None:
    # runs last in this module (name): after reconnect attempts, bad bodies and stream changes
    assert any("door" in line for line in logs.lines)
    leaked = [line for line in logs.lines if PASSWORD in line]
    assert not leaked, leaked[:3]


def test_auth_off_and_open_metrics(shared: Path) -> None:
    cfg = _cfg(shared, token=None)
    cfg.streams = []
    with Server(cfg) as srv, httpx.Client(base_url=srv.base, timeout=20) as c:
        assert c.get("/readyz").status_code == 200
        assert c.get("/api/streams").json() == []
        assert c.get("/metrics").status_code == 200
        assert c.get("/api/streams/nope").status_code == 404
    cfg = _cfg(shared, token=TOKEN, metrics_auth=False)
    cfg.streams = []
    with Server(cfg) as srv, httpx.Client(base_url=srv.base, timeout=20) as c:
        assert c.get("/metrics").status_code == 200
        assert c.get("/api/streams").status_code == 401
