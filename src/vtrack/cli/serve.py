"""``vtrack serve``: many live streams, the HTTP API, the live page and Prometheus metrics in one process.

Binds 127.0.0.1 unless told otherwise. SIGINT/SIGTERM stop it gracefully: open live views are closed,
every stream's worker finishes its frame and closes its source and count store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from vtrack.cli.common import EXIT_USER_ERROR, fail, setup_logging
from vtrack.cli.options import BackendOption, PrecisionOption
from vtrack.cli.output import out
from vtrack.config import DeploymentConfig, load_deployment_config
from vtrack.errors import ConfigError, VtrackError

log = logging.getLogger("vtrack")


def _setup_logging(verbose: int) -> None:
    """Timed log lines; vtrack's own at info even without ``-v``, uvicorn's access log with ``-v``."""
    level = setup_logging(verbose, show_time=True)
    logging.getLogger("vtrack").setLevel(logging.INFO if verbose == 0 else level)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if verbose >= 1 else logging.WARNING)


def build_deployment(
    config: Path,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
    *,
    backend: str | None = None,
    precision: str | None = None,
) -> DeploymentConfig:
    """The deployment file with command-line overrides applied.

    Raises:
        ConfigError: the file or an override is invalid.
    """
    cfg = load_deployment_config(config)
    try:
        if host is not None:
            cfg.server.host = host
        if port is not None:
            cfg.server.port = port
        if token is not None:
            cfg.server.token = token
        if backend is not None:
            cfg.model.backend = backend  # type: ignore[assignment]  # validated on assignment
        if precision is not None:
            cfg.model.precision = precision  # type: ignore[assignment]
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"invalid option: {' '.join(str(e).split())}") from e
    return cfg


def serve_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML (server, model, streams).")],
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: the config's, else 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: the config's, else 8080).")] = None,
    token: Annotated[
        str | None,
        typer.Option(help="API token (every route but /healthz needs 'Authorization: Bearer …'); "
                     "default: the config's, else $VTRACK_TOKEN."),
    ] = None,
    backend: BackendOption = None,
    precision: PrecisionOption = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config and exit.")] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v: access log; -vv: debug.")
    ] = 0,
) -> None:
    """Serve live streams: detection, tracking and counting, HTTP API, live page and /metrics."""
    _setup_logging(verbose)
    try:
        cfg = build_deployment(config, host, port, token, backend=backend, precision=precision)
    except VtrackError as e:
        fail(e)
    enabled = sum(1 for s in cfg.streams if s.enabled)
    if check:
        out.print(f"{config}: valid ({len(cfg.streams)} stream(s), {enabled} enabled)")
        return

    import uvicorn

    from vtrack.service.app import create_app
    from vtrack.service.manager import StreamManager
    from vtrack.service.server import _is_loopback, uvicorn_config

    if not _is_loopback(cfg.server.host) and cfg.server.token is None:
        log.warning("binding %s without a token: anyone on the network can use the API", cfg.server.host)

    manager = StreamManager(cfg)
    try:
        manager.start()  # load the model first: a bad model is one line here, not a lifespan traceback
    except VtrackError as e:
        manager.stop()
        fail(e)
    app = create_app(cfg, manager)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.stopping.set()  # end open MJPEG views so the shutdown does not wait on them
            super().handle_exit(sig, frame)

    uv_config = uvicorn_config(app, cfg.server, access_log=verbose >= 1)
    server = _Server(uv_config)
    out.print(
        f"vtrack serve: http://{cfg.server.host}:{cfg.server.port}/ ({enabled} stream(s)"
        f"{', token required' if cfg.server.token else ''})",
        highlight=False,
    )
    try:
        server.run()
    finally:
        manager.stop()  # idempotent; also when the port could not be bound
    if not server.started:
        raise typer.Exit(EXIT_USER_ERROR)
