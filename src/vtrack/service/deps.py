"""What the routes of ``vtrack serve`` take from the app: FastAPI dependencies and stream lookups.

:func:`vtrack.service.app.create_app` keeps the deployment's config, the stream manager and the
shutdown event on ``app.state``; a route names them as parameters (``mgr: Manager``,
``config: Config``, ``stopping: Stopping``) and FastAPI passes them in. The lookups answer an unknown
stream with 404 and one that is not enabled with 409, as every route does.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from vtrack.config import DeploymentConfig, StreamConfig
from vtrack.service.manager import StreamManager, StreamWorker

StreamId = Annotated[str, Path(description="Stream id.", max_length=63)]
"""A stream id in a route's path."""
NO_STREAM: dict[int | str, dict[str, object]] = {404: {"description": "No such stream"}}
"""The ``responses`` entry of a route that answers 404 for an unknown stream."""


async def _manager(request: Request) -> StreamManager:
    manager: StreamManager = request.app.state.manager
    return manager


async def _config(request: Request) -> DeploymentConfig:
    config: DeploymentConfig = request.app.state.config
    return config


async def _stopping(request: Request) -> asyncio.Event:
    stopping: asyncio.Event = request.app.state.stopping
    return stopping


Manager = Annotated[StreamManager, Depends(_manager)]
"""The app's streams (``app.state.manager``)."""
Config = Annotated[DeploymentConfig, Depends(_config)]
"""The deployment the app serves (``app.state.config``): server settings, store, time zone."""
Stopping = Annotated[asyncio.Event, Depends(_stopping)]
"""Set when the app shuts down (``app.state.stopping``): endless responses end."""


def require_stream(mgr: StreamManager, stream_id: str) -> None:
    """Raise ``HTTPException`` 404 unless the stream exists (enabled or not)."""
    if not mgr.has(stream_id):
        raise HTTPException(404, f"no stream {stream_id!r}")


def stream_worker(mgr: StreamManager, stream_id: str) -> StreamWorker:
    """The stream's worker.

    Raises:
        HTTPException: 404 no such stream, 409 the stream is not enabled (it has no worker).
    """
    require_stream(mgr, stream_id)
    worker = mgr.worker(stream_id)
    if worker is None:
        raise HTTPException(409, f"stream {stream_id!r} is not enabled")
    return worker


def stream_config(mgr: StreamManager, stream_id: str) -> StreamConfig:
    """The stream's config.

    Raises:
        HTTPException: 404 no such stream.
    """
    cfg = mgr.config_of(stream_id)
    if cfg is None:
        raise HTTPException(404, f"no stream {stream_id!r}")
    return cfg
