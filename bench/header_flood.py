"""Half-sent request heads against ``vtrack serve``'s HTTP server: before and after the header timeout.

Usage: ``PYTHONPATH=src python bench/header_flood.py [N]`` (default 300 connections). Starts the app
twice on loopback, once with the former uvicorn settings (``limit_concurrency=256``, uvicorn's h11
protocol) and once with :func:`vtrack.service.server.uvicorn_config` (header timeout 2 s); opens N
connections that send half a request head and wait; then asks ``/healthz`` and counts how many of
the N the server has closed after 5 s. No model is loaded (the app's streams are empty).
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import httpx
import uvicorn

from vtrack.config import DeploymentConfig
from vtrack.service.app import create_app
from vtrack.service.manager import StreamManager
from vtrack.service.server import uvicorn_config


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def trial(label: str, new: bool, n: int) -> None:
    cfg = DeploymentConfig.model_validate({"server": {"port": _port(), "header_timeout_s": 2.0}})
    mgr = StreamManager(cfg)
    mgr.started = True  # no model: only the HTTP layer is measured
    app = create_app(cfg, mgr)
    if new:
        config = uvicorn_config(app, cfg.server)
    else:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=cfg.server.port, log_config=None, limit_concurrency=256,
            timeout_graceful_shutdown=1,
        )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", cfg.server.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    with httpx.Client(timeout=5) as c:
        t0 = time.perf_counter()
        code = c.get(f"http://127.0.0.1:{cfg.server.port}/healthz").status_code
        ms = (time.perf_counter() - t0) * 1000
    time.sleep(5)
    closed = 0
    for s in socks:
        s.settimeout(0.01)
        try:
            closed += s.recv(1) == b""
        except TimeoutError:
            pass
        except ConnectionError:
            closed += 1
        s.close()
    print(
        f"{label}: {n} half-sent heads open -> /healthz {code} in {ms:.1f} ms; "
        f"closed by the server after 5 s: {closed}/{n}"
    )
    server.should_exit = True
    thread.join(10)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    trial("before (uvicorn defaults, limit_concurrency=256)", False, n)
    trial("after (uvicorn_config, header_timeout_s=2)", True, n)


if __name__ == "__main__":
    main()
