"""Health and metrics routes: ``/healthz`` (alive), ``/readyz`` (model and streams up), ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from vtrack.service.deps import Manager

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(mgr: Manager) -> JSONResponse:
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


@router.get("/metrics", response_class=Response)
def metrics(mgr: Manager) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(mgr.metrics.render(), media_type=CONTENT_TYPE_LATEST)
