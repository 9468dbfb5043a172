"""The HTTP API and web page of ``vtrack serve`` (FastAPI).

Routes: ``/healthz``, ``/readyz``, ``/metrics``, ``/api/streams[/{id}[/counts|/zones|/restart]]``,
``/streams/{id}/mjpeg``, ``/streams/{id}/snapshot.jpg``, the page at ``/`` (package data only) and
OpenAPI docs at ``/docs`` (Swagger UI served from the ``fastapi-offline`` package's files at
``/docs-assets/{name}``: no CDN, the machines have no internet).

Security: with a token every route but ``/healthz`` (and ``/metrics`` when ``metrics_auth`` is off)
needs ``Authorization: Bearer TOKEN``; a browser opens ``/?token=TOKEN`` once and gets a
``SameSite=Strict`` HttpOnly cookie holding it. Request bodies are limited to
``server.max_request_bytes``. No response carries a URL password: sources are shown redacted and
validation errors never echo their input.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from vtrack import __version__
from vtrack.analytics.aggregate import hour_start
from vtrack.config import DeploymentConfig, StreamConfig
from vtrack.errors import VtrackError
from vtrack.exporters.store import CountFilter, open_store, query_counts
from vtrack.exporters.store.query import bucket_start, parse_time, zone
from vtrack.service.manager import StreamManager, StreamWorker, scrub
from vtrack.service.schemas import CountRowOut, CountsOut, StreamStatus, ZoneRowOut, ZonesOut
from vtrack.service.server import allowed_hosts
from vtrack.service.subclasses_api import add_subclass_routes
from vtrack.service.zonestats import MemoryZoneHours, zone_figures
from vtrack.stream.policy import check_source_allowed
from vtrack.subclasses.stage import SubclassStage

log = logging.getLogger(__name__)

TOKEN_COOKIE = "vtrack_token"  # noqa: S105 - the cookie's name
SNAPSHOT_WAIT_S = 3.0
MJPEG_POLL_S = 0.04
MJPEG_BOUNDARY = "frame"
COUNTS_DEFAULT_HOURS = 24
QUERY_TIME_RANGE = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(3000, 1, 1, tzinfo=timezone.utc))
"""Earliest and latest ``from``/``to`` of a counts query (far from ``datetime``'s limits, where
bucket arithmetic in a time zone would overflow)."""
STATIC_FILES: dict[str, str] = {
    "app.js": "application/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The only files served besides ``index.html`` (package data of ``vtrack.service.static``)."""
DOCS_ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""The Swagger UI files of ``/docs``, served from the ``fastapi-offline`` package (its ``static/``)."""
DOCS_ASSETS_PACKAGE = "fastapi_offline"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

StreamId = Annotated[str, Path(description="Stream id.", max_length=63)]


class _Guard:
    """ASGI middleware: Host header check, cross-origin refusal, bearer-token (or cookie) auth, a
    request body limit and a limit of requests in flight.

    Args:
        app: the app guarded.
        token: the API token, or ``None`` for no authentication.
        metrics_auth: ``/metrics`` needs the token too.
        max_body: largest request body, in bytes.
        hosts: Host header values served (lowercase, no port), ``None`` for any
            (:func:`vtrack.service.server.allowed_hosts`).
        max_requests: requests handled at once; more are answered 503 (``/healthz`` never).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        metrics_auth: bool,
        max_body: int,
        hosts: frozenset[str] | None = None,
        max_requests: int | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.metrics_auth = metrics_auth
        self.max_body = max_body
        self.hosts = hosts
        self.max_requests = max_requests
        self.in_flight = 0  # the event loop's thread only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == "/healthz":  # liveness: never refused, reveals nothing
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            await _send_json(send, 421, {"detail": "Host header not served (server.allowed_hosts)"})
            return
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS and _cross_origin(headers, host):
            await _send_json(send, 403, {"detail": "cross-origin request refused"})
            return
        if self.token is not None and not self._open(path) and not self._authorised(scope):
            await _send_json(
                send,
                401,
                {"detail": "missing or invalid token: send 'Authorization: Bearer TOKEN'"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if self.max_requests is not None and self.in_flight >= self.max_requests:
            busy = {"detail": "too many requests in progress; retry"}
            await _send_json(send, 503, busy, [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self._limited(scope, receive, send, method, headers)
        finally:
            self.in_flight -= 1

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, method: str, headers: dict[bytes, bytes]
    ) -> None:
        if method in ("POST", "PUT", "PATCH"):
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _send_json(send, 413, {"detail": f"request body over {self.max_body} bytes"})
                return
            body = bytearray()
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body:
                    await _send_json(send, 413, {"detail": f"request body over {self.max_body} bytes"})
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    def _open(self, path: str) -> bool:
        return path == "/healthz" or (path == "/metrics" and not self.metrics_auth)

    def _authorised(self, scope: Scope) -> bool:
        assert self.token is not None
        expected = self.token.encode()
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), expected):
                    return True
            elif name == b"cookie":
                for part in value.split(b";"):
                    key, _, given = part.strip().partition(b"=")
                    if key == TOKEN_COOKIE.encode() and hmac.compare_digest(given, expected):
                        return True
        # a browser's first visit: /?token=... sets the cookie (see the route)
        if scope.get("path") == "/":
            from urllib.parse import parse_qs

            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given_q = (query.get("token") or [""])[0].encode()
            return bool(given_q) and hmac.compare_digest(given_q, expected)
        return False


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _host_name(host: str) -> str:
    """A Host header's name without the port, lowercase (``[::1]:8080`` → ``::1``)."""
    h = host.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rpartition(":")[0] if h.count(":") == 1 else h


def _cross_origin(headers: dict[bytes, bytes], host: str) -> bool:
    """A browser's request from another origin: ``Origin`` not this host (``null`` included), or
    ``Sec-Fetch-Site: cross-site``/``same-site``. Clients that send neither (curl, scripts) pass."""
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site in ("cross-site", "same-site"):
        return True
    origin = headers.get(b"origin")
    if origin is None:
        return False
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
    except ValueError:
        return True
    return not netloc or netloc != host.strip().lower()


async def _send_json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _window(since: str | None, until: str | None, zone_: ZoneInfo) -> tuple[datetime, datetime]:
    """The ``[from, to)`` of a counts query (default: the last :data:`COUNTS_DEFAULT_HOURS` hours).

    Raises:
        HTTPException: 422 for a time that does not parse, lies outside :data:`QUERY_TIME_RANGE`
            or an empty window.
    """
    lo, hi = QUERY_TIME_RANGE
    try:
        end = parse_time(until, zone_) if until else datetime.now(timezone.utc)
        start = parse_time(since, zone_) if since else end - timedelta(hours=COUNTS_DEFAULT_HOURS)
        inside = lo <= start <= hi and lo <= end <= hi
    except OverflowError:
        inside = False
    if not inside:
        raise HTTPException(
            422, f"'from' and 'to' must lie between {lo.date().isoformat()} and {hi.date().isoformat()}"
        )
    if start >= end:
        raise HTTPException(422, "'from' must be before 'to'")
    return start, end


def _part(jpeg: bytes) -> bytes:
    """One part of the MJPEG multipart stream."""
    head = f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


def _static(name: str) -> bytes:
    return resources.files("vtrack.service").joinpath("static").joinpath(name).read_bytes()


def _docs_asset(name: str) -> bytes:
    return resources.files(DOCS_ASSETS_PACKAGE).joinpath("static").joinpath(name).read_bytes()


def create_app(config: DeploymentConfig, manager: StreamManager | None = None) -> FastAPI:
    """The FastAPI app of a deployment.

    Args:
        config: the deployment (server settings, model, store, streams).
        manager: the streams; default a new :class:`StreamManager` of ``config``. The app starts it
            (unless already started) when it starts, and stops it when it stops.

    Returns:
        The app; ``app.state.manager`` is the manager, ``app.state.stopping`` an event set on shutdown.
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
        docs_url=None,  # served below with local Swagger UI files instead of a CDN's
        redoc_url=None,  # ReDoc would load from a CDN too
    )
    app.state.manager = mgr
    app.state.stopping = stopping
    srv = config.server

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # never echo the input back: a source URL may carry a password
        errors = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            errors.append({"loc": loc, "msg": scrub(str(e.get("msg", "invalid"))), "type": e.get("type")})
        summary = "; ".join(f"{e['loc'] or 'body'}: {e['msg']}" for e in errors)
        return JSONResponse(status_code=422, content={"detail": summary, "errors": errors})

    @app.exception_handler(VtrackError)
    async def _user_error(_request: Request, exc: VtrackError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": scrub(str(exc))})

    def _worker(stream_id: str) -> StreamWorker:
        if not mgr.has(stream_id):
            raise HTTPException(404, f"no stream {stream_id!r}")
        worker = mgr.worker(stream_id)
        if worker is None:
            raise HTTPException(409, f"stream {stream_id!r} is not enabled")
        return worker

    def _stage(stream_id: str) -> SubclassStage:
        stage = _worker(stream_id).subclasses
        if stage is None:
            raise HTTPException(409, f"stream {stream_id!r} has no subclasses")
        return stage

    def _config(stream_id: str) -> StreamConfig:
        cfg = mgr.config_of(stream_id)
        if cfg is None:
            raise HTTPException(404, f"no stream {stream_id!r}")
        return cfg

    add_subclass_routes(app, _stage, _config)

    # ------------------------------------------------------------------ health and metrics
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready when the model is loaded, every enabled stream's worker has started and none is
        ``failed`` (else 503; ``failed`` lists those streams: POST /api/streams/{id}/restart)."""
        ok, states = mgr.ready()
        failed = sorted(sid for sid, state in states.items() if state == "failed")
        body: dict[str, Any] = {
            "ready": ok, "model_loaded": mgr.detector is not None, "streams": states, "failed": failed,
        }
        if failed:
            body["detail"] = f"stream(s) failed: {', '.join(failed)}"
        return JSONResponse(status_code=200 if ok else 503, content=body)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(mgr.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ streams
    @app.get("/api/streams", tags=["streams"])
    def list_streams() -> list[StreamStatus]:
        """Every stream with its state, FPS, last frame age, reconnects and dropped frames."""
        out = []
        for sid in mgr.ids():
            status = mgr.status(sid)
            if status is not None:
                out.append(status)
        return out

    @app.get("/api/streams/{stream_id}", tags=["streams"], responses={404: {"description": "No such stream"}})
    def get_stream(stream_id: StreamId) -> StreamStatus:
        """One stream."""
        status = mgr.status(stream_id)
        if status is None:
            raise HTTPException(404, f"no stream {stream_id!r}")
        return status

    @app.post(
        "/api/streams",
        tags=["streams"],
        status_code=201,
        responses={409: {"description": "The id is taken"}, 413: {"description": "Body too large"}},
    )
    def add_stream(cfg: StreamConfig) -> StreamStatus:
        """Add (and start) a stream at run time; its source must pass ``server.allow_sources``."""
        check_source_allowed(cfg.source, srv.allow_sources.rules())  # 422 before anything is opened
        if mgr.has(cfg.id):
            raise HTTPException(409, f"stream {cfg.id!r} already exists")
        mgr.add(cfg)
        status = mgr.status(cfg.id)
        assert status is not None
        return status

    @app.post(
        "/api/streams/{stream_id}/restart",
        tags=["streams"],
        responses={404: {"description": "No such stream"}, 409: {"description": "The stream is not enabled"}},
    )
    def restart_stream(stream_id: StreamId) -> StreamStatus:
        """Open the stream's source again (e.g. after a ``failed`` state: the file is back, the store
        reachable), keeping its tracker, counters and counts."""
        _worker(stream_id)  # 404 / 409
        status = mgr.restart(stream_id)
        if status is None:  # removed meanwhile
            raise HTTPException(404, f"no stream {stream_id!r}")
        return status

    @app.delete(
        "/api/streams/{stream_id}",
        tags=["streams"],
        status_code=204,
        response_class=Response,
        responses={404: {"description": "No such stream"}},
    )
    def delete_stream(stream_id: StreamId) -> Response:
        """Stop and remove a stream (its counts stay in the count store)."""
        if not mgr.remove(stream_id):
            raise HTTPException(404, f"no stream {stream_id!r}")
        return Response(status_code=204)

    @app.get(
        "/api/streams/{stream_id}/zones",
        tags=["streams"],
        response_model_by_alias=True,
        responses={404: {"description": "No such stream"}},
    )
    def zones(
        stream_id: StreamId,
        since: Annotated[
            str | None, Query(alias="from", description="ISO 8601 start (default: 24 h before `to`).")
        ] = None,
        until: Annotated[str | None, Query(alias="to", description="ISO 8601 end (default: now).")] = None,
        bucket: Annotated[
            Literal["15min", "hour", "day"], Query(description="Bucket size (15min needs a count store).")
        ] = "hour",
        tz: Annotated[str | None, Query(description="IANA zone of buckets (default: the config's).")] = None,
        zone_name: Annotated[str | None, Query(alias="zone", description="Only this zone.")] = None,
    ) -> ZonesOut:
        """Zone entries, exits, max and mean occupancy and mean dwell per bucket × zone × class, from
        the count store when configured, else from the in-memory hours (the previous and the current
        UTC day)."""
        if not mgr.has(stream_id):
            raise HTTPException(404, f"no stream {stream_id!r}")
        zone_ = zone(tz or config.timezone)
        start, end = _window(since, until, zone_)
        source: Literal["store", "memory"]
        if config.store:
            store = open_store(config.store)
            try:
                flt = CountFilter(stream=stream_id, zone=zone_name, since=start, until=end)
                figures, _ = zone_figures(store, flt, bucket, zone_)
            finally:
                store.close()
            source = "store"
        else:
            if bucket == "15min":
                raise HTTPException(422, "bucket=15min needs a count store (set 'store:' in the config)")
            worker = mgr.worker(stream_id)
            memory = MemoryZoneHours(stream_id, worker.zone_rows() if worker is not None else ())
            # whole UTC hours overlapping [from, to), as the in-memory counts
            last_hour = hour_start(end.astimezone(timezone.utc) - timedelta(microseconds=1))
            flt = CountFilter(
                stream=stream_id, zone=zone_name, since=hour_start(start.astimezone(timezone.utc)),
                until=last_hour + timedelta(hours=1),
            )
            figures, computed_from = zone_figures(memory, flt, bucket, zone_)
            if computed_from != "hourly":
                raise HTTPException(
                    422, f"buckets in {zone_.key} need a count store (its UTC offset is not whole hours)"
                )
            source = "memory"
        rows = [
            ZoneRowOut(
                start=f.bucket, zone=f.zone, **{"class": f.class_name}, entries=f.entries, exits=f.exits,
                max_occupancy=f.max_occupancy, mean_occupancy=f.mean_occupancy,
                mean_dwell_seconds=f.mean_dwell_seconds,
            )
            for f in figures
        ]
        return ZonesOut(
            stream=stream_id, bucket=bucket, timezone=zone_.key, source=source, rows=rows,
            **{"from": start.astimezone(zone_), "to": end.astimezone(zone_)},
        )

    @app.get(
        "/api/streams/{stream_id}/zones/counts",
        tags=["streams"],
        response_model_by_alias=True,
        deprecated=True,
        responses={404: {"description": "No such stream"}},
    )
    def zone_counts(
        stream_id: StreamId,
        since: Annotated[str | None, Query(alias="from", description="ISO 8601 start.")] = None,
        until: Annotated[str | None, Query(alias="to", description="ISO 8601 end.")] = None,
        bucket: Annotated[Literal["15min", "hour", "day"], Query(description="Bucket size.")] = "hour",
        tz: Annotated[str | None, Query(description="IANA zone of buckets (default: the config's).")] = None,
        zone_name: Annotated[str | None, Query(alias="zone", description="Only this zone.")] = None,
    ) -> ZonesOut:
        """The count store's part of ``/api/streams/{id}/zones`` (422 without a store); use that route."""
        if not mgr.has(stream_id):
            raise HTTPException(404, f"no stream {stream_id!r}")
        if not config.store:
            raise HTTPException(422, "zone counts need a count store (set 'store:' in the config)")
        return zones(stream_id, since, until, bucket, tz, zone_name)

    @app.get("/api/streams/{stream_id}/counts", tags=["streams"], response_model_by_alias=True)
    def counts(
        stream_id: StreamId,
        since: Annotated[
            str | None, Query(alias="from", description="ISO 8601 start (default: 24 h before `to`).")
        ] = None,
        until: Annotated[str | None, Query(alias="to", description="ISO 8601 end (default: now).")] = None,
        bucket: Annotated[
            Literal["15min", "hour", "day"], Query(description="Bucket size (15min needs a count store).")
        ] = "hour",
        tz: Annotated[str | None, Query(description="IANA zone of buckets (default: the config's).")] = None,
    ) -> CountsOut:
        """Line crossings per bucket × line × class × direction, from the count store when configured,
        else from the in-memory hourly counts (last 48 h)."""
        if not mgr.has(stream_id):
            raise HTTPException(404, f"no stream {stream_id!r}")
        zone_ = zone(tz or config.timezone)
        start, end = _window(since, until, zone_)
        rows: list[CountRowOut] = []
        if config.store:
            store = open_store(config.store)
            try:
                flt = CountFilter(stream=stream_id, since=start, until=end)
                result = query_counts(store, flt, bucket, zone_)
            finally:
                store.close()
            rows = [
                CountRowOut(
                    start=r.bucket,
                    line=r.line,
                    **{"class": r.class_name},
                    direction=r.direction,
                    count=r.count,
                )
                for r in result.rows
            ]
            source: Literal["store", "memory"] = "store"
        else:
            if bucket == "15min":
                raise HTTPException(422, "bucket=15min needs a count store (set 'store:' in the config)")
            worker = mgr.worker(stream_id)
            tally: dict[tuple[datetime, str, str, str], int] = {}
            if worker is not None:
                for hour, line, cls, direction, n in worker.hourly.rows(start, end):
                    key = (bucket_start(hour, bucket, zone_), line, cls, direction)
                    tally[key] = tally.get(key, 0) + n
            rows = [
                CountRowOut(start=b, line=ln, **{"class": c}, direction=d, count=n)
                for (b, ln, c, d), n in sorted(tally.items())
            ]
            source = "memory"
        return CountsOut(
            stream=stream_id,
            bucket=bucket,
            timezone=zone_.key,
            source=source,
            rows=rows,
            **{"from": start.astimezone(zone_), "to": end.astimezone(zone_)},
        )

    # ------------------------------------------------------------------ live view
    @app.get(
        "/streams/{stream_id}/snapshot.jpg",
        tags=["live view"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {}, 503: {"description": "No frame yet"}},
    )
    def snapshot(stream_id: StreamId) -> Response:
        """The latest annotated frame as JPEG (waits up to 3 s for one)."""
        worker = _worker(stream_id)
        jpeg, _ = worker.latest_jpeg()
        if jpeg is None or not worker.view.watched:  # stale or none: wait for a fresh one
            jpeg, _ = worker.wait_jpeg(worker.latest_jpeg()[1], SNAPSHOT_WAIT_S)
        if jpeg is None:
            raise HTTPException(503, f"no frame from stream {stream_id!r} yet (state {worker.state})")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get(
        "/streams/{stream_id}/mjpeg",
        tags=["live view"],
        response_class=StreamingResponse,
        responses={200: {"content": {f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}": {}}}},
    )
    async def mjpeg(stream_id: StreamId) -> StreamingResponse:
        """The annotated live view as ``multipart/x-mixed-replace`` JPEG frames."""
        worker = _worker(stream_id)

        async def frames() -> AsyncIterator[bytes]:
            worker.add_viewer(+1)
            try:
                seq = 0
                while not stopping.is_set() and mgr.worker(stream_id) is worker:
                    jpeg, new_seq = worker.latest_jpeg()
                    if jpeg is not None and new_seq != seq:
                        seq = new_seq
                        yield _part(jpeg)
                    else:
                        await asyncio.sleep(MJPEG_POLL_S)
            finally:
                worker.add_viewer(-1)

        return StreamingResponse(
            frames(),
            media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ the page (package data only)
    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if (
            given is not None
            and srv.token is not None
            and hmac.compare_digest(given.encode(), srv.token.encode())
        ):
            # first visit with ?token=: keep it in a cookie, drop it from the address bar
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
            return resp
        return HTMLResponse(_static("index.html"), headers={"Cache-Control": "no-store"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        assert app.openapi_url is not None
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API docs",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
        )

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        media = DOCS_ASSETS.get(name)
        if media is None:
            raise HTTPException(404, "not found")
        return Response(_docs_asset(name), media_type=media, headers={"Cache-Control": "max-age=3600"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = STATIC_FILES.get(name)
        if media is None:
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type=media, headers={"Cache-Control": "no-store"})

    app.add_middleware(
        _Guard, token=srv.token, metrics_auth=srv.metrics_auth, max_body=srv.max_request_bytes,
        hosts=allowed_hosts(srv), max_requests=srv.max_requests,
    )
    return app


__all__ = ["create_app"]
