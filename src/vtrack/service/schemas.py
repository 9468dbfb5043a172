"""The JSON the HTTP API returns: a stream's status and the counts and zone figures per bucket.

:class:`StreamStatus` is made by the stream's worker (:meth:`vtrack.service.worker.StreamWorker.status`)
or, for a stream that is not enabled, by :meth:`vtrack.service.manager.StreamManager.status`, and
returned by the routes as it is: one model, no copy of its fields elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamStatus(BaseModel):
    """A stream as the API shows it (the source with credentials replaced by ``***``)."""

    # the figures default to those of a stream that has not run; every field is always in the JSON,
    # so the response schema lists each as required
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    source: str = Field(description="The source, credentials redacted.")
    enabled: bool
    state: str = Field(description="connecting, running, reconnecting, stopped or failed.")
    last_error: str | None = None
    fps: float = Field(0.0, description="Frames processed per second (recent).")
    source_fps: float | None = None
    width: int | None = None
    height: int | None = None
    last_frame_age_seconds: float | None = None
    reconnects: int = 0
    frames_processed: int = 0
    frames_detected: int = Field(
        0, description="Frames the detector ran on; the other processed frames had their tracks carried."
    )
    frames_dropped: int = 0
    lines: list[str]
    classes: list[str] | None
    counts: dict[str, dict[str, dict[str, int]]] = Field(
        default_factory=dict,
        description="Crossings since the stream started: {line: {class: {in: n, out: n}}}.",
    )
    zones: list[str] = Field(default_factory=list, description="Zone names.")
    occupancy: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Tracks in each zone now: {zone: {class: n}} (every zone; classes seen so far).",
    )
    restarts: int = Field(0, description="Restarts through POST /api/streams/{id}/restart.")


FiguresSource = Literal["store", "memory"]
"""Where figures came from: the count store, or the stream's in-memory hours."""


class BucketedOut(BaseModel):
    """What a query of a stream's figures per bucket asked for, and where the answer came from."""

    stream: str
    bucket: str
    timezone: str
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    source: FiguresSource


class CountRowOut(BaseModel):
    """Crossings of one line by one class in one direction, in one bucket."""

    start: datetime = Field(description="Start of the bucket, in the query's time zone.")
    line: str
    class_name: str = Field(alias="class")
    direction: str
    count: int


class CountsOut(BucketedOut):
    """Line crossings of a stream per bucket."""

    rows: list[CountRowOut]


class ZoneRowOut(BaseModel):
    """One zone's figures for one class in one bucket."""

    start: datetime = Field(description="Start of the bucket, in the query's time zone.")
    zone: str
    class_name: str = Field(alias="class")
    entries: int
    exits: int
    max_occupancy: int = Field(description="Most present at once (over several hours: max of the maxima).")
    mean_occupancy: float | None = Field(
        description="Time-weighted mean present (hour buckets only; else null)."
    )
    mean_dwell_seconds: float | None = Field(description="Mean dwell of the exits (weighted by exits).")


class ZonesOut(BucketedOut):
    """Zone figures of a stream per bucket."""

    rows: list[ZoneRowOut]
