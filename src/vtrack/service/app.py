"""The HTTP API and web page of ``vtrack serve`` (FastAPI): :func:`create_app`.

The routes live in one module per concern, each an ``APIRouter``:

* :mod:`~vtrack.service.routes_ops`: ``/healthz``, ``/readyz``, ``/metrics``.
* :mod:`~vtrack.service.routes_streams`: ``/api/streams[/{id}[/restart]]`` (list, show, add, remove).
* :mod:`~vtrack.service.routes_counts`: ``/api/streams/{id}/counts`` and ``/zones``.
* :mod:`~vtrack.service.routes_subclasses`: ``/api/streams/{id}/subclasses/...`` (teaching).
* :mod:`~vtrack.service.routes_media`: ``/streams/{id}/mjpeg`` and ``/streams/{id}/snapshot.jpg``.
* :mod:`~vtrack.service.routes_page`: the page at ``/`` (package data only) and OpenAPI docs at
  ``/docs`` (Swagger UI from the ``fastapi-offline`` package's files: no CDN, the machines have no
  internet).

They take the manager and the config through :mod:`vtrack.service.deps` (``app.state``); the JSON
they return is in :mod:`vtrack.service.schemas`.

Security: with a token every route but ``/healthz`` (and ``/metrics`` when ``metrics_auth`` is off)
needs ``Authorization: Bearer TOKEN``; a browser opens ``/?token=TOKEN`` once and gets a
``SameSite=Strict`` HttpOnly cookie holding it. Request bodies are limited to
``server.max_request_bytes`` (:class:`~vtrack.service.guard.RequestGuard`). No response carries a URL
password: sources are shown redacted and validation errors never echo their input.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vtrack import __version__
from vtrack.config import DeploymentConfig
from vtrack.errors import VtrackError
from vtrack.service import (
    routes_counts,
    routes_media,
    routes_ops,
    routes_page,
    routes_streams,
    routes_subclasses,
)
from vtrack.service.guard import RequestGuard
from vtrack.service.manager import StreamManager, scrub
from vtrack.service.server import allowed_hosts

ROUTERS = (routes_subclasses, routes_ops, routes_streams, routes_counts, routes_media, routes_page)
"""The route modules, in the order their routes are matched and listed in the OpenAPI schema."""


def create_app(config: DeploymentConfig, manager: StreamManager | None = None) -> FastAPI:
    """The FastAPI app of a deployment.

    Args:
        config: the deployment (server settings, model, store, streams).
        manager: the streams; default a new :class:`StreamManager` of ``config``. The app starts it
            (unless already started) when it starts, and stops it when it stops.

    Returns:
        The app; ``app.state.manager`` is the manager, ``app.state.config`` the deployment,
        ``app.state.stopping`` an event set on shutdown.
    """
    mgr = manager if manager is not None else StreamManager(config)
    stopping = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not mgr.started:
            await asyncio.to_thread(mgr.start)
        try:
            yield
        finally:
            stopping.set()
            await asyncio.to_thread(mgr.stop)

    app = FastAPI(
        title="vtrack",
        version=__version__,
        description="Live detection, tracking and line counting: streams, counts, live view, metrics.",
        lifespan=lifespan,
        docs_url=None,  # routes_page serves it with local Swagger UI files instead of a CDN's
        redoc_url=None,  # ReDoc would load from a CDN too
        exception_handlers={RequestValidationError: _validation_error, VtrackError: _user_error},
    )
    app.state.manager = mgr
    app.state.config = config
    app.state.stopping = stopping
    for module in ROUTERS:
        app.include_router(module.router)
    srv = config.server
    app.add_middleware(
        RequestGuard, token=srv.token, metrics_auth=srv.metrics_auth, max_body=srv.max_request_bytes,
        hosts=allowed_hosts(srv), max_requests=srv.max_requests,
    )
    return app


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each invalid field, never echoing the input (a source URL may carry a password)."""
    errors = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        errors.append({"loc": loc, "msg": scrub(str(e.get("msg", "invalid"))), "type": e.get("type")})
    summary = "; ".join(f"{e['loc'] or 'body'}: {e['msg']}" for e in errors)
    return JSONResponse(status_code=422, content={"detail": summary, "errors": errors})


async def _user_error(_request: Request, exc: VtrackError) -> JSONResponse:
    """422 for bad input found past validation (a source the policy refuses, an unknown class)."""
    return JSONResponse(status_code=422, content={"detail": scrub(str(exc))})


__all__ = ["create_app"]
