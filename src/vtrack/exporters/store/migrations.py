"""Versioned schema migrations, the same logical schema for SQLite and PostgreSQL.

Each migration is applied once, in order, inside one transaction that also records its version
in ``vtrack_schema``; opening a store applies the missing ones. Only the column types differ
between the dialects (``{ts}``: ISO 8601 UTC text in SQLite, ``TIMESTAMPTZ`` in PostgreSQL).
Never edit a released migration: append a new one.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "ts": "TEXT",
        "bigint": "INTEGER",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "float": "REAL",
    },
    "postgresql": {
        "ts": "TIMESTAMPTZ",
        "bigint": "BIGINT",
        "serial": "BIGSERIAL PRIMARY KEY",
        "float": "DOUBLE PRECISION",
    },
}

SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS vtrack_schema (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at {ts} NOT NULL
)"""

_V1 = [
    """CREATE TABLE vtrack_runs (
        run_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        start_time {ts},
        start_time_source TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT 'UTC',
        settings TEXT NOT NULL DEFAULT '{{}}',
        status TEXT NOT NULL,
        started_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (run_id, stream)
    )""",
    """CREATE TABLE vtrack_crossings (
        id {serial},
        run_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        line TEXT NOT NULL,
        class TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        track_id {bigint} NOT NULL,
        frame {bigint} NOT NULL,
        ts {ts} NOT NULL
    )""",
    "CREATE INDEX vtrack_crossings_run ON vtrack_crossings (run_id, stream)",
    "CREATE INDEX vtrack_crossings_stream_ts ON vtrack_crossings (stream, ts)",
    """CREATE TABLE vtrack_hourly (
        stream TEXT NOT NULL,
        line TEXT NOT NULL,
        class TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        hour_utc {ts} NOT NULL,
        run_id TEXT NOT NULL,
        count {bigint} NOT NULL,
        PRIMARY KEY (stream, line, class, direction, hour_utc, run_id)
    )""",
    "CREATE INDEX vtrack_hourly_run ON vtrack_hourly (run_id, stream)",
]

_V2 = [
    """CREATE TABLE vtrack_zone_events (
        id {serial},
        run_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        zone TEXT NOT NULL,
        class TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('enter', 'exit')),
        track_id {bigint} NOT NULL,
        frame {bigint} NOT NULL,
        ts {ts} NOT NULL,
        dwell_seconds {float}
    )""",
    "CREATE INDEX vtrack_zone_events_run ON vtrack_zone_events (run_id, stream)",
    "CREATE INDEX vtrack_zone_events_stream_ts ON vtrack_zone_events (stream, ts)",
    """CREATE TABLE vtrack_zone_hourly (
        stream TEXT NOT NULL,
        zone TEXT NOT NULL,
        class TEXT NOT NULL,
        hour_utc {ts} NOT NULL,
        run_id TEXT NOT NULL,
        entries {bigint} NOT NULL,
        exits {bigint} NOT NULL,
        max_occupancy {bigint} NOT NULL,
        mean_occupancy {float} NOT NULL,
        mean_dwell_seconds {float},
        PRIMARY KEY (stream, zone, class, hour_utc, run_id)
    )""",
    "CREATE INDEX vtrack_zone_hourly_run ON vtrack_zone_hourly (run_id, stream)",
]

_V3 = [
    "ALTER TABLE vtrack_runs ADD COLUMN owner TEXT",
    "ALTER TABLE vtrack_runs ADD COLUMN heartbeat_at {ts}",
]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "runs, crossing events, hourly aggregates", _V1),
    (2, "zone enter/exit events, hourly zone aggregates", _V2),
    (3, "run lock: the writer of a running run and its heartbeat", _V3),
]
"""``(version, description, statements)`` in order; versions are 1, 2, 3, …"""

LATEST_VERSION = MIGRATIONS[-1][0]


def render(statement: str, dialect: Dialect) -> str:
    """``statement`` with the dialect's column types filled in."""
    return statement.format(**_TYPES[dialect])
