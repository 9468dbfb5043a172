"""The live page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

A tile shows the live annotated view (a decoded image), its zone's occupancy, the crossings chart
renders, and a stream added through the API appears on the page; one whose file is missing shows
``failed``, its error and a restart button.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from vtrack.config import DeploymentConfig
from vtrack.service.app import create_app

pytestmark = [pytest.mark.assets, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-token-123"
CLIP = "media/video/degirum_traffic_motorway_overpass.mp4"
SCREENSHOT = Path("/tmp/vtrack_service_page.png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _served(cfg: DeploymentConfig) -> Iterator[str]:
    """The app of ``cfg`` served by a real uvicorn on ``cfg.server.port`` in a thread; its base URL."""
    app = create_app(cfg)
    port = cfg.server.port
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.stopping.set()
        srv.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def playwright_api():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra's playwright is needed")
    if not os.access(CHROMIUM, os.X_OK):
        msg = f"{CHROMIUM} not found: install Debian's chromium (.ci/system-packages.txt)"
        if os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no"):
            pytest.fail(msg)
        pytest.skip(msg)
    return sync_api


@pytest.fixture(scope="module")
def server(shared: Path) -> Iterator[str]:
    port = _free_port()
    cfg = DeploymentConfig.model_validate(
        {
            "server": {
                "port": port,
                "token": TOKEN,
                # streams added below: the shared clip, a missing file in the test's temp folder
                "allow_sources": {"file_roots": [str(shared / "media"), tempfile.gettempdir()]},
            },
            "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
            "streams": [
                {
                    "id": "motorway",
                    "source": str(shared / CLIP),
                    "loop": True,
                    "max_fps": 4,
                    "classes": ["car"],
                    "lines": [{"name": "h", "points": [0, 0.5, 1, 0.5]}],
                    "zones": [{"name": "road", "points": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}],
                }
            ],
        }
    )
    with _served(cfg) as url:
        yield url


def test_page_shows_live_tiles_chart_and_new_streams(  # type: ignore[no-untyped-def]
    playwright_api, server: str, shared: Path, tmp_path: Path
) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server}/?token={TOKEN}")  # sets the auth cookie, redirects to /
            tile = page.locator('section.tile[data-stream="motorway"]')
            tile.wait_for(timeout=20_000)
            # the live MJPEG view: an image decoded by the browser
            page.wait_for_function(
                """() => { const i = document.querySelector('section.tile[data-stream="motorway"] img');
                           return i && i.naturalWidth > 0; }""",
                timeout=30_000,
            )
            assert tile.locator("img").evaluate("i => i.naturalWidth") == 960
            page.wait_for_function(
                """() => document.querySelector('section.tile[data-stream="motorway"] .state')
                             .textContent === 'running'""",
                timeout=20_000,
            )
            assert "FPS" in tile.locator(".meta").inner_text()
            # the zone's occupancy now ("road: 2 car", or "road: empty")
            zone = tile.locator('.zones .zone[data-zone="road"]')
            zone.wait_for(timeout=20_000)
            assert zone.inner_text().startswith("road: ")
            assert int(zone.get_attribute("data-occupancy") or "-1") >= 0
            # the chart: an SVG with its axes (bars once crossings are counted)
            page.wait_for_selector('section.tile[data-stream="motorway"] .chart svg', timeout=20_000)
            assert tile.locator(".chart svg line.axis").count() == 2
            # a stream added through the API appears
            with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
                body = {"id": "added", "source": str(shared / CLIP), "loop": True, "max_fps": 2}
                assert api.post("/api/streams", json=body).status_code == 201
            page.locator('section.tile[data-stream="added"]').wait_for(timeout=20_000)
            page.wait_for_function(
                """() => { const i = document.querySelector('section.tile[data-stream="added"] img');
                           return i && i.naturalWidth > 0; }""",
                timeout=30_000,
            )
            # a stream whose file is missing: failed, with its error and a restart button
            with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
                body = {"id": "gone", "source": str(tmp_path / "gone.mp4")}
                assert api.post("/api/streams", json=body).status_code == 201
            gone = page.locator('section.tile[data-stream="gone"]')
            gone.locator(".state.failed").wait_for(timeout=20_000)
            assert "gone.mp4" in gone.locator(".meta .error").inner_text()
            assert gone.locator("button.restart").count() == 1
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_readme_example_config_serves_its_page(  # type: ignore[no-untyped-def]
    playwright_api, shared: Path, tmp_path: Path
) -> None:
    """`vtrack serve --config examples/deployment.yaml` (the README's command), as a user runs it: the
    CLI in its own process; the page shows the example's looping stream live with its zone."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    text = (repo / "examples" / "deployment.yaml").read_text()
    config = tmp_path / "deployment.yaml"
    config.write_text(text.replace("../shared/", f"{shared}/"))  # wherever the assets are on this machine
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "VTRACK_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vtrack.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"vtrack serve exited: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, "vtrack serve did not become ready"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base)
                page.wait_for_function(
                    """() => { const i = document.querySelector('section.tile[data-stream="bike-path"] img');
                               return i && i.naturalWidth > 0; }""",
                    timeout=60_000,
                )
                tile = page.locator('section.tile[data-stream="bike-path"]')
                page.wait_for_function(
                    """() => document.querySelector('section.tile[data-stream="bike-path"] .state')
                                 .textContent === 'running'""",
                    timeout=30_000,
                )
                tile.locator('.zones .zone[data-zone="path"]').wait_for(timeout=30_000)
                page.wait_for_selector('section.tile[data-stream="bike-path"] .chart svg', timeout=30_000)
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    # SIGTERM: a graceful shutdown (uvicorn re-raises the signal once it is done, as systemd expects)
    assert proc.returncode in (0, -15), out
    assert "stopped 1 stream(s)" in out and "Traceback" not in out


@pytest.fixture
def teach_server(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A stream with person sub-classes (learned from a few made-up crops) and a folder to teach into."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "subclasses"))
    from subclass_media import write_examples

    from vtrack.subclasses.embedder import CropEmbedder
    from vtrack.subclasses.learn import learn

    embedder_file = shared / "models/efficientnet_lite0.onnx"
    monkeypatch.setenv("VTRACK_EMBEDDER", str(embedder_file))
    examples = write_examples(tmp_path / "examples", {"striped": 3, "blob": 3})
    vtc = learn(examples, CropEmbedder(embedder_file), threshold=0.6)[0].save(tmp_path / "people.vtc")
    port = _free_port()
    cfg = DeploymentConfig.model_validate(
        {
            "server": {"port": port, "token": TOKEN},
            "model": {"path": str(shared / "models/yolov8n.onnx"), "threads": 1},
            "streams": [
                {
                    "id": "riders",
                    "source": str(shared / "media/video/bicycle_tracking_sample.mp4"),
                    "loop": True,
                    "max_fps": 4,
                    "classes": ["person"],
                    "subclasses": str(vtc),
                    "subclasses_examples": str(examples),
                }
            ],
        }
    )
    with _served(cfg) as url:
        yield url, examples


def test_page_teaches_sub_classes_from_recent_crops(  # type: ignore[no-untyped-def]
    playwright_api, teach_server: tuple[str, Path]
) -> None:
    """Open the teach panel, file a rider's crop under a new label, and learn again, all by clicks."""
    server, examples = teach_server
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(f"{server}/?token={TOKEN}")
            panel = page.locator('section.tile[data-stream="riders"] details.teach')
            panel.wait_for(timeout=30_000)
            assert panel.locator("summary").inner_text() == "teach person sub-classes (blob 3 · striped 3)"
            panel.locator("summary").click()
            # the recent crops of real tracks, decoded by the browser, with a button per label
            page.wait_for_function(
                """() => { const i = document.querySelector('details.teach figure.crop img');
                           return i && i.naturalWidth > 0; }""",
                timeout=60_000,
            )
            card = panel.locator("figure.crop").first
            assert card.locator("button.label").all_inner_texts() == ["blob", "striped"]
            assert card.locator("figcaption").inner_text().startswith("#")
            # file three crops under a new label by typing it (a label needs 3 examples to learn)
            for _ in range(3):
                crop_id = panel.locator("figure.crop:not(.filed)").first.get_attribute("data-crop")
                card = panel.locator(f'figure.crop[data-crop="{crop_id}"]')
                card.locator("input.new-label").fill("rider")
                card.locator("input.new-label").press("Enter")
                card.locator(".filed-as").wait_for(timeout=10_000)
                assert card.locator(".filed-as").inner_text() == "filed as rider"
            assert len(list((examples / "rider").glob("*.jpg"))) == 3
            # the new label's button appears on the other crops
            page.wait_for_selector(
                'details.teach figure.crop:not(.filed) button[data-label="rider"]', timeout=15_000
            )
            panel.locator("button.relearn").click()
            result = panel.locator(".learn .result.ok")
            result.wait_for(timeout=60_000)
            learned = result.inner_text()
            assert learned.startswith("learned blob 3, rider 3, striped 3; leave-one-out accuracy"), learned
            page.wait_for_function(
                """() => document.querySelector('details.teach summary').textContent
                         === 'teach person sub-classes (blob 3 · rider 3 · striped 3)'""",
                timeout=15_000,
            )
            page.screenshot(path="/tmp/vtrack_teach_page.png", full_page=True)
        finally:
            browser.close()
