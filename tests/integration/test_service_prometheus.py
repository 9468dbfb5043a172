"""A real Prometheus (Debian's package) scraping a real `vtrack serve` process on loopback.

Prometheus authenticates with the API token, scrapes every second, and the PromQL question
"crossings in the last hour by class" is answered through its HTTP API. `vtrack serve` then stops
cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TOKEN = "prometheus-token-123"
CLIP = "media/video/degirum_traffic_motorway_overpass.mp4"
CROSSINGS_BY_CLASS = "sum by (class) (increase(vtrack_line_crossings_total[1h]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    path = shutil.which("prometheus")
    if path is None:
        msg = "prometheus not found: install Debian's prometheus (.ci/system-packages.txt)"
        if os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def vtrack_serve(
    shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    config = {
        "server": {"port": port},
        "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
        "streams": [
            {
                "id": "motorway",
                "source": str(shared / CLIP),
                "loop": True,
                "max_fps": 5,
                "classes": ["car"],
                "lines": [{"name": "h", "points": [0, 0.5, 1, 0.5]}],
            }
        ],
    }
    (tmp / "deployment.yaml").write_text(yaml.safe_dump(config))
    log = (tmp / "serve.log").open("wb")
    env = {**os.environ, "VTRACK_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vtrack.cli", "serve", "--config", str(tmp / "deployment.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, 60, "vtrack serve to answer")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str,
    vtrack_serve: tuple[str, subprocess.Popen[bytes]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    target = vtrack_serve[0].removeprefix("http://")
    (tmp / "token").write_text(TOKEN)
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "vtrack",
                "scrape_timeout": "1s",
                "authorization": {"type": "Bearer", "credentials_file": str(tmp / "token")},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = _free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{base}/-/ready", timeout=2).is_success, 60, "prometheus to be ready")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _query(base: str, promql: str) -> list[dict[str, object]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_prometheus_answers_crossings_in_the_last_hour_by_class(
    prometheus: str, vtrack_serve: tuple[str, subprocess.Popen[bytes]]
) -> None:
    # the token protects /metrics: Prometheus' scrape authenticates
    assert httpx.get(f"{vtrack_serve[0]}/metrics", timeout=5).status_code == 401
    _wait(
        lambda: any(
            float(s["value"][1]) > 0 for s in _query(prometheus, 'vtrack_frames_total{stream="motorway"}')
        ),  # type: ignore[index]
        60,
        "scraped frames",
    )
    up = _query(prometheus, 'up{job="vtrack"}')
    assert up and up[0]["value"][1] == "1"  # type: ignore[index]
    _wait(lambda: len(_query(prometheus, CROSSINGS_BY_CLASS)) > 0, 30, "a crossings result")
    result = _query(prometheus, CROSSINGS_BY_CLASS)
    assert {s["metric"]["class"] for s in result} == {"car"}  # type: ignore[index]
    value = float(result[0]["value"][1])  # type: ignore[index]
    assert value >= 0
    print(f"crossings in the last hour by class: car={value:g}")


def test_serve_stops_cleanly_on_sigterm(vtrack_serve: tuple[str, subprocess.Popen[bytes]]) -> None:
    _, proc = vtrack_serve
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal (exit by SIGTERM, as supervisors expect)
    assert proc.wait(20) in (0, -signal.SIGTERM)
    log = Path(proc.args[-1]).parent / "serve.log"  # type: ignore[index]
    assert "stopped 1 stream(s)" in log.read_text()
