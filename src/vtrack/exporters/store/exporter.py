"""The pipeline exporter that writes crossing events to a count store.

``write(result)`` buffers ``result.events``; the buffer is committed (one transaction: events plus
their hourly aggregates) when at least ``commit_interval_s`` has passed since the last commit, and
at ``close()``. A SIGKILL therefore loses at most the last interval of events; SIGTERM/Ctrl-C go
through ``close()`` and lose nothing.

The run's status in the store: ``running`` from its first commit; ``close()`` sets ``finished``,
``interrupted`` (stopped early: Ctrl-C, SIGTERM, a batch stop; see :func:`closing_status`) or
``failed`` (closed while an error propagates). A SIGKILLed run stays ``running`` in the table and is
listed as ``stale`` once its writer is known gone (see below).

One writer per run: the exporter locks ``(run_id, stream)`` when it is made
(:meth:`CountStore.claim_run`), before any output file is opened; a second process with the same run
id is refused with one line (:class:`RunLockedError`) instead of adding its counts to the first one's.
The lock is a heartbeat refreshed with each commit (at least every :data:`HEARTBEAT_S` while frames
come) and released at ``close()``; a run whose writer was killed is taken over by the next writer:
at once on the same host (its pid is gone), from another host after
:data:`~vtrack.exporters.store.base.LEASE_S` without a heartbeat.

Re-running a run id: the first commit of a run (made on the first frame) deletes every row of
``(run_id, stream)`` left by an earlier attempt and re-registers the run as ``running`` *in the
same transaction* as that frame's events. Readers see either the old attempt or the new one, never
a run with both (doubled counts) and never a half-deleted run; a crash before that first commit
leaves the old attempt untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime

from vtrack.analytics.zones import ZoneHourly
from vtrack.errors import ExportError
from vtrack.exporters.store.base import HEARTBEAT_S, CountStore, RunInfo, utc, utc_hour
from vtrack.types import CrossingEvent, FrameResult, ZoneEvent

log = logging.getLogger(__name__)

DEFAULT_COMMIT_INTERVAL_S = 1.0

RUN_RUNNING = "running"
RUN_FINISHED = "finished"
RUN_INTERRUPTED = "interrupted"
RUN_FAILED = "failed"
RUN_STATUSES = (RUN_RUNNING, RUN_FINISHED, RUN_INTERRUPTED, RUN_FAILED)
"""Every status a stored run can have (``running``: being written, or its process was killed)."""


def closing_status(
    status: str | None = None,
    error: BaseException | None = None,
    status_of: Callable[[], str] | None = None,
) -> str:
    """The status a run gets when its exporter closes.

    Args:
        status: given explicitly by the caller; wins.
        error: the exception propagating while the exporter closes, if any: ``KeyboardInterrupt``
            or ``SystemExit`` (a second Ctrl-C, ``ray.cancel``) mean ``interrupted``, anything else
            ``failed``.
        status_of: asked last, e.g. "was the pipeline stopped early?"; default ``finished``.

    Raises:
        ValueError: a status that is not one of :data:`RUN_STATUSES` (or is ``running``).
    """
    if status is None:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            status = RUN_INTERRUPTED
        elif isinstance(error, Exception):
            status = RUN_FAILED
        else:
            status = status_of() if status_of is not None else RUN_FINISHED
    if status not in RUN_STATUSES or status == RUN_RUNNING:
        raise ValueError(
            f"a closed run's status must be {RUN_FINISHED}, {RUN_INTERRUPTED} or {RUN_FAILED}, got {status!r}"
        )
    return status


class StoreExporter:
    """Writes every crossing event of one run of one stream to a :class:`CountStore`.

    Args:
        store: an open store; closed by :meth:`close` when ``owns_store``.
        run: the run's identity and provenance.
        commit_interval_s: most seconds between commits while frames keep coming (checked on every
            ``write``); 0 commits every frame.
        clock: monotonic seconds (injectable for tests).
        owns_store: close ``store`` at :meth:`close`.
        zones: the run counts zones: each frame's zone events and occupancy (``result.zone_events``,
            ``result.occupancy``) are aggregated into hourly zone figures (UTC hours) and committed,
            with the events, together with the crossings.
        status_of: asked at :meth:`close` for the run's final status when no error propagates
            (e.g. ``interrupted`` when the pipeline was stopped early); default ``finished``.
        claim: lock the run in the store now (see the module's notes).

    Raises:
        RunLockedError: another live process writes this run (the store is closed when owned).

    Attributes:
        commits: transactions committed so far.
        events_written: events committed so far.
        commit_seconds: wall seconds spent committing.
    """

    def __init__(
        self,
        store: CountStore,
        run: RunInfo,
        *,
        commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        owns_store: bool = True,
        zones: bool = False,
        status_of: Callable[[], str] | None = None,
        claim: bool = True,
    ) -> None:
        if commit_interval_s < 0:
            raise ValueError(f"commit_interval_s must be >= 0, got {commit_interval_s}")
        if claim:
            try:
                store.claim_run(run)
            except BaseException:
                if owns_store:
                    store.close()
                raise
        self.store = store
        self.run = run
        self.commit_interval_s = commit_interval_s
        self.clock = clock
        self.owns_store = owns_store
        self.status_of = status_of
        self.status: str | None = None  # set by close()
        self._buffer: list[CrossingEvent] = []
        self.zones = zones
        self._zone_buffer: list[ZoneEvent] = []
        self._zone_hourly = ZoneHourly() if zones else None
        self._zone_dirty_since: datetime | None = None  # earliest UTC time touched since the last commit
        self._last_zone_time: datetime | None = None
        self._started = False
        self._closed = False
        self._last_commit = clock()
        self.commits = 0
        self.events_written = 0
        self.commit_seconds = 0.0

    @property
    def pending(self) -> int:
        """Events buffered but not yet committed."""
        return len(self._buffer)

    def write(self, result: FrameResult) -> None:
        """Buffer the events of one frame; commit when the interval has passed (or on the first frame).

        Raises:
            ExportError: after :meth:`close`.
            StoreError: the store cannot be written.
        """
        if self._closed:
            raise ExportError(f"store exporter for {self.store.url.display} is closed; cannot write more")
        self._buffer.extend(result.events)
        if self._zone_hourly is not None:
            self._feed_zones(self._zone_hourly, result)
        since = self.clock() - self._last_commit
        if not self._started:
            self.commit()
        elif (self._buffer or self._zone_dirty_since is not None) and since >= self.commit_interval_s:
            self.commit()
        elif since >= HEARTBEAT_S:  # nothing to write: the commit is the run's heartbeat
            self.commit()

    def _feed_zones(self, hourly: ZoneHourly, result: FrameResult) -> None:
        when = result.time
        touched = []
        for e in result.zone_events:
            e_utc = dataclasses.replace(e, time=utc(e.time))
            self._zone_buffer.append(e)
            hourly.add(e_utc)
            touched.append(e_utc.time)
        if when is not None:
            hourly.observe(utc(when), result.occupancy or {})
            if self._last_zone_time is not None:
                touched.append(self._last_zone_time)  # the interval since it is credited to its hour
            self._last_zone_time = utc(when)
            touched.append(self._last_zone_time)
        if touched:
            earliest = min(touched)
            if self._zone_dirty_since is None or earliest < self._zone_dirty_since:
                self._zone_dirty_since = earliest

    def commit(self) -> None:
        """Commit the buffered events now (the first commit also replaces an earlier attempt)."""
        t0 = time.perf_counter()
        batch = self._buffer
        zone_batch = self._zone_buffer
        zone_hours = []
        if self._zone_hourly is not None and self._zone_dirty_since is not None:
            since = utc_hour(self._zone_dirty_since)
            zone_hours = [r for r in self._zone_hourly.rows() if r.hour_start >= since]
        self.store.write_events(
            self.run, batch, replace=not self._started, zone_events=zone_batch, zone_hours=zone_hours
        )
        self._buffer = []
        self._zone_buffer = []
        self._zone_dirty_since = None
        if self._zone_hourly is not None and self._last_zone_time is not None:
            # hours before the last frame's are complete and now stored: memory stays bounded
            self._zone_hourly.forget_before(utc_hour(self._last_zone_time))
        self._started = True
        self._last_commit = self.clock()
        self.commits += 1
        self.events_written += len(batch)
        self.commit_seconds += time.perf_counter() - t0

    def close(self, status: str | None = None) -> None:
        """Commit what is buffered, record the run's final status and close the store (idempotent).

        Args:
            status: ``finished``, ``interrupted`` or ``failed``; default: see :func:`closing_status`
                (the error propagating through the caller's ``finally``, else ``status_of``).
        """
        if self._closed:
            return
        self._closed = True
        try:
            final = closing_status(status, sys.exc_info()[1], self.status_of)
            if self._buffer or self._zone_buffer or self._zone_dirty_since is not None or not self._started:
                self.commit()
            self.store.finish_run(self.run.run_id, self.run.stream, final)
            self.status = final
            log.info(
                "count store %s: run %r stream %r %s: %d event(s) in %d commit(s), %.1f ms committing",
                self.store.url.display, self.run.run_id, self.run.stream, final, self.events_written,
                self.commits, self.commit_seconds * 1000.0,
            )
        finally:
            if self.owns_store:
                self.store.close()
