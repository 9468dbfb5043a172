"""The count store interface: one protocol, two backends (SQLite, PostgreSQL), URL parsing.

A store keeps every crossing event (stream, line, class, direction, track id, UTC time, run id)
and hourly aggregates per run × stream × line × class × direction × UTC hour. The aggregates are
*maintained*, not derived at query time: each batch of events bumps its hours in the same
transaction that inserts the events, so the two tables can never disagree, and hour/day queries
over weeks of data read a few thousand aggregate rows instead of every event.

URLs:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (one file, WAL mode);
- ``postgresql://user:password@host:port/dbname`` (also ``postgres://``), any libpq URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from vtrack.errors import VtrackError
from vtrack.redact import redact_url
from vtrack.types import CrossingEvent, Direction, ZoneEvent

if TYPE_CHECKING:
    from vtrack.analytics.zones import ZoneHourRow

Backend = Literal["sqlite", "postgresql"]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
URL_HINT = "expected sqlite:///path.db or postgresql://user@host:port/dbname"


class StoreError(VtrackError):
    """The count store cannot be opened, migrated, written or read (one line, no secrets)."""


class RunLockedError(StoreError):
    """Another live process writes this run id of this stream (or took it over from this one)."""


LEASE_S = 30.0
"""A run's writer refreshes its heartbeat at least every :data:`HEARTBEAT_S` while it runs; a writer
silent for this long is taken for dead (on another machine; on this one a pid that no longer runs
tells at once)."""
HEARTBEAT_S = 5.0
"""Most seconds between two heartbeats of a run's writer while frames come."""


def process_owner() -> str:
    """This process's identity as a run's writer: ``host:pid:nonce`` (the nonce tells two store
    objects of one process apart, and a reused pid from its predecessor)."""
    import os
    import secrets
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def writer_alive(owner: str | None, heartbeat: datetime | None, now: datetime | None = None) -> bool:
    """Whether the writer ``owner`` (see :func:`process_owner`) of a run still holds it: a heartbeat
    within :data:`LEASE_S`, and, on this host, its pid still running."""
    import socket

    if not owner or heartbeat is None:
        return False
    now = now or datetime.now(timezone.utc)
    if (now - utc(heartbeat)).total_seconds() >= LEASE_S:
        return False
    parts = owner.split(":")
    if len(parts) >= 3 and parts[-2].isdigit() and ":".join(parts[:-2]) == socket.gethostname():
        return _pid_running(int(parts[-2]))
    return True


def describe_owner(owner: str | None) -> str:
    """``host hostname, pid N`` of a writer, for messages."""
    parts = (owner or "").split(":")
    if len(parts) >= 3:
        return f"host {':'.join(parts[:-2])}, pid {parts[-2]}"
    return "an unknown process"


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL.

    Attributes:
        backend: ``"sqlite"`` or ``"postgresql"``.
        target: the SQLite file path, or the libpq connection URL.
        display: the URL with any password replaced by ``***`` (safe for logs and errors).
    """

    backend: Backend
    target: str
    display: str

    @property
    def path(self) -> Path:
        """The SQLite file (only for ``backend == "sqlite"``)."""
        return Path(self.target)


def redact(url: str) -> str:
    """``url`` with the password (if any) replaced by ``***`` (:func:`vtrack.redact.redact_url`; the
    user name is kept: here it is a database login)."""
    return redact_url(url, keep_user=True)


def parse_store_url(url: str) -> StoreURL:
    """Parse ``sqlite:///path.db`` or ``postgresql://…``.

    Raises:
        StoreError: for an empty URL, an unknown scheme or a SQLite URL without a path.
    """
    text = (url or "").strip()
    shown = redact(text)
    if text.startswith(SQLITE_PREFIX):
        path = text[len(SQLITE_PREFIX) :]
        if not path:
            raise StoreError(f"store URL {shown!r} has no file path: {URL_HINT}")
        return StoreURL("sqlite", path, shown)
    if text.startswith("sqlite:"):
        raise StoreError(f"store URL {shown!r}: {URL_HINT} (three slashes before a relative path)")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in POSTGRES_SCHEMES:
        if "://" in text and not text.split("://", 1)[1].strip("/"):
            raise StoreError(f"store URL {shown!r} names no server or database: {URL_HINT}")
        return StoreURL("postgresql", text, shown)
    raise StoreError(f"store URL {shown!r}: {URL_HINT}")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the store records about one run of one stream.

    Attributes:
        run_id: the run's identity; writing a run again with the same id replaces its rows.
        stream: stream name (the source's name for files).
        source: the source path or URL.
        start_time: wall-clock time of the first frame (timezone-aware) or ``None`` for live streams.
        start_time_source: where ``start_time`` came from (``flag``, ``creation_time``, ``file_mtime``).
        timezone: IANA zone used by default to bucket this stream's counts.
        settings: JSON text of the run's settings (for provenance).
    """

    run_id: str
    stream: str
    source: str = ""
    start_time: datetime | None = None
    start_time_source: str = ""
    timezone: str = "UTC"
    settings: str = "{}"


@dataclass(frozen=True, slots=True)
class CountFilter:
    """Which rows a query reads; ``None`` means any. Times are ``[since, until)``, timezone-aware."""

    stream: str | None = None
    line: str | None = None
    class_name: str | None = None
    run_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    zone: str | None = None
    """Zone name, for the zone reads (``zone_events``, ``zone_hourly``); line reads ignore it."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One crossing event as stored (``time`` in UTC)."""

    run_id: str
    stream: str
    line: str
    class_name: str
    direction: Direction
    track_id: int
    frame: int
    time: datetime


@dataclass(frozen=True, slots=True)
class HourlyCount:
    """One maintained aggregate row: crossings in the UTC hour starting at ``hour``."""

    stream: str
    line: str
    class_name: str
    direction: Direction
    hour: datetime
    count: int


@dataclass(frozen=True, slots=True)
class StoredZoneEvent:
    """One zone entry or exit as stored (``time`` in UTC; ``dwell_seconds`` only on exits)."""

    run_id: str
    stream: str
    zone: str
    class_name: str
    kind: str
    track_id: int
    frame: int
    time: datetime
    dwell_seconds: float | None


@dataclass(frozen=True, slots=True)
class ZoneHourlyFigure:
    """One maintained zone aggregate row of one run: figures of the UTC hour starting at ``hour``."""

    run_id: str
    stream: str
    zone: str
    class_name: str
    hour: datetime
    entries: int
    exits: int
    max_occupancy: int
    mean_occupancy: float
    mean_dwell_seconds: float | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as stored."""

    run_id: str
    stream: str
    source: str
    start_time: datetime | None
    start_time_source: str
    timezone: str
    status: str
    events: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    """The writer holding the run (``host:pid:nonce``), ``None`` once it closed."""
    heartbeat_at: datetime | None = None
    """The writer's last heartbeat (UTC)."""


@runtime_checkable
class CountStore(Protocol):
    """A durable store of crossing events and their hourly aggregates.

    Every write method is one transaction: it happens completely or not at all.
    """

    url: StoreURL

    @property
    def schema_version(self) -> int:
        """The schema version of the opened database (after migrations)."""
        ...

    def write_events(
        self,
        run: RunInfo,
        events: Sequence[CrossingEvent],
        *,
        replace: bool = False,
        zone_events: Sequence[ZoneEvent] = (),
        zone_hours: Sequence[ZoneHourRow] = (),
    ) -> None:
        """Insert ``events`` of ``run`` and bump their hourly aggregates, in one transaction.

        Args:
            run: the run (and stream) the events belong to.
            events: crossings with timezone-aware times.
            replace: first delete every event and aggregate (zones included) of
                ``(run.run_id, run.stream)`` and (re)register the run as ``running``; all in the same
                transaction.
            zone_events: zone enter/exit events to insert (schema version ≥ 2).
            zone_hours: the run's current figures of these UTC hours × zone × class; each replaces
                the stored row of its hour (the run's aggregation is cumulative, so rewriting the
                hours it touched since the last write keeps the table exact).
        """
        ...

    def finish_run(self, run_id: str, stream: str, status: str = "finished") -> None:
        """Mark a run finished (or interrupted) and release its lock."""
        ...

    def claim_run(self, run: RunInfo) -> RunRecord | None:
        """Lock ``(run.run_id, run.stream)`` for this store object (until :meth:`finish_run`).

        Registers the run as ``running`` when it is new; every later :meth:`write_events` of the
        run refreshes the heartbeat and fails if another writer took the run over.

        Returns:
            The record of a run left ``running`` by a dead writer (killed) that was taken over, or
            ``None``.

        Raises:
            RunLockedError: a live writer holds the run.
        """
        ...

    def events(self, flt: CountFilter) -> list[StoredEvent]:
        """Stored events matching ``flt``, ordered by time."""
        ...

    def hourly(self, flt: CountFilter) -> list[HourlyCount]:
        """Aggregate rows matching ``flt`` summed over runs (``since``/``until`` on UTC hours)."""
        ...

    def zone_events(self, flt: CountFilter) -> list[StoredZoneEvent]:
        """Stored zone entries and exits matching ``flt`` (``zone``, not ``line``), ordered by time."""
        ...

    def zone_hourly(self, flt: CountFilter) -> list[ZoneHourlyFigure]:
        """Zone aggregate rows matching ``flt``, one per run (``since``/``until`` on UTC hours)."""
        ...

    def runs(self, flt: CountFilter) -> list[RunRecord]:
        """Runs matching ``flt.stream`` / ``flt.run_id``; a run left ``running`` by a dead writer is
        shown with status ``stale``."""
        ...

    def close(self) -> None:
        """Close the connection (idempotent)."""
        ...


def utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive ``t`` is taken as UTC."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def utc_hour(t: datetime) -> datetime:
    """Start of the UTC hour holding ``t``."""
    return utc(t).replace(minute=0, second=0, microsecond=0)


def open_store(url: str) -> CountStore:
    """Open (creating and migrating as needed) the store at ``url``.

    Raises:
        StoreError: bad URL, unreachable or unwritable database, or a schema newer than this vtrack.
    """
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite":
        from vtrack.exporters.store.sqlite import SqliteStore

        return SqliteStore(parsed)
    from vtrack.exporters.store.postgres import PostgresStore

    return PostgresStore(parsed)
