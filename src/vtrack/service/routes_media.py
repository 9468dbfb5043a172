"""Live view routes: a stream's latest annotated frame as JPEG, and the frames as MJPEG.

A stream draws its frames only while someone watches (:class:`~vtrack.service.view.LiveView`): a
snapshot of an unwatched stream waits up to :data:`SNAPSHOT_WAIT_S` for a fresh frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import StreamingResponse

from vtrack.service.deps import Manager, Stopping, StreamId, stream_worker

router = APIRouter(tags=["live view"])

SNAPSHOT_WAIT_S = 3.0
MJPEG_POLL_S = 0.04
MJPEG_BOUNDARY = "frame"
MJPEG_MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}"


@router.get(
    "/streams/{stream_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {}, 503: {"description": "No frame yet"}},
)
def snapshot(stream_id: StreamId, mgr: Manager) -> Response:
    """The latest annotated frame as JPEG (waits up to 3 s for one)."""
    worker = stream_worker(mgr, stream_id)
    jpeg, _ = worker.latest_jpeg()
    if jpeg is None or not worker.view.watched:  # stale or none: wait for a fresh one
        jpeg, _ = worker.wait_jpeg(worker.latest_jpeg()[1], SNAPSHOT_WAIT_S)
    if jpeg is None:
        raise HTTPException(503, f"no frame from stream {stream_id!r} yet (state {worker.state})")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/streams/{stream_id}/mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {MJPEG_MEDIA_TYPE: {}}}},
)
async def mjpeg(stream_id: StreamId, mgr: Manager, stopping: Stopping) -> StreamingResponse:
    """The annotated live view as ``multipart/x-mixed-replace`` JPEG frames."""
    worker = stream_worker(mgr, stream_id)

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

    return StreamingResponse(frames(), media_type=MJPEG_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


def _part(jpeg: bytes) -> bytes:
    """One part of the MJPEG multipart stream."""
    head = f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"
