"""The count store of a batch (``vtrack batch --store URL [--run-id ID]``).

Every video item's crossings and zone figures go to the store exactly as ``vtrack run --store`` writes
them (:class:`~vtrack.exporters.store.StoreExporter` inside :func:`vtrack.job.run_job`):

* one store run per video, keyed by ``(run id, stream)``; the stream is the item's output name (its
  folder under ``--out``: the file stem, with ``-<hash>`` when two inputs of the batch share a stem);
* the run id is ``--run-id`` for every video, else each video's default (its stem + a hash of its
  absolute path and start time), so re-running the same footage replaces its counts, never doubles them;
* the start time follows ``vtrack run``: ``--start-time``, else the container's creation time, else
  the file's modification time (recorded per run with where it came from);
* photo folders have no crossings and write nothing to the store.

Who writes: each worker process opens the store itself and commits its video's events at least once per
second and at the end. That keeps ``vtrack run``'s durability rule per video — a SIGKILLed worker loses at
most its last second, SIGTERM/Ctrl-C lose nothing (the worker finishes its frame and closes the store,
marking the run ``interrupted``) — and needs no second path for events through the parent, whose own
crash would otherwise lose what it had queued. SQLite serialises the workers' short commits on its
write lock (WAL mode, a 30 s busy timeout); PostgreSQL takes them concurrently. The parent only opens the
store once before any work starts, so a bad URL, an unreachable server or a newer schema fails the
batch at once (exit 2) and the migrations run once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vtrack.config import RunConfig
from vtrack.errors import ConfigError
from vtrack.exporters.store.base import SQLITE_PREFIX, open_store, parse_store_url

logger = logging.getLogger(__name__)

MEMORY_DB = ":memory:"


def absolute_store_url(url: str, cwd: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``cwd`` (other URLs unchanged).

    Worker processes (and Ray tasks, whose working folder may differ) must all open the same file.

    Raises:
        StoreError: a malformed URL.
        ConfigError: an in-memory SQLite store, which worker processes cannot share.
    """
    parsed = parse_store_url(url)
    if parsed.backend != "sqlite":
        return url
    if parsed.target == MEMORY_DB:
        raise ConfigError(
            f"--store {url!r}: an in-memory SQLite store cannot be shared by the batch's worker processes; "
            "give a file (sqlite:///counts.db)"
        )
    path = Path(parsed.target).expanduser()
    return SQLITE_PREFIX + str(path if path.is_absolute() else (cwd / path))


def prepare_store(cfg: RunConfig, cwd: Path) -> RunConfig:
    """``cfg`` with its store URL made absolute, after opening (creating, migrating) the store once.

    Returns ``cfg`` unchanged without a store.

    Raises:
        StoreError: the store cannot be opened (bad URL, unreachable, unwritable, newer schema).
        ConfigError: an in-memory SQLite store.
    """
    if not cfg.store:
        return cfg
    url = absolute_store_url(cfg.store, cwd)
    open_store(url).close()
    return cfg.model_copy(update={"store": url})


def check_store_on_cluster(url: str, nodes: int) -> None:
    """Refuse a SQLite store for a Ray batch spread over more than one node.

    A SQLite file is written by one machine: its locks do not work over network file systems, so tasks
    on other nodes could corrupt it. PostgreSQL is the store for a cluster.

    Raises:
        ConfigError: SQLite with ``nodes > 1``.
    """
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite" and nodes > 1:
        raise ConfigError(
            f"--store {parsed.display}: the Ray cluster has {nodes} nodes and a SQLite file can only be "
            "written from one machine; use a PostgreSQL store (postgresql://user@host/db) with a cluster"
        )


def store_settings(store: str | None) -> str | None:
    """The store URL as it enters the batch's settings hash: without its password.

    Changing the password does not make finished items run again; changing the database does.
    """
    return parse_store_url(store).display if store else store


def store_summary(cfg: RunConfig) -> dict[str, Any] | None:
    """The ``store`` record of the batch's ``summary.json`` (``None`` without a store).

    ``run_id`` is ``None`` when each video got its default run id (see the item's own ``store``).
    """
    if not cfg.store:
        return None
    return {
        "url": parse_store_url(cfg.store).display,
        "run_id": cfg.run_id,
        "timezone": cfg.timezone,
    }
