"""The pipeline exporter that writes crossing events to a count store.

``write(result)`` buffers ``result.events``; the buffer is committed (one transaction: events plus
their hourly aggregates) when at least ``commit_interval_s`` has passed since the last commit, and
at ``close()``. A SIGKILL therefore loses at most the last interval of events; SIGTERM/Ctrl-C go
through ``close()`` and lose nothing.

Re-running a run id: the first commit of a run (made on the first frame) deletes every row of
``(run_id, stream)`` left by an earlier attempt and re-registers the run as ``running`` *in the
same transaction* as that frame's events. Readers see either the old attempt or the new one, never
a run with both (doubled counts) and never a half-deleted run; a crash before that first commit
leaves the old attempt untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from vtrack.errors import ExportError
from vtrack.exporters.store.base import CountStore, RunInfo
from vtrack.types import CrossingEvent, FrameResult

log = logging.getLogger(__name__)

DEFAULT_COMMIT_INTERVAL_S = 1.0


class StoreExporter:
    """Writes every crossing event of one run of one stream to a :class:`CountStore`.

    Args:
        store: an open store; closed by :meth:`close` when ``owns_store``.
        run: the run's identity and provenance.
        commit_interval_s: most seconds between commits while frames keep coming (checked on every
            ``write``); 0 commits every frame.
        clock: monotonic seconds (injectable for tests).
        owns_store: close ``store`` at :meth:`close`.

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
    ) -> None:
        if commit_interval_s < 0:
            raise ValueError(f"commit_interval_s must be >= 0, got {commit_interval_s}")
        self.store = store
        self.run = run
        self.commit_interval_s = commit_interval_s
        self.clock = clock
        self.owns_store = owns_store
        self._buffer: list[CrossingEvent] = []
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
        if not self._started:
            self.commit()
        elif self._buffer and self.clock() - self._last_commit >= self.commit_interval_s:
            self.commit()

    def commit(self) -> None:
        """Commit the buffered events now (the first commit also replaces an earlier attempt)."""
        t0 = time.perf_counter()
        batch = self._buffer
        self.store.write_events(self.run, batch, replace=not self._started)
        self._buffer = []
        self._started = True
        self._last_commit = self.clock()
        self.commits += 1
        self.events_written += len(batch)
        self.commit_seconds += time.perf_counter() - t0

    def close(self) -> None:
        """Commit what is buffered, mark the run finished and close the store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buffer or not self._started:
                self.commit()
            self.store.finish_run(self.run.run_id, self.run.stream)
            log.info(
                "count store %s: run %r stream %r: %d event(s) in %d commit(s), %.1f ms committing",
                self.store.url.display, self.run.run_id, self.run.stream, self.events_written, self.commits,
                self.commit_seconds * 1000.0,
            )
        finally:
            if self.owns_store:
                self.store.close()
