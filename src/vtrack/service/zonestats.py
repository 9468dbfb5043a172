"""Zone figures per bucket for the API, from the count store or from a stream's in-memory hours.

Both go through :func:`vtrack.exporters.store.query.query_zone_counts` (entries, exits, max and mean
occupancy, mean dwell); the in-memory hours of a worker are read through :class:`MemoryZoneHours`,
which answers the store reads that query needs. Mean occupancy is given for hour buckets only: it is
kept per hour (time-weighted over the hour's observed time) and cannot be combined exactly into
longer buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast
from zoneinfo import ZoneInfo

from vtrack.analytics.zones import ZoneHourRow
from vtrack.exporters.store.base import CountFilter, CountStore, StoredZoneEvent, ZoneHourlyFigure, utc
from vtrack.exporters.store.query import Bucket, ZoneCountRow, query_zone_counts

MEMORY_RUN_ID = "memory"


class MemoryZoneHours:
    """A stream's in-memory hourly zone figures (UTC hours), read like a count store.

    Only what :func:`query_zone_counts` reads from hourly figures is answered: ``zone_hourly`` and
    ``runs``; ``zone_events`` is empty (events are not kept in memory).
    """

    def __init__(self, stream: str, rows: Sequence[ZoneHourRow]) -> None:
        self.stream = stream
        self.rows = list(rows)

    def zone_hourly(self, flt: CountFilter) -> list[ZoneHourlyFigure]:
        since = utc(flt.since) if flt.since is not None else None
        until = utc(flt.until) if flt.until is not None else None
        out = []
        for r in self.rows:
            hour = utc(r.hour_start)
            if (flt.zone is not None and r.zone != flt.zone) or (
                flt.class_name is not None and r.class_name != flt.class_name
            ):
                continue
            if (since is not None and hour < since) or (until is not None and hour >= until):
                continue
            out.append(
                ZoneHourlyFigure(
                    MEMORY_RUN_ID, self.stream, r.zone, r.class_name, hour, r.entries, r.exits,
                    r.max_occupancy, r.mean_occupancy, r.mean_dwell_seconds,
                )
            )
        return out

    def zone_events(self, flt: CountFilter) -> list[StoredZoneEvent]:
        return []

    def runs(self, flt: CountFilter) -> list[object]:
        return []


def zone_figures(
    store: CountStore | MemoryZoneHours, flt: CountFilter, bucket: Bucket, tz: ZoneInfo
) -> tuple[list[ZoneCountRow], str]:
    """Zone figures per bucket × zone × class (one stream: ``flt.stream``), and what they were
    computed from (``hourly`` or ``events``, as :func:`query_zone_counts`).

    Raises:
        StoreError: the store cannot be read.
    """
    as_store = cast(CountStore, store)  # MemoryZoneHours answers every read query_zone_counts makes
    result = query_zone_counts(as_store, flt, bucket, tz)
    return result.rows, result.computed_from
