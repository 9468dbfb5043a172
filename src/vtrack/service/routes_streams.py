"""Stream routes: list, show, add, restart and remove the streams of ``vtrack serve`` at run time.

Each answers a stream as :class:`~vtrack.service.schemas.StreamStatus` (the source redacted).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from vtrack.config import StreamConfig
from vtrack.service.deps import NO_STREAM, Config, Manager, StreamId, stream_worker
from vtrack.service.schemas import StreamStatus
from vtrack.stream.policy import check_source_allowed

router = APIRouter(tags=["streams"])


@router.get("/api/streams")
def list_streams(mgr: Manager) -> list[StreamStatus]:
    """Every stream with its state, FPS, last frame age, reconnects and dropped frames."""
    out = []
    for sid in mgr.ids():
        status = mgr.status(sid)
        if status is not None:
            out.append(status)
    return out


@router.get("/api/streams/{stream_id}", responses=NO_STREAM)
def get_stream(stream_id: StreamId, mgr: Manager) -> StreamStatus:
    """One stream."""
    status = mgr.status(stream_id)
    if status is None:
        raise HTTPException(404, f"no stream {stream_id!r}")
    return status


@router.post(
    "/api/streams",
    status_code=201,
    responses={409: {"description": "The id is taken"}, 413: {"description": "Body too large"}},
)
def add_stream(cfg: StreamConfig, mgr: Manager, config: Config) -> StreamStatus:
    """Add (and start) a stream at run time; its source must pass ``server.allow_sources``."""
    check_source_allowed(cfg.source, config.server.allow_sources.rules())  # 422 before anything is opened
    if mgr.has(cfg.id):
        raise HTTPException(409, f"stream {cfg.id!r} already exists")
    mgr.add(cfg)
    status = mgr.status(cfg.id)
    assert status is not None
    return status


@router.post(
    "/api/streams/{stream_id}/restart",
    responses={**NO_STREAM, 409: {"description": "The stream is not enabled"}},
)
def restart_stream(stream_id: StreamId, mgr: Manager) -> StreamStatus:
    """Open the stream's source again (e.g. after a ``failed`` state: the file is back, the store
    reachable), keeping its tracker, counters and counts."""
    stream_worker(mgr, stream_id)  # 404 / 409
    status = mgr.restart(stream_id)
    if status is None:  # removed meanwhile
        raise HTTPException(404, f"no stream {stream_id!r}")
    return status


@router.delete("/api/streams/{stream_id}", status_code=204, response_class=Response, responses=NO_STREAM)
def delete_stream(stream_id: StreamId, mgr: Manager) -> Response:
    """Stop and remove a stream (its counts stay in the count store)."""
    if not mgr.remove(stream_id):
        raise HTTPException(404, f"no stream {stream_id!r}")
    return Response(status_code=204)
