"""SQLite count store: one file, WAL mode, the embedded default (stdlib ``sqlite3``).

Times are stored as fixed-width ISO 8601 UTC text (``2026-05-01T06:59:55.079658Z``), so text order
is time order and range filters use the index. ``synchronous=FULL``: a committed batch survives a
process kill and a power cut. Writers wait up to :data:`BUSY_TIMEOUT_S` for one another (several
streams of a batch may share one file).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from vtrack.exporters._io import prepare_path
from vtrack.exporters.store._sql import SqlStore
from vtrack.exporters.store.base import StoreError, StoreURL, utc
from vtrack.exporters.store.migrations import Dialect

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _journal_wal(conn: sqlite3.Connection) -> str:
    """Switch ``conn``'s database to WAL; returns the journal mode it is in.

    Switching needs the file to itself, and SQLite answers "database is locked" at once, without
    waiting the busy timeout, to the second of two connections switching a fresh file together (8
    threads opening one new store: seen in the suite). So a busy answer is retried for up to
    ``BUSY_TIMEOUT_S``, with a short, growing pause.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            # SQLITE_BUSY's message (Python 3.10 has no sqlite_errorcode to read instead)
            if "database is locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.2)


class SqliteStore(SqlStore):
    """A count store in one SQLite file (created with its folder when missing).

    Raises:
        StoreError: the file cannot be created or opened, is not a database, or has a newer schema.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        try:
            path = prepare_path(url.target) if url.target != ":memory:" else url.target
            self._conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (sqlite3.Error, StoreError, OSError) as e:
            raise self._wrap("open the database file", e) from e
        except Exception as e:  # e.g. ExportError from prepare_path
            raise self._wrap("create the database folder", e) from e
        try:
            mode = _journal_wal(self._conn)
            if str(mode).lower() != "wal" and url.target != ":memory:":
                log.warning("count store %s: WAL mode unavailable, using %s", url.display, mode)
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except StoreError:
            self._conn.close()
            raise
        except sqlite3.Error as e:
            self._conn.close()
            raise self._wrap("open the database", e) from e

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, tuple(params))

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(sql, tuple(params)).rowcount)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(sql, tuple(params)).fetchall())

    def _to_db(self, t: datetime) -> str:
        return utc(t).strftime(TS_FORMAT)

    def _from_db(self, v: Any) -> datetime:
        return datetime.strptime(str(v), TS_FORMAT).replace(tzinfo=timezone.utc)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.close()
        except sqlite3.Error as e:
            raise self._wrap("close the database", e) from e
