"""Teaching a stream's sub-classes over HTTP: recent crops, file one under a label, learn again.

Routes (behind the server's token like every other route):

* ``GET  /api/streams/{id}/subclasses``: the parent class, the model's labels and examples per label,
  the examples folder's labels and files per label (``null`` when the stream has none to teach into).
* ``GET  /api/streams/{id}/subclasses/crops``: the stream's recent track crops (newest last).
* ``GET  /api/streams/{id}/subclasses/crops/{crop_id}.jpg``: one crop as JPEG.
* ``POST /api/streams/{id}/subclasses/crops/{crop_id}/label`` ``{"label": "cyclist"}``: save the crop
  into the stream's ``subclasses_examples`` folder, under ``<label>/``.
* ``POST /api/streams/{id}/subclasses/learn``: learn that folder again, write the stream's ``.vtc``
  and use it from the next frame on (no restart).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import cv2
from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from vtrack.service.deps import Manager, stream_config, stream_worker
from vtrack.service.manager import StreamManager
from vtrack.subclasses.learn import PARENT_FILE, label_folders, learn
from vtrack.subclasses.model import UNKNOWN
from vtrack.subclasses.stage import SubclassStage, TeachCrop, sublabel

log = logging.getLogger(__name__)

LABEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class TeachCropInfo(BaseModel):
    """One recent crop of a stream."""

    id: int
    track_id: int
    frame: int
    label: str = Field(description="The track's label right after this crop (CLASS:LABEL).")
    url: str


class LabelRequest(BaseModel):
    """Where to file a crop."""

    model_config = {"extra": "forbid"}
    label: Annotated[str, Field(pattern=LABEL_PATTERN, description="Label folder, e.g. cyclist.")]


class SubclassesInfo(BaseModel):
    """What a stream's sub-classes are and what can be taught."""

    parent: str = Field(description="The detector class the labels refine, e.g. person.")
    labels: dict[str, int] = Field(description="The model's labels and its examples per label.")
    examples: dict[str, int] | None = Field(
        description="Files per label folder in the stream's subclasses_examples (null: no folder, "
        "teaching is off)."
    )


class LearnResult(BaseModel):
    """The outcome of learning again."""

    parent: str
    counts: dict[str, int]
    accuracy: float = Field(description="Leave-one-track-out accuracy, 0..1.")
    threshold: float
    file: str


router = APIRouter(tags=["subclasses"])


def _stage(mgr: StreamManager, stream_id: str) -> SubclassStage:
    """The stream's sub-class stage; ``HTTPException`` 404 no stream, 409 not enabled or no sub-classes."""
    stage = stream_worker(mgr, stream_id).subclasses
    if stage is None:
        raise HTTPException(409, f"stream {stream_id!r} has no subclasses")
    return stage


def _examples(mgr: StreamManager, stream_id: str) -> Path:
    """The stream's examples folder; ``HTTPException`` 404 no stream, 409 none configured."""
    cfg = stream_config(mgr, stream_id)
    if not cfg.subclasses_examples:
        raise HTTPException(409, f"stream {stream_id!r} has no subclasses_examples folder to teach into")
    return Path(cfg.subclasses_examples)


def _crop(mgr: StreamManager, stream_id: str, crop_id: int) -> TeachCrop:
    """A recent crop of the stream; ``HTTPException`` 404 when it is gone (or never was)."""
    for c in _stage(mgr, stream_id).recent_crops():
        if c.id == crop_id:
            return c
    raise HTTPException(404, f"no recent crop {crop_id} in stream {stream_id!r} (crops are kept briefly)")


@router.get("/api/streams/{stream_id}/subclasses")
def info(stream_id: str, mgr: Manager) -> SubclassesInfo:
    """The stream's parent class, labels and teachable examples."""
    stage = _stage(mgr, stream_id)
    cfg = stream_config(mgr, stream_id)
    examples = None
    if cfg.subclasses_examples:
        folder = Path(cfg.subclasses_examples)
        found = label_folders(folder) if folder.is_dir() else {}
        examples = {label: len(images) for label, images in found.items()}
    return SubclassesInfo(parent=stage.parent, labels=stage.model.label_counts(), examples=examples)


@router.get("/api/streams/{stream_id}/subclasses/crops")
def list_crops(stream_id: str, mgr: Manager) -> list[TeachCropInfo]:
    """The stream's recent track crops, oldest first."""
    stage = _stage(mgr, stream_id)
    return [
        TeachCropInfo(
            id=c.id,
            track_id=c.track_id,
            frame=c.frame,
            label=sublabel(stage.parent, c.label),
            url=f"/api/streams/{stream_id}/subclasses/crops/{c.id}.jpg",
        )
        for c in stage.recent_crops()
    ]


@router.get("/api/streams/{stream_id}/subclasses/crops/{crop_id}.jpg", response_class=Response)
def crop_jpeg(stream_id: str, crop_id: int, mgr: Manager) -> Response:
    """One recent crop as JPEG."""
    ok, buf = cv2.imencode(".jpg", _crop(mgr, stream_id, crop_id).image)
    if not ok:
        raise HTTPException(500, "cannot encode the crop")
    return Response(content=buf.tobytes(), media_type="image/jpeg")


@router.post("/api/streams/{stream_id}/subclasses/crops/{crop_id}/label", status_code=201)
def label_crop(stream_id: str, crop_id: int, body: LabelRequest, mgr: Manager) -> dict[str, str]:
    """File a recent crop under a label in the stream's examples folder."""
    if body.label in (UNKNOWN, "unsorted"):
        raise HTTPException(422, f"label {body.label!r} is reserved")
    folder = _examples(mgr, stream_id)
    crop = _crop(mgr, stream_id, crop_id)
    stage = _stage(mgr, stream_id)
    target = folder / body.label / f"{stream_id}_t{crop.track_id:04d}_f{crop.frame:05d}_q00.jpg"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        parent_file = folder / PARENT_FILE
        if not parent_file.exists():
            parent_file.write_text(stage.parent + "\n", encoding="utf-8")
        if not cv2.imwrite(str(target), crop.image):
            raise OSError("the JPEG encoder failed")
    except OSError as e:
        raise HTTPException(500, f"cannot write {target}: {e}") from e
    log.info("stream %s: crop %d filed under %s", stream_id, crop_id, body.label)
    return {"file": str(target)}


@router.post("/api/streams/{stream_id}/subclasses/learn")
def relearn(stream_id: str, mgr: Manager) -> LearnResult:
    """Learn the examples folder again; the stream uses the new model from its next frame."""
    stage = _stage(mgr, stream_id)
    cfg = stream_config(mgr, stream_id)
    folder = _examples(mgr, stream_id)
    model, report = learn(  # 422 on bad input
        folder, stage.embedder, parent=stage.parent, k=stage.model.k, colour_weight=stage.model.colour_weight
    )
    assert cfg.subclasses is not None
    model.save(cfg.subclasses)
    stage.set_model(model)
    return LearnResult(
        parent=model.parent,
        counts=report.counts,
        accuracy=report.accuracy,
        threshold=report.threshold,
        file=cfg.subclasses,
    )
