"""Count routes: a stream's line crossings and zone figures per bucket, from the count store when the
deployment has one, else from the stream's in-memory hours.

* ``GET /api/streams/{id}/counts``: crossings per bucket × line × class × direction.
* ``GET /api/streams/{id}/zones``: entries, exits, occupancy and dwell per bucket × zone × class.
* ``GET /api/streams/{id}/zones/counts`` (deprecated): the count store's part of ``/zones``.

Buckets are ``15min`` (count store only), ``hour`` or ``day``, in the query's time zone (default the
config's ``timezone``); the window is ``[from, to)``, by default the last :data:`COUNTS_DEFAULT_HOURS`
hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from vtrack.analytics.aggregate import hour_start
from vtrack.config import DeploymentConfig
from vtrack.exporters.store import CountFilter, open_store, query_counts
from vtrack.exporters.store.query import Bucket, ZoneCountRow, bucket_start, parse_time, zone
from vtrack.service.deps import NO_STREAM, Config, Manager, StreamId, require_stream
from vtrack.service.manager import StreamManager
from vtrack.service.schemas import CountRowOut, CountsOut, FiguresSource, ZoneRowOut, ZonesOut
from vtrack.service.zonestats import MemoryZoneHours, zone_figures

router = APIRouter(tags=["streams"])

COUNTS_DEFAULT_HOURS = 24
QUERY_TIME_RANGE = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(3000, 1, 1, tzinfo=timezone.utc))
"""Earliest and latest ``from``/``to`` of a counts query (far from ``datetime``'s limits, where
bucket arithmetic in a time zone would overflow)."""
NEEDS_STORE_15MIN = "bucket=15min needs a count store (set 'store:' in the config)"


class CountsQuery(BaseModel):
    """The query string of ``/counts``: the window ``[from, to)``, the bucket size and time zone."""

    since: str | None = Field(None, alias="from", description="ISO 8601 start (default: 24 h before `to`).")
    until: str | None = Field(None, alias="to", description="ISO 8601 end (default: now).")
    bucket: Bucket = Field("hour", description="Bucket size (15min needs a count store).")
    tz: str | None = Field(None, description="IANA zone of buckets (default: the config's).")

    def window(self, default_tz: str) -> tuple[ZoneInfo, datetime, datetime]:
        """The time zone of the buckets (``tz``, else ``default_tz``) and the ``[from, to)`` asked
        for (default: the last :data:`COUNTS_DEFAULT_HOURS` hours).

        Raises:
            VtrackError: an unknown time zone or a time that does not parse (answered 422).
            HTTPException: 422 for a time outside :data:`QUERY_TIME_RANGE` or an empty window.
        """
        zone_ = zone(self.tz or default_tz)
        lo, hi = QUERY_TIME_RANGE
        try:
            end = parse_time(self.until, zone_) if self.until else datetime.now(timezone.utc)
            default_start = end - timedelta(hours=COUNTS_DEFAULT_HOURS)
            start = parse_time(self.since, zone_) if self.since else default_start
            inside = lo <= start <= hi and lo <= end <= hi
        except OverflowError:
            inside = False
        if not inside:
            raise HTTPException(
                422, f"'from' and 'to' must lie between {lo.date().isoformat()} and {hi.date().isoformat()}"
            )
        if start >= end:
            raise HTTPException(422, "'from' must be before 'to'")
        return zone_, start, end


class ZonesQuery(CountsQuery):
    """The query string of ``/zones``: that of ``/counts``, and one zone or all."""

    zone: str | None = Field(None, description="Only this zone.")


CountsParams = Annotated[CountsQuery, Query()]
"""``/counts``'s query parameters, one model."""
ZonesParams = Annotated[ZonesQuery, Query()]
"""``/zones``'s query parameters, one model."""


@router.get("/api/streams/{stream_id}/zones", response_model_by_alias=True, responses=NO_STREAM)
def zones(stream_id: StreamId, mgr: Manager, config: Config, query: ZonesParams) -> ZonesOut:
    """Zone entries, exits, max and mean occupancy and mean dwell per bucket × zone × class, from
    the count store when configured, else from the in-memory hours (the previous and the current
    UTC day)."""
    require_stream(mgr, stream_id)
    zone_, start, end = query.window(config.timezone)
    bucket = query.bucket
    source: FiguresSource
    if config.store:
        store = open_store(config.store)
        try:
            flt = CountFilter(stream=stream_id, zone=query.zone, since=start, until=end)
            figures, _ = zone_figures(store, flt, bucket, zone_)
        finally:
            store.close()
        source = "store"
    else:
        figures = _memory_zone_figures(mgr, stream_id, query.zone, start, end, bucket, zone_)
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


@router.get(
    "/api/streams/{stream_id}/zones/counts",
    response_model_by_alias=True,
    deprecated=True,
    responses=NO_STREAM,
)
def zone_counts(stream_id: StreamId, mgr: Manager, config: Config, query: ZonesParams) -> ZonesOut:
    """The count store's part of ``/api/streams/{id}/zones`` (422 without a store); use that route."""
    require_stream(mgr, stream_id)
    if not config.store:
        raise HTTPException(422, "zone counts need a count store (set 'store:' in the config)")
    return zones(stream_id, mgr, config, query)


@router.get("/api/streams/{stream_id}/counts", response_model_by_alias=True)
def counts(stream_id: StreamId, mgr: Manager, config: Config, query: CountsParams) -> CountsOut:
    """Line crossings per bucket × line × class × direction, from the count store when configured,
    else from the in-memory hourly counts (last 48 h)."""
    require_stream(mgr, stream_id)
    zone_, start, end = query.window(config.timezone)
    bucket = query.bucket
    source: FiguresSource
    if config.store:
        rows = _store_count_rows(config, stream_id, start, end, bucket, zone_)
        source = "store"
    else:
        rows = _memory_count_rows(mgr, stream_id, start, end, bucket, zone_)
        source = "memory"
    return CountsOut(
        stream=stream_id, bucket=bucket, timezone=zone_.key, source=source, rows=rows,
        **{"from": start.astimezone(zone_), "to": end.astimezone(zone_)},
    )


def _store_count_rows(
    config: DeploymentConfig, stream_id: str, start: datetime, end: datetime, bucket: Bucket, zone_: ZoneInfo
) -> list[CountRowOut]:
    """Crossings per bucket from the count store (``config.store``)."""
    assert config.store
    store = open_store(config.store)
    try:
        result = query_counts(store, CountFilter(stream=stream_id, since=start, until=end), bucket, zone_)
    finally:
        store.close()
    return [
        CountRowOut(
            start=r.bucket, line=r.line, **{"class": r.class_name}, direction=r.direction, count=r.count
        )
        for r in result.rows
    ]


def _memory_count_rows(
    mgr: StreamManager, stream_id: str, start: datetime, end: datetime, bucket: Bucket, zone_: ZoneInfo
) -> list[CountRowOut]:
    """Crossings per bucket from the stream's in-memory hourly counts (none when it is not enabled).

    Raises:
        HTTPException: 422 for 15-minute buckets (the memory keeps hours).
    """
    if bucket == "15min":
        raise HTTPException(422, NEEDS_STORE_15MIN)
    worker = mgr.worker(stream_id)
    tally: dict[tuple[datetime, str, str, str], int] = {}
    if worker is not None:
        for hour, line, cls, direction, n in worker.hourly.rows(start, end):
            key = (bucket_start(hour, bucket, zone_), line, cls, direction)
            tally[key] = tally.get(key, 0) + n
    return [
        CountRowOut(start=b, line=ln, **{"class": c}, direction=d, count=n)
        for (b, ln, c, d), n in sorted(tally.items())
    ]


def _memory_zone_figures(
    mgr: StreamManager,
    stream_id: str,
    zone_name: str | None,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    zone_: ZoneInfo,
) -> list[ZoneCountRow]:
    """Zone figures per bucket from the stream's in-memory hours (none when it is not enabled).

    Raises:
        HTTPException: 422 for 15-minute buckets, or a time zone whose offset is not whole hours
            (the memory keeps UTC hours).
    """
    if bucket == "15min":
        raise HTTPException(422, NEEDS_STORE_15MIN)
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
    return figures
