"""The app's guard and validation without streams or a model: auth, body limit, 404/422, static files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from vtrack.config import DeploymentConfig
from vtrack.service.app import create_app

TOKEN = "unit-token-1234"
PASSWORD = "hunter22-pw"


def _client(token: str | None, metrics_auth: bool = True) -> TestClient:
    cfg = DeploymentConfig.model_validate(
        {"server": {"token": token, "metrics_auth": metrics_auth, "max_request_bytes": 1024}}
    )
    # no `with`: the lifespan (model loading) does not run; a loopback Host, as a local browser sends
    return TestClient(create_app(cfg), base_url="http://127.0.0.1:8080")


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_token_required_everywhere_but_healthz() -> None:
    c = _client(TOKEN)
    assert c.get("/healthz").status_code == 200
    for path in ["/api/streams", "/metrics", "/readyz", "/", "/docs", "/static/app.js"]:
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
        assert c.get(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert c.get("/api/streams", headers=AUTH).json() == []
    assert c.get("/metrics", headers=AUTH).status_code == 200


def test_metrics_can_be_left_open() -> None:
    c = _client(TOKEN, metrics_auth=False)
    assert c.get("/metrics").status_code == 200
    assert c.get("/api/streams").status_code == 401


def test_no_token_no_auth() -> None:
    c = _client(None)
    assert c.get("/api/streams").status_code == 200
    assert c.get("/readyz").status_code == 503  # model not loaded, streams not started


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/streams/x"),
        ("GET", "/api/streams/x/counts"),
        ("GET", "/api/streams/x/zones"),
        ("POST", "/api/streams/x/restart"),
        ("DELETE", "/api/streams/x"),
        ("GET", "/streams/x/mjpeg"),
        ("GET", "/streams/x/snapshot.jpg"),
    ],
)
def test_unknown_stream_404(method: str, path: str) -> None:
    r = _client(TOKEN).request(method, path, headers=AUTH)
    assert r.status_code == 404 and r.json()["detail"] == "no stream 'x'"


def test_restart_and_zones_need_the_token() -> None:
    c = _client(TOKEN)
    assert c.post("/api/streams/x/restart").status_code == 401
    assert c.get("/api/streams/x/zones").status_code == 401


def test_outputs_without_output_dir_is_422() -> None:
    c = _client(TOKEN)
    r = c.post("/api/streams", headers=AUTH, json={"id": "cam", "source": "rtsp://cam/x", "outputs": True})
    assert r.status_code == 422 and "output_dir" in r.json()["detail"]


def test_bad_bodies_422_never_echo_input() -> None:
    c = _client(TOKEN)
    r = c.post("/api/streams", headers=AUTH, json={"id": "BAD ID", "source": f"rtsp://a:{PASSWORD}@h/x"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("id: String should match pattern")
    assert PASSWORD not in r.text
    r = c.post("/api/streams", headers=AUTH, json={"id": "ok", "source": "x", "typo": 1})
    assert r.status_code == 422 and "typo" in r.json()["detail"]


def test_body_limit_413() -> None:
    c = _client(TOKEN)
    r = c.post("/api/streams", headers=AUTH, json={"id": "big", "source": "x" * 2000})
    assert r.status_code == 413 and "1024 bytes" in r.json()["detail"]


def test_only_the_page_files_are_served() -> None:
    c = _client(TOKEN)
    assert "/static/app.js" in c.get("/", headers=AUTH).text
    assert c.get("/static/app.js", headers=AUTH).headers["content-type"].startswith("application/javascript")
    for path in ["/static/index.html", "/static/..%2fapp.py", "/static/%2e%2e/manager.py", "/pyproject.toml"]:
        assert c.get(path, headers=AUTH).status_code == 404, path
