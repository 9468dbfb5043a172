"""The store logic shared by both backends; subclasses supply the connection and type adapters."""

from __future__ import annotations

import logging
from collections import Counter as _Tally
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from vtrack.analytics.zones import ZoneHourRow
from vtrack.exporters.store.base import (
    CountFilter,
    HourlyCount,
    RunInfo,
    RunLockedError,
    RunRecord,
    StoredEvent,
    StoredZoneEvent,
    StoreError,
    StoreURL,
    ZoneHourlyFigure,
    describe_owner,
    process_owner,
    utc,
    utc_hour,
    writer_alive,
)
from vtrack.exporters.store.migrations import LATEST_VERSION, MIGRATIONS, SCHEMA_TABLE, Dialect, render
from vtrack.types import CrossingEvent, ZoneEvent

log = logging.getLogger(__name__)

RUN_STALE = "stale"
"""Status shown (never stored) for a run left ``running`` by a writer that is gone."""

_INSERT_EVENT = (
    "INSERT INTO vtrack_crossings (run_id, stream, line, class, direction, track_id, frame, ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_BUMP_HOUR = (
    "INSERT INTO vtrack_hourly (stream, line, class, direction, hour_utc, run_id, count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (stream, line, class, direction, hour_utc, run_id) "
    "DO UPDATE SET count = vtrack_hourly.count + excluded.count"
)
_INSERT_ZONE_EVENT = (
    "INSERT INTO vtrack_zone_events (run_id, stream, zone, class, kind, track_id, frame, ts, dwell_seconds) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_ZONE_HOUR = (
    "INSERT INTO vtrack_zone_hourly (stream, zone, class, hour_utc, run_id, entries, exits, max_occupancy, "
    "mean_occupancy, mean_dwell_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (stream, zone, class, hour_utc, run_id) DO UPDATE SET entries = excluded.entries, "
    "exits = excluded.exits, max_occupancy = excluded.max_occupancy, "
    "mean_occupancy = excluded.mean_occupancy, mean_dwell_seconds = excluded.mean_dwell_seconds"
)
_INSERT_CLAIMED_RUN = (
    "INSERT INTO vtrack_runs (run_id, stream, source, start_time, start_time_source, timezone, settings, "
    "status, started_at, updated_at, owner, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
)
_UPSERT_RUN = (
    "INSERT INTO vtrack_runs (run_id, stream, source, start_time, start_time_source, timezone, settings, "
    "status, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?) "
    "ON CONFLICT (run_id, stream) DO UPDATE SET source = excluded.source, "
    "start_time = excluded.start_time, start_time_source = excluded.start_time_source, "
    "timezone = excluded.timezone, settings = excluded.settings, status = 'running', "
    "started_at = excluded.started_at, updated_at = excluded.updated_at"
)


class SqlStore:
    """A :class:`~vtrack.exporters.store.base.CountStore` over a DB-API connection.

    SQL is written once with ``?`` placeholders; subclasses implement :meth:`_tx`, :meth:`_run`,
    :meth:`_many`, :meth:`_rows`, :meth:`_to_db` and :meth:`_from_db`.
    """

    dialect: Dialect

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self._version = 0
        self._closed = False
        self.owner = process_owner()
        """This store object's identity as a run's writer (see :meth:`claim_run`)."""
        self._claims: set[tuple[str, str]] = set()
        self._lost: set[tuple[str, str]] = set()  # claims another writer took over

    # -- backend hooks -------------------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:  # pragma: no cover
        raise NotImplementedError

    def _to_db(self, t: datetime) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _from_db(self, v: Any) -> datetime:  # pragma: no cover - abstract
        raise NotImplementedError

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover - abstract
        """Run a statement; the number of rows it changed."""
        raise NotImplementedError

    def _lock_for_migration(self) -> None:
        """Serialise concurrent migrators (inside the migration transaction)."""

    def _lock_run(self, run_id: str, stream: str) -> None:
        """Serialise claims of one run (inside the claiming transaction; SQLite's ``BEGIN IMMEDIATE``
        already serialises every writer)."""

    def _wrap(self, what: str, e: Exception) -> StoreError:
        msg = " ".join(str(e).split()) or type(e).__name__
        return StoreError(f"count store {self.url.display}: cannot {what}: {msg}")

    # -- migrations ----------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self._version

    def migrate(self) -> int:
        """Apply the missing migrations; return the schema version.

        Raises:
            StoreError: the database's schema is newer than this vtrack knows.
        """
        with self._tx():
            # the lock comes first: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a
            # concurrent creator (two processes opening a fresh database at once: duplicate pg_type key)
            self._lock_for_migration()
            self._run(render(SCHEMA_TABLE, self.dialect))
            rows = self._rows("SELECT MAX(version) FROM vtrack_schema")
            current = int(rows[0][0] or 0) if rows else 0
            if current > LATEST_VERSION:
                raise StoreError(
                    f"count store {self.url.display} has schema version {current}, newer than this "
                    f"vtrack knows ({LATEST_VERSION}); upgrade vtrack"
                )
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                log.info("count store %s: applying migration %d (%s)", self.url.display, version, description)
                for stmt in statements:
                    self._run(render(stmt, self.dialect))
                self._run(
                    "INSERT INTO vtrack_schema (version, description, applied_at) VALUES (?, ?, ?)",
                    (version, description, self._to_db(datetime.now(timezone.utc))),
                )
                current = version
        self._version = current
        return current

    # -- writes --------------------------------------------------------------------------------
    def write_events(
        self,
        run: RunInfo,
        events: Sequence[CrossingEvent],
        *,
        replace: bool = False,
        zone_events: Sequence[ZoneEvent] = (),
        zone_hours: Sequence[ZoneHourRow] = (),
    ) -> None:
        self._check_open()
        event_rows = [
            (run.run_id, run.stream, e.line, e.class_name, e.direction, int(e.track_id), int(e.frame),
             self._to_db(utc(e.time)))
            for e in events
        ]
        hours = _Tally((e.line, e.class_name, e.direction, utc_hour(e.time)) for e in events)
        hour_rows = [
            (run.stream, line, cls, direction, self._to_db(hour), run.run_id, n)
            for (line, cls, direction, hour), n in sorted(hours.items())
        ]
        zone_event_rows = [
            (run.run_id, run.stream, e.zone, e.class_name, e.kind, int(e.track_id), int(e.frame),
             self._to_db(utc(e.time)), e.dwell_seconds)
            for e in zone_events
        ]
        zone_hour_rows = [
            (run.stream, r.zone, r.class_name, self._to_db(utc_hour(r.hour_start)), run.run_id, r.entries,
             r.exits, r.max_occupancy, r.mean_occupancy, r.mean_dwell_seconds)
            for r in zone_hours
        ]
        now = self._to_db(datetime.now(timezone.utc))
        key = (run.run_id, run.stream)
        try:
            with self._tx():
                if key in self._claims:
                    self._heartbeat(key, now)
                if replace:
                    key = (run.run_id, run.stream)
                    self._run("DELETE FROM vtrack_crossings WHERE run_id = ? AND stream = ?", key)
                    self._run("DELETE FROM vtrack_hourly WHERE run_id = ? AND stream = ?", key)
                    self._run("DELETE FROM vtrack_zone_events WHERE run_id = ? AND stream = ?", key)
                    self._run("DELETE FROM vtrack_zone_hourly WHERE run_id = ? AND stream = ?", key)
                    start = self._to_db(utc(run.start_time)) if run.start_time is not None else None
                    self._run(
                        _UPSERT_RUN,
                        (run.run_id, run.stream, run.source, start, run.start_time_source, run.timezone,
                         run.settings, now, now),
                    )
                if event_rows:
                    self._many(_INSERT_EVENT, event_rows)
                    self._many(_BUMP_HOUR, hour_rows)
                if zone_event_rows:
                    self._many(_INSERT_ZONE_EVENT, zone_event_rows)
                if zone_hour_rows:
                    self._many(_UPSERT_ZONE_HOUR, zone_hour_rows)
        except StoreError:
            raise
        except Exception as e:
            raise self._wrap(f"write {len(event_rows)} event(s) of run {run.run_id!r}", e) from e

    def _heartbeat(self, key: tuple[str, str], now: Any) -> None:
        """Refresh the claimed run's heartbeat (inside a write transaction).

        Raises:
            RunLockedError: another writer took the run over (this one was taken for dead).
        """
        changed = self._count(
            "UPDATE vtrack_runs SET heartbeat_at = ? WHERE run_id = ? AND stream = ? AND owner = ?",
            (now, *key, self.owner),
        )
        if changed == 0:
            self._claims.discard(key)
            self._lost.add(key)
            rows = self._rows("SELECT owner FROM vtrack_runs WHERE run_id = ? AND stream = ?", key)
            holder = rows[0][0] if rows else None
            raise RunLockedError(
                f"count store {self.url.display}: run {key[0]!r} of stream {key[1]!r} was taken over by "
                f"{describe_owner(holder)} (this process's heartbeat was over the lease); stopping"
            )

    def claim_run(self, run: RunInfo) -> RunRecord | None:
        self._check_open()
        key = (run.run_id, run.stream)
        now = datetime.now(timezone.utc)
        taken: RunRecord | None = None
        try:
            with self._tx():
                self._lock_run(*key)
                rows = self._rows(
                    "SELECT status, owner, heartbeat_at FROM vtrack_runs WHERE run_id = ? AND stream = ?", key
                )
                if rows:
                    status, holder, beat = rows[0]
                    beat_t = self._from_db(beat) if beat is not None else None
                    if holder and holder != self.owner:
                        if writer_alive(holder, beat_t, now):
                            age = f"{(now - beat_t).total_seconds():.0f} s" if beat_t is not None else "?"
                            raise RunLockedError(
                                f"run {run.run_id!r} of stream {run.stream!r} is being written by "
                                f"another process ({describe_owner(holder)}, last heartbeat {age} ago) in "
                                f"count store {self.url.display}; wait for it to end or give another run id"
                            )
                        taken = RunRecord(
                            run.run_id, run.stream, run.source, None, "", run.timezone, str(status),
                            owner=holder, heartbeat_at=beat_t,
                        )
                    self._run(
                        "UPDATE vtrack_runs SET owner = ?, heartbeat_at = ? WHERE run_id = ? AND stream = ?",
                        (self.owner, self._to_db(now), *key),
                    )
                else:
                    start = self._to_db(utc(run.start_time)) if run.start_time is not None else None
                    t = self._to_db(now)
                    self._run(
                        _INSERT_CLAIMED_RUN,
                        (run.run_id, run.stream, run.source, start, run.start_time_source, run.timezone,
                         run.settings, t, t, self.owner, t),
                    )
        except StoreError:
            raise
        except Exception as e:
            raise self._wrap(f"lock run {run.run_id!r}", e) from e
        self._claims.add(key)
        self._lost.discard(key)
        if taken is not None:
            log.warning(
                "count store %s: run %r of stream %r was left %s by %s, gone or silent over the lease; "
                "taking it over",
                self.url.display, run.run_id, run.stream, taken.status, describe_owner(taken.owner),
            )
        return taken

    def finish_run(self, run_id: str, stream: str, status: str = "finished") -> None:
        self._check_open()
        key = (run_id, stream)
        if key in self._lost:
            log.warning(
                "count store %s: run %r of stream %r was taken over by another writer; its status is left "
                "to it", self.url.display, run_id, stream,
            )
            return
        now = self._to_db(datetime.now(timezone.utc))
        try:
            with self._tx():
                if key in self._claims:
                    changed = self._count(
                        "UPDATE vtrack_runs SET status = ?, updated_at = ?, owner = NULL, heartbeat_at = ? "
                        "WHERE run_id = ? AND stream = ? AND owner = ?",
                        (status, now, now, *key, self.owner),
                    )
                    if changed == 0:
                        log.warning(
                            "count store %s: run %r of stream %r was taken over by another writer; its "
                            "status is left to it", self.url.display, run_id, stream,
                        )
                else:
                    self._run(
                        "UPDATE vtrack_runs SET status = ?, updated_at = ? WHERE run_id = ? AND stream = ?",
                        (status, now, *key),
                    )
        except Exception as e:
            raise self._wrap(f"finish run {run_id!r}", e) from e
        self._claims.discard(key)

    # -- reads ---------------------------------------------------------------------------------
    def _where(self, flt: CountFilter, ts_col: str, *, zones: bool = False) -> tuple[str, list[Any]]:
        """A WHERE clause of fixed column names with ``?`` for every value (no value is formatted in).

        ``zones``: filter the zone tables (``zone`` column from ``flt.zone``) instead of ``line``.
        """
        conds: list[str] = []
        params: list[Any] = []
        name = ("zone", flt.zone) if zones else ("line", flt.line)
        for col, val in (("stream", flt.stream), name, ("class", flt.class_name), ("run_id", flt.run_id)):
            if val is not None:
                conds.append(f"{col} = ?")
                params.append(val)
        if flt.since is not None:
            conds.append(f"{ts_col} >= ?")
            params.append(self._to_db(utc(flt.since)))
        if flt.until is not None:
            conds.append(f"{ts_col} < ?")
            params.append(self._to_db(utc(flt.until)))
        return (" WHERE " + " AND ".join(conds)) if conds else "", params

    def events(self, flt: CountFilter) -> list[StoredEvent]:
        self._check_open()
        where, params = self._where(flt, "ts")
        sql = (
            "SELECT run_id, stream, line, class, direction, track_id, frame, ts FROM vtrack_crossings"  # noqa: S608
            f"{where} ORDER BY ts, id"
        )
        try:
            rows = self._rows(sql, params)
        except Exception as e:
            raise self._wrap("read events", e) from e
        return [
            StoredEvent(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6]), self._from_db(r[7])) for r in rows
        ]

    def hourly(self, flt: CountFilter) -> list[HourlyCount]:
        self._check_open()
        where, params = self._where(flt, "hour_utc")
        sql = (
            "SELECT stream, line, class, direction, hour_utc, SUM(count) FROM vtrack_hourly"  # noqa: S608
            f"{where} GROUP BY stream, line, class, direction, hour_utc "
            "ORDER BY hour_utc, stream, line, class, direction"
        )
        try:
            rows = self._rows(sql, params)
        except Exception as e:
            raise self._wrap("read hourly counts", e) from e
        return [HourlyCount(r[0], r[1], r[2], r[3], self._from_db(r[4]), int(r[5])) for r in rows]

    def zone_events(self, flt: CountFilter) -> list[StoredZoneEvent]:
        self._check_open()
        where, params = self._where(flt, "ts", zones=True)
        sql = (
            "SELECT run_id, stream, zone, class, kind, track_id, frame, ts, dwell_seconds "  # noqa: S608
            f"FROM vtrack_zone_events{where} ORDER BY ts, id"
        )
        try:
            rows = self._rows(sql, params)
        except Exception as e:
            raise self._wrap("read zone events", e) from e
        return [
            StoredZoneEvent(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6]), self._from_db(r[7]),
                            float(r[8]) if r[8] is not None else None)
            for r in rows
        ]

    def zone_hourly(self, flt: CountFilter) -> list[ZoneHourlyFigure]:
        self._check_open()
        where, params = self._where(flt, "hour_utc", zones=True)
        sql = (
            "SELECT run_id, stream, zone, class, hour_utc, entries, exits, max_occupancy, "  # noqa: S608
            f"mean_occupancy, mean_dwell_seconds FROM vtrack_zone_hourly{where} "
            "ORDER BY hour_utc, stream, zone, class, run_id"
        )
        try:
            rows = self._rows(sql, params)
        except Exception as e:
            raise self._wrap("read hourly zone figures", e) from e
        return [
            ZoneHourlyFigure(r[0], r[1], r[2], r[3], self._from_db(r[4]), int(r[5]), int(r[6]), int(r[7]),
                             float(r[8]), float(r[9]) if r[9] is not None else None)
            for r in rows
        ]

    def runs(self, flt: CountFilter) -> list[RunRecord]:
        self._check_open()
        conds, params = [], []
        if flt.stream is not None:
            conds.append("r.stream = ?")
            params.append(flt.stream)
        if flt.run_id is not None:
            conds.append("r.run_id = ?")
            params.append(flt.run_id)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        sql = (
            "SELECT r.run_id, r.stream, r.source, r.start_time, r.start_time_source, r.timezone, "  # noqa: S608
            "r.status, "
            "(SELECT COUNT(*) FROM vtrack_crossings c WHERE c.run_id = r.run_id AND c.stream = r.stream), "
            "r.owner, r.heartbeat_at "
            f"FROM vtrack_runs r{where} ORDER BY r.stream, r.run_id"
        )
        try:
            rows = self._rows(sql, params)
        except Exception as e:
            raise self._wrap("read runs", e) from e
        now = datetime.now(timezone.utc)
        out = []
        for r in rows:
            beat = self._from_db(r[9]) if r[9] is not None else None
            status = r[6]
            if status == "running" and r[8] and not writer_alive(r[8], beat, now):
                status = RUN_STALE
            out.append(
                RunRecord(r[0], r[1], r[2], self._from_db(r[3]) if r[3] is not None else None, r[4], r[5],
                          status, int(r[7]), owner=r[8], heartbeat_at=beat)
            )
        return out

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"count store {self.url.display} is closed")

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        self._closed = True

