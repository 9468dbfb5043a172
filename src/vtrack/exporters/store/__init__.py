"""The count store: crossing events and hourly aggregates in SQLite or PostgreSQL.

``open_store(url)`` opens (and migrates) a store; :class:`StoreExporter` writes a run's events to it
from the pipeline; :func:`query_counts` reads counts per 15 min, hour or day in a time zone.
"""

from vtrack.exporters.store.base import (
    CountFilter,
    CountStore,
    HourlyCount,
    RunInfo,
    RunLockedError,
    RunRecord,
    StoredEvent,
    StoreError,
    StoreURL,
    open_store,
    parse_store_url,
)
from vtrack.exporters.store.exporter import StoreExporter
from vtrack.exporters.store.query import CountRow, CountsResult, bucket_start, query_counts, zone

__all__ = [
    "CountFilter",
    "CountRow",
    "CountStore",
    "CountsResult",
    "HourlyCount",
    "RunInfo",
    "RunLockedError",
    "RunRecord",
    "StoreError",
    "StoreExporter",
    "StoreURL",
    "StoredEvent",
    "bucket_start",
    "open_store",
    "parse_store_url",
    "query_counts",
    "zone",
]
