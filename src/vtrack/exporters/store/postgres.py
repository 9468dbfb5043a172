"""PostgreSQL count store (psycopg 3), for deployments where several machines share the counts.

Same tables as the SQLite store, times as ``TIMESTAMPTZ``. Concurrent openers serialise their
migrations on a transaction-scoped advisory lock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from vtrack.exporters.store._sql import SqlStore
from vtrack.exporters.store.base import StoreError, StoreURL, utc
from vtrack.exporters.store.migrations import Dialect

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK_KEY = 0x76747261636B  # "vtrack"
RUN_LOCK_CLASS = 0x7674  # "vt": first key of the advisory locks serialising claims of one run


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresStore(SqlStore):
    """A count store in a PostgreSQL database.

    Raises:
        StoreError: psycopg is missing, the server cannot be reached or refuses the login, or the
            schema is newer than this vtrack.
    """

    dialect: Dialect = "postgresql"

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - psycopg is a dependency
            raise StoreError(f"count store {url.display}: psycopg is not installed ({e})") from e
        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(
                url.target, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="vtrack"
            )
        except psycopg.Error as e:
            raise self._wrap("connect", e) from e
        try:
            self.migrate()
        except StoreError:
            self._conn.close()
            raise
        except psycopg.Error as e:
            self._conn.close()
            raise self._wrap("migrate the schema", e) from e

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def _lock_for_migration(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))

    def _lock_run(self, run_id: str, stream: str) -> None:
        # two int4 keys: a key space apart from the migration lock's bigint key
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RUN_LOCK_CLASS, json.dumps([run_id, stream]))
        )

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(_pg(sql), tuple(params)).rowcount)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(_pg(sql), tuple(params))

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_pg(sql), rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(_pg(sql), tuple(params)).fetchall())

    def _to_db(self, t: datetime) -> datetime:
        return utc(t)

    def _from_db(self, v: Any) -> datetime:
        return utc(v) if isinstance(v, datetime) else datetime.fromisoformat(str(v)).astimezone(timezone.utc)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.close()
        except self._psycopg.Error as e:
            raise self._wrap("close the connection", e) from e
